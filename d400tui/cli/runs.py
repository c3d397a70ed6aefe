"""`d400 precheck`, `d400 capture` and `d400 reconcile`: the batch runs (supervisors for the
first two), with a progress bar on stderr unless --json."""

from __future__ import annotations

import typer

from d400tui.cli.app import AsJson, app
from d400tui.cli.inputs import parse_date
from d400tui.cli.output import out, print_json, progress
from d400tui.cli.session import call, run, signed_engine, with_close
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.i18n.render import tx


def _run_summary(batch: m.PrecheckRun, results: list[m.RunResult], as_json: bool) -> None:
    if as_json:
        print_json({"run": batch, "results": results})
        return
    out.print(
        f"{batch.kind} run {batch.id} for {batch.run_date}: selected {batch.selected}, "
        f"approved {batch.approved}, refused {batch.refused}, unavailable {batch.unavailable}, "
        f"skipped {batch.skipped}",
        markup=False,
    )
    other = getattr(batch, "other_skipped", 0)
    if other:
        out.print(f"{other} due orders of other channels or methods left untouched (no real-time authorization)")
    for r in results:
        if r.outcome not in ("APPROVED", "CAPTURED"):
            out.print(
                f"  order {r.order_id} instalment {r.instalment_seq} {r.amount} EUR: {r.outcome} "
                f"{r.code} {tx(r.reason)}",
                markup=False,
            )


def _batch(kind: str, on: str | None, concurrency: int, as_json: bool) -> None:
    """Run a pre-check or capture with a progress bar (not under --json), then print its results."""
    run_date = parse_date(on)
    engine, who = signed_engine()
    # refused before any progress bar is drawn (the run itself checks too), in the run's own words
    engine.require_supervisor(who, Message("engine.what_precheck" if kind == "pre-check" else "engine.what_capture"))
    bar, update = progress(kind, as_json)
    run_it = engine.precheck if kind == "pre-check" else engine.capture

    async def go() -> m.PrecheckRun:
        return await with_close(engine, run_it(who, run_date, concurrency, update))

    if bar:
        with bar:
            batch = run(go())
    else:
        batch = run(go())
    _run_summary(batch, engine.run_results(batch.id, limit=200), as_json)


@app.command("precheck")
def precheck(
    on: str | None = typer.Option(None, "--date", help="Invoicing date YYYY-MM-DD (default today)."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, max=512),
    as_json: AsJson = False,
) -> None:
    """Invoicing pre-check (supervisors): authorize what needs it; refusals listed for decision."""
    _batch("pre-check", on, concurrency, as_json)


@app.command("capture")
def capture(
    on: str | None = typer.Option(None, "--date", help="Capture date YYYY-MM-DD (default today)."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=256),
    as_json: AsJson = False,
) -> None:
    """Capture due payments (supervisors), never above what was authorized; rerunnable."""
    _batch("capture", on, concurrency, as_json)


@app.command("reconcile")
def reconcile(as_json: AsJson = False) -> None:
    """Settle UNKNOWN authorizations with the acquirer and finish pending voids."""
    report = call(lambda engine, who: engine.reconcile(who))
    if as_json:
        print_json({"settled": report.settled, "still_unknown": report.still_unknown})
        return
    for line in report.lines or ["nothing to reconcile"]:
        out.print(tx(line), markup=False)
    if report.still_unknown:
        raise typer.Exit(4)
