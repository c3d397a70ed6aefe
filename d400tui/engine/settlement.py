"""Settlement reconciliation (supervisors): what the acquirer settled, matched with what we captured.

`import_file`: the acquirer's settlement report (a CSV, see domain/settlement.py) is checked whole
before anything is written, then in one unit — holding the write lock, so two imports at once
make one run — its new lines are matched with our captures by reference and amount, the
differences listed (captured here but not settled, settled but unknown here, amount differs), a
run recorded with its counts, and the import audited. The same file again (its SHA-256) changes
nothing; a line already imported by another file (its balance transaction id) is not counted twice.

`batch_total`: the ISO 8583 batch total where the host supports it: a 0500 with the count and
amount of our captures not yet settled, the host answers 0510 in or out of balance. The run and
the captures it counts are committed before the call under the run's key; an answer that never
came is asked again, same key and totals, before any new batch."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from d400tui.acquirers.base import BATCH_TOTALS, AcquirerUnavailable
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.settlement import SettlementReport, SettlementRun, parse_settlement
from d400tui.store import settlement as store

from .errors import EngineError, NotFound

if TYPE_CHECKING:
    from .steps import Context

WHAT = Message("engine.what_settlement")
ACQUIRERS = ("simulator", "http", "stripe", "iso8583")
AUDITED = (
    *("source", "acquirer", "file_name", "file_sha256", "lines", "new_lines", "already_imported", "matched"),
    *("not_settled", "unknown", "amount_differs", "other_lines", "batch_key", "in_balance"),
)


def _acquirer(ctx: Context, name: str | None) -> str:
    if name is None:
        return ctx.acquirer.name
    if name not in ACQUIRERS:
        raise EngineError("engine.settle_acquirer", acquirers=", ".join(ACQUIRERS))
    return name


def import_file(ctx: Context, actor: m.Actor, name: str, data: bytes, acquirer: str | None = None) -> SettlementReport:
    """Import one settlement file; a refused file leaves nothing behind."""
    ctx.require_supervisor(actor, WHAT)
    acq = _acquirer(ctx, acquirer)
    parsed = parse_settlement(data, name)
    with ctx.unit(lock=True) as uow:
        store.lock_imports(uow.session)
        done = store.run_of_file(uow.session, parsed.sha256)
        if done is not None:
            return SettlementReport(_read(uow.session, done), store.read_differences(uow.session, done), repeated=True)
        known = store.known_lines(uow.session, acq, [x.key for x in parsed.lines])
        for x in parsed.lines:
            seen = known.get(x.key)
            if seen is not None and seen[:3] != (x.reference, x.currency, x.gross):
                # a balance transaction never changes: the same id saying something else is a
                # broken or altered file, not a difference to list
                raise EngineError("engine.settle_line_changed", line=x.line_no, run=seen[3])
        new = [x for x in parsed.lines if x.key not in known]
        dates = [x.created for x in parsed.lines if x.created is not None]
        run = SettlementRun(
            "CSV",
            acq,
            actor.name,
            ctx.clock(),
            file_name=name[:120],
            file_sha256=parsed.sha256,
            lines=len(parsed.lines),
            new_lines=len(new),
            already_imported=len(parsed.lines) - len(new),
            other_lines=sum(1 for x in new if not x.settles_capture),
            gross=sum((x.gross for x in parsed.lines), Decimal("0.00")),
            fee=sum((x.fee for x in parsed.lines), Decimal("0.00")),
            net=sum((x.net for x in parsed.lines), Decimal("0.00")),
            first_created=min(dates, default=None),
            last_created=max(dates, default=None),
        )
        store.add_run(uow.session, run)
        diffs, run.matched = store.match(uow.session, run.id or 0, acq, new)
        _count(run, diffs)
        store.save_run(uow.session, run)
        uow.audit(actor.name, "SETTLEMENT_IMPORT", None, **_audit_detail(run))
        uow.commit()
    return SettlementReport(run, diffs)


def _count(run: SettlementRun, diffs: list[Any]) -> None:
    kinds = [d.kind.value for d in diffs]
    run.not_settled = kinds.count("NOT_SETTLED")
    run.unknown = kinds.count("UNKNOWN")
    run.amount_differs = kinds.count("AMOUNT_DIFFERS")


def _audit_detail(run: SettlementRun) -> dict[str, object]:
    detail = {k: getattr(run, k) for k in AUDITED if getattr(run, k) is not None}
    return {"run": run.id, **detail}


def _read(session: Any, run_id: int) -> SettlementRun:
    run = store.read_run(session, run_id)
    if run is None:
        raise NotFound("engine.settle_run_unknown", run=run_id)
    return run


def show(ctx: Context, actor: m.Actor, run_id: int, limit: int = 1000) -> SettlementReport:
    """One run and the differences it found (the first `limit`; the run's counts say how many)."""
    ctx.require_supervisor(actor, WHAT)
    if not 0 < run_id < 2**31:
        raise NotFound("engine.settle_run_unknown", run=run_id)
    with ctx.unit() as uow:
        return SettlementReport(_read(uow.session, run_id), store.read_differences(uow.session, run_id, limit))


def runs(ctx: Context, actor: m.Actor, limit: int = 20) -> list[SettlementRun]:
    ctx.require_supervisor(actor, WHAT)
    with ctx.unit() as uow:
        return store.last_runs(uow.session, limit)


async def batch_total(ctx: Context, actor: m.Actor) -> SettlementReport:
    """Send the batch total of our captures not yet settled (ISO 8583 0500) and record the 0510."""
    ctx.require_supervisor(actor, WHAT)
    acquirer: Any = ctx.acquirer
    if BATCH_TOTALS not in getattr(acquirer, "settlement", ()):
        raise EngineError("engine.settle_batch_unsupported", acquirer=acquirer.name)
    with ctx.unit(lock=True) as uow:
        store.lock_imports(uow.session)
        run = store.unanswered_batch(uow.session, acquirer.name)
        if run is None:
            rows = store.unsettled(uow.session, acquirer.name)
            run = SettlementRun("ISO8583", acquirer.name, actor.name, ctx.clock(), batch_key=uuid.uuid4().hex)
            run.our_count = len(rows)
            run.our_amount = sum((r.amount for r in rows), Decimal("0.00"))
            run.lines = run.new_lines = len(rows)
            run.gross = run.net = run.our_amount
            store.add_run(uow.session, run)
            store.hold_for_batch(uow.session, run, rows)
            uow.audit(actor.name, "SETTLEMENT_BATCH_SENT", None, **_audit_detail(run), count=run.our_count)
            uow.commit()
    assert run.batch_key is not None and run.our_count is not None and run.our_amount is not None
    try:
        answer = await acquirer.batch_totals(run.our_count, run.our_amount, run.batch_key)
    except AcquirerUnavailable:
        return SettlementReport(run)  # in_balance stays None: asked again, same key, next time
    with ctx.unit(lock=True) as uow:
        store.lock_imports(uow.session)
        run.in_balance = answer.in_balance
        run.host_count, run.host_amount = answer.count, answer.amount
        run.matched = run.our_count if answer.in_balance else 0
        store.close_batch(uow.session, run)
        store.save_run(uow.session, run)
        uow.audit(actor.name, "SETTLEMENT_BATCH", None, **_audit_detail(run), host_count=answer.count, code=answer.code)
        uow.commit()
    return SettlementReport(run)
