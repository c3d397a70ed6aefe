"""`d400 settle import|show|list|batch` (supervisors): the acquirer's settlement matched with our
captures; and `d400 acquirer settlement`, the simulated acquirer's settlement report.

Exit status: 0 when everything matched (or the file was already imported: nothing new), 3 when
the run found differences or the host answered out of balance, 4 when the host did not answer."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, TypeVar

import typer

from d400tui.cli.app import AsJson, Limit, acquirer_app, app
from d400tui.cli.inputs import parse_date
from d400tui.cli.output import CliError, clean, out, print_json
from d400tui.cli.session import call, run, settings, signed_engine
from d400tui.domain import model as m
from d400tui.domain.settlement import MAX_BYTES, SettlementReport, SettlementRun

T = TypeVar("T")
settle_app = typer.Typer(help="Settlement: the acquirer's report matched with our captures (supervisors).")
app.add_typer(settle_app, name="settle")
DIFFERENCES = 3
NO_ANSWER = 4


def _signed(use: Callable[[Any, m.Actor], T]) -> T:
    """Sign on, run `use(engine, actor)`, close the engine whatever happened."""
    engine, who = signed_engine()
    try:
        return use(engine, who)
    finally:
        run(engine.close())


def _read(file: Path) -> bytes:
    """At most MAX_BYTES + 1 bytes of the file (the engine refuses a file over the limit)."""
    try:
        with file.open("rb") as f:
            return f.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise CliError(f"{clean(str(file), 80)}: a directory, not a settlement file") from None
    except FileNotFoundError:
        raise CliError(f"{clean(str(file), 80)}: no such file") from None
    except PermissionError:
        raise CliError(f"{clean(str(file), 80)}: not readable") from None
    except OSError:
        raise CliError(f"{clean(str(file), 80)}: cannot be read") from None


def _money(amount: object) -> str:
    return "-" if amount is None else str(amount)


def _summary(r: SettlementRun) -> list[str]:
    if r.source == "ISO8583":
        state = {None: "no answer yet", True: "in balance", False: "OUT OF BALANCE"}[r.in_balance]
        return [
            f"batch total run {r.id} ({r.acquirer}, ISO 8583 0500/0510): {state}",
            f"  ours: {r.our_count} captures, {_money(r.our_amount)} EUR; "
            f"host: {_money(r.host_count)} captures, {_money(r.host_amount)} EUR",
        ]
    return [
        f"settlement run {r.id} ({clean(r.file_name or '', 60)}, {r.acquirer}, {r.started_at:%Y-%m-%d %H:%M}): "
        f"{r.lines} lines, {r.new_lines} new, {r.already_imported} already imported",
        f"  matched {r.matched}, not settled {r.not_settled}, unknown {r.unknown}, "
        f"amount differs {r.amount_differs}, other lines {r.other_lines}",
        f"  gross {r.gross}, fee {r.fee}, net {r.net}",
    ]


def _print(report: SettlementReport, as_json: bool) -> None:
    if as_json:
        print_json({"run": report.run, "repeated": report.repeated, "differences": report.differences})
        return
    if report.repeated:
        out.print(f"file already imported as run {report.run.id}: nothing new", markup=False, soft_wrap=True)
    for line in _summary(report.run):
        out.print(line, markup=False, soft_wrap=True)
    for d in report.differences:
        where = f"order {d.order_id}" if d.order_id else "no order"
        ref = clean(d.reference or "", 80)
        amounts = f"ours {_money(d.ours)} theirs {_money(d.theirs)} {d.currency}"
        since = f" (listed since run {d.since_run})" if d.since_run and d.since_run != report.run.id else ""
        out.print(f"  {d.kind.value:<15} {where:<12} ref {ref:<20} {amounts}{since}", markup=False, soft_wrap=True)


def _exit(report: SettlementReport) -> None:
    r = report.run
    if report.repeated:
        return
    if r.source == "ISO8583" and r.in_balance is None:
        raise typer.Exit(NO_ANSWER)
    if r.in_balance is False or report.differences:
        raise typer.Exit(DIFFERENCES)


@settle_app.command("import")
def settle_import(
    file: Path = typer.Argument(..., help="The acquirer's settlement report (CSV, balance transactions)."),
    acquirer: str | None = typer.Option(None, "--acquirer", help="Whose report it is (default: the configured one)."),
    as_json: AsJson = False,
) -> None:
    """Import a settlement report: every capture matched by reference and amount; idempotent."""
    from d400tui.engine import settlement

    data = _read(file)
    name = clean(file.name, 120)
    report = _signed(lambda engine, who: settlement.import_file(engine, who, name, data, acquirer))
    _print(report, as_json)
    _exit(report)


@settle_app.command("show")
def settle_show(
    run_id: int = typer.Argument(..., help="The settlement run (d400 settle list)."),
    limit: Limit = 1000,
    as_json: AsJson = False,
) -> None:
    """A settlement run's counts and the differences it found."""
    from d400tui.engine import settlement

    report = _signed(lambda engine, who: settlement.show(engine, who, run_id, limit))
    _print(report, as_json)


@settle_app.command("list")
def settle_list(limit: Limit = 20, as_json: AsJson = False) -> None:
    """The last settlement runs, newest first."""
    from d400tui.engine import settlement

    runs = _signed(lambda engine, who: settlement.runs(engine, who, limit))
    if as_json:
        print_json(runs)
        return
    for r in runs or []:
        out.print(_summary(r)[0], markup=False, soft_wrap=True)
    if not runs:
        out.print("no settlement run yet", markup=False, soft_wrap=True)


@settle_app.command("batch")
def settle_batch(as_json: AsJson = False) -> None:
    """ISO 8583 batch total (0500/0510): our captures not yet settled, against the host's."""
    from d400tui.engine import settlement

    report = call(lambda engine, who: settlement.batch_total(engine, who))
    _print(report, as_json)
    _exit(report)


def _instant(text: str | None, end: bool) -> float | None:
    day = parse_date(text)
    if day is None:
        return None
    return datetime.combine(day, time.max if end else time.min, UTC).timestamp()


@acquirer_app.command("settlement")
def acquirer_settlement(
    out_file: str = typer.Option("-", "--out", help="Where to write the CSV (default: standard output)."),
    since: str | None = typer.Option(None, "--since", help="First day YYYY-MM-DD (UTC), default: all."),
    until: str | None = typer.Option(None, "--until", help="Last day YYYY-MM-DD (UTC), default: all."),
) -> None:
    """The simulated acquirer's settlement report of its captures (its own books: no sign-on)."""
    from d400tui.simulator.issuer import issuer_from_settings
    from d400tui.simulator.settlement import write_report

    first, last = _instant(since, False), _instant(until, True)
    issuer = issuer_from_settings(settings())
    try:
        if out_file == "-":
            n = write_report(issuer, sys.stdout, first, last)
        else:
            target = Path(out_file)
            tmp = target.with_name(f".{target.name}.tmp")
            try:
                with tmp.open("w", encoding="utf-8", newline="") as f:
                    n = write_report(issuer, f, first, last)
                tmp.replace(target)
            except OSError:
                tmp.unlink(missing_ok=True)
                raise CliError(f"{clean(out_file, 80)}: cannot be written") from None
            print(f"{n} balance transactions written to {clean(out_file, 80)}", file=sys.stderr)
    finally:
        issuer.close()
