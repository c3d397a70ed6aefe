"""The `d400` Typer app and its sub-command groups; the modules beside this one add the commands.
Groups are registered here, in the order `d400 --help` lists them."""

from __future__ import annotations

from typing import Annotated

import typer

from d400tui.cli.session import settings

app = typer.Typer(
    help="d400 — phone order entry with real-time card authorization.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database: migrations and demo data.")
order_app = typer.Typer(help="Orders: entry, decisions, cancellation, payment changes.")
customer_app = typer.Typer(help="Customers (the CLI's F4 prompt).")
article_app = typer.Typer(help="Articles (the CLI's F4 prompt).")
operator_app = typer.Typer(help="Operators and supervisors.")
acquirer_app = typer.Typer(help="Acquirers: serve the simulator, check the configured one.")
audit_app = typer.Typer(help="The append-only audit trail: list it, verify its hash chain.")
for sub, name in (
    (db_app, "db"),
    (order_app, "order"),
    (customer_app, "customer"),
    (article_app, "article"),
    (operator_app, "operator"),
    (acquirer_app, "acquirer"),
    (audit_app, "audit"),
):
    app.add_typer(sub, name=name)

AsJson = Annotated[bool, typer.Option("--json")]
"""The `--json` flag every reading command takes."""
Limit = Annotated[int, typer.Option("--limit", min=1, max=1000)]
"""How many rows a listing prints at most (its default is the command's)."""


@app.callback(invoke_without_command=True)
def root(ctx: typer.Context) -> None:
    """With no command: open the TUI on the configured database (created and seeded on first run)."""
    if ctx.invoked_subcommand is None:
        from d400tui.app import run_tui
        from d400tui.engine.bootstrap import first_run

        config = settings()
        first_run(config)
        run_tui(config)
