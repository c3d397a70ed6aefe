"""`d400 stats`: the supervision figures (d400tui.engine.stats), as a table or as JSON."""

from __future__ import annotations

import typer
from rich.table import Table

from d400tui.cli.app import AsJson, app
from d400tui.cli.inputs import parse_date
from d400tui.cli.output import out, print_json
from d400tui.cli.session import signed_engine


def _cells(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_cells(x)}" for k, x in v.items()) or "-"
    return str(v)


@app.command("stats")
def stats(
    since: str | None = typer.Option(None, "--since", help="YYYY-MM-DD (default: the last 30 days)"),
    as_json: AsJson = False,
) -> None:
    """Supervision figures: today and the period (supervisors)."""
    from d400tui.engine.stats import supervision

    first = parse_date(since)
    engine, who = signed_engine()
    try:
        figures = supervision(engine, who, first)
    finally:
        engine.db.dispose()
    data = figures.as_json()
    if as_json:
        print_json(data)
        return
    today, period = data["today"], data["period"]
    table = Table("", f"{today['first_day']}", f"{period['first_day']} → {period['last_day']}")
    for key in today:
        if key not in ("first_day", "last_day"):
            table.add_row(key.replace("_", " "), _cells(today[key]), _cells(period[key]))
    out.print(table)
    out.print(f"holds lapsing before their capture date: {data['holds_lapsing']}", markup=False)
    out.print(f"voids pending: {data['voids_pending']}", markup=False)
