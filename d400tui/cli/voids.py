"""`d400 voids …` (supervisors): the voids that did not get through, oldest hold first (Visa's
misuse-of-authorization clock), and their retries on the backoff — `d400 voids retry` is what a
schedule (cron, every few minutes) runs; `--all` retries every pending void now."""

from __future__ import annotations

import typer
from rich.table import Table

from d400tui.cli.app import AsJson, Limit, app
from d400tui.cli.output import out, print_json, print_rows
from d400tui.cli.session import call, signed_engine
from d400tui.i18n.render import age_words, tx

voids_app = typer.Typer(help="Voids that did not get through: list them, retry them on their backoff.")
app.add_typer(voids_app, name="voids")


@voids_app.command("pending")
def pending(limit: Limit = 100, as_json: AsJson = False) -> None:
    """Pending voids, the oldest uncaptured authorization first, with age, tries and next try."""
    engine, who = signed_engine()
    try:
        rows = engine.pending_voids(who, limit)
        now = engine.clock()
    finally:
        engine.db.dispose()
    table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold underline")
    for name in ("Autor.", "Cde", "Client", "Montant", "Carte", "Tenue", "Essais", "Dernier", "Prochain"):
        table.add_column(name, no_wrap=True)
    print_rows(
        rows,
        as_json,
        table,
        lambda p: (
            str(p.auth_id),
            str(p.order_id),
            p.customer_name[:12],
            f"{p.amount}",
            f"…{p.card[-4:]}",
            age_words(p.held_since, now),
            str(p.attempts),
            f"{p.last_try:%d/%m %H:%M}" if p.last_try else "-",
            f"{p.next_try:%d/%m %H:%M}" if p.next_try and p.next_try > now else "now",
        ),
    )
    if not rows and not as_json:
        out.print("no void pending", markup=False)


@voids_app.command("retry")
def retry(
    every: bool = typer.Option(False, "--all", help="Every pending void now, whatever its backoff says."),
    as_json: AsJson = False,
) -> None:
    """Retry the pending voids whose next try has come (and settle unknown answers); exit 4 if any is left."""
    report = call(lambda engine, who: engine.retry_voids(who, every))
    if as_json:
        print_json({"settled": report.settled, "still_unknown": report.still_unknown})
    else:
        for line in report.lines or ["nothing due"]:
            out.print(tx(line), markup=False)
    if report.still_unknown:
        raise typer.Exit(4)
