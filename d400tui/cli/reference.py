"""`d400 customer list` and `d400 article list`: the CLI's F4 prompts."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from d400tui.cli.app import AsJson, Limit, article_app, customer_app
from d400tui.cli.output import print_rows
from d400tui.cli.session import signed_engine

Search = Annotated[str, typer.Option("--search")]


@customer_app.command("list")
def customer_list(search: Search = "", limit: Limit = 50, as_json: AsJson = False) -> None:
    """Customers by name, postcode or city."""
    engine, _ = signed_engine()
    rows = engine.search_customers(search[:100], limit)
    print_rows(rows, as_json, Table("N°", "Nom", "CP", "Ville"), lambda c: (str(c.id), c.name, c.postcode, c.city))


@article_app.command("list")
def article_list(search: Search = "", limit: Limit = 50, as_json: AsJson = False) -> None:
    """Articles by code or label."""
    engine, _ = signed_engine()
    rows = engine.search_articles(search[:100], limit)
    print_rows(
        rows,
        as_json,
        Table("Code", "Libellé", "Prix HT", "TVA %"),
        lambda a: (a.code, a.label, str(a.unit_price), str(a.vat_rate)),
    )
