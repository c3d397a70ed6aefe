"""`d400 customer list` and `d400 article list`: the CLI's F4 prompts."""

from __future__ import annotations

import typer
from rich.table import Table

from d400tui.cli.app import AsJson, article_app, customer_app
from d400tui.cli.output import out, print_json
from d400tui.cli.session import signed_engine


@customer_app.command("list")
def customer_list(search: str = typer.Option("", "--search"), limit: int = typer.Option(50, "--limit", min=1,
                                                                                     max=1000),
                  as_json: AsJson = False) -> None:
    """Customers by name, postcode or city."""
    rows = signed_engine().search_customers(search[:100], limit)
    if as_json:
        print_json(rows)
        return
    table = Table("N°", "Nom", "CP", "Ville")
    for c in rows:
        table.add_row(str(c.id), c.name, c.postcode, c.city)
    out.print(table)


@article_app.command("list")
def article_list(search: str = typer.Option("", "--search"), limit: int = typer.Option(50, "--limit", min=1,
                                                                                    max=1000),
                 as_json: AsJson = False) -> None:
    """Articles by code or label."""
    rows = signed_engine().search_articles(search[:100], limit)
    if as_json:
        print_json(rows)
        return
    table = Table("Code", "Libellé", "Prix HT", "TVA %")
    for a in rows:
        table.add_row(a.code, a.label, str(a.unit_price), str(a.vat_rate))
    out.print(table)
