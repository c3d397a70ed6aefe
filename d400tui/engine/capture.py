"""The capture run: take the money of what is due, never above what was authorized, never twice.

Each instalment is decided under its order's lock and marked in flight before the call, so a
process killed before the answer is written leaves work the reconciler finishes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date, datetime, time
from decimal import Decimal

from d400tui.acquirers.base import AcquirerResponse, AcquirerUnavailable, Outcome
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.store import claims
from d400tui.store.batch_writes import DatabaseBusy, add_run_result, database_errors, release_capture_sender

from . import owner
from .codes import NO_ANSWER
from .errors import EngineError
from .runs import BatchContext, Progress, quiet_gc
from .steps import load_any

log = logging.getLogger("d400.engine")
WHAT = Message("engine.what_capture")
CaptureOutcome = tuple[str, Decimal, str, str | Message, int | None]
"""(outcome, amount, code, reason, authorization id) of one instalment's capture."""


class Capture:
    def __init__(self, ctx: BatchContext) -> None:
        self.e = ctx

    async def run(
        self, actor: m.Actor, run_date: date | None = None, concurrency: int = 8, progress: Progress | None = None
    ) -> m.PrecheckRun:
        """Capture what is due: validated, not blocked, phone card orders whose instalment is due
        and holds a live, unexpired authorization. Never above what was authorized; rerunnable.
        Two runs at once share the work: each instalment is decided under its order's lock, the
        one a run finds already in flight or done elsewhere is counted skipped with the reason, and
        a race lost on one order is counted on that order. The run always records its end."""
        self.e.require_supervisor(actor, WHAT)
        run_date = run_date or self.e.today()
        run = m.PrecheckRun("CAPTURE", run_date, self.e.clock(), actor.name, concurrency)
        with self.e.unit() as uow:
            uow.runs.add(run)
            uow.audit(actor.name, "CAPTURE_START", None, run_date=run_date)
            uow.commit()
            todo = claims.capture_worklist(uow.session, run_date)
        run_id = run.id or 0
        sem = asyncio.Semaphore(concurrency)
        finished = [0]

        async def one(order_id: int, seq: int, due: Decimal) -> None:
            async with sem:
                try:
                    with database_errors():
                        outcome, amount, code, reason, auth_id = await self.capture_one(actor, order_id, seq, run_date)
                except (EngineError, m.DomainError, DatabaseBusy) as exc:
                    # Lost to another run or terminal (a lock not had in time, a concurrent change):
                    # this order waits for the next run, the others go on.
                    log.warning("capture of order %s instalment %s not done: %s", order_id, seq, exc)
                    outcome, amount, code, auth_id = "SKIPPED", due, "", None
                    reason = (
                        exc.message if isinstance(exc, EngineError | m.DomainError) else Message("engine.skip_db_busy")
                    )
            with self.e.unit() as uow:
                add_run_result(uow.session, run_id, order_id, seq, outcome, amount, code, reason, auth_id)
                uow.commit()
            key = {"CAPTURED": "approved", "REFUSED": "refused", "UNAVAILABLE": "unavailable"}.get(outcome, "skipped")
            setattr(run, key, getattr(run, key) + 1)
            finished[0] += 1
            if progress:
                progress(finished[0], len(todo))

        try:
            with quiet_gc():
                await asyncio.gather(*(one(oid, seq, due) for oid, seq, due in todo))
        finally:
            with self.e.unit() as uow:
                run.selected = len(todo)
                run.finished_at = self.e.clock()
                uow.session.merge(run)
                uow.audit(
                    actor.name,
                    "CAPTURE_END",
                    None,
                    run=run.id,
                    captured=run.approved,
                    refused=run.refused,
                    unavailable=run.unavailable,
                    skipped=run.skipped,
                    done=finished[0],
                )
                uow.commit()
        return run

    async def capture_one(
        self, actor: m.Actor, order_id: int, seq: int, run_date: date | None = None, amount: Decimal | None = None
    ) -> CaptureOutcome:
        """Capture one instalment.

        The decision is taken under the order's lock and marks the capture in flight before the
        call; a cancel or delete is refused while it is (Order.ensure_no_capture_in_flight), so no
        order can be closed between the decision and the answer — refusing the cancel is the only
        safe choice, since a capture sent cannot be called back. The answer is written under the
        lock again and never turns a cancelled or deleted order into INVOICED."""
        self.e.require_supervisor(actor, WHAT)
        run_date = run_date or self.e.today()
        with self.e.unit() as uow:
            order = load_any(uow, order_id)
            inst = order.instalment(seq)
            want = amount if amount is not None else inst.amount
            if order.status is not m.OrderStatus.VALIDATED:
                closed = Message("engine.closed", order=order_id, status=m.STATUS_MESSAGE[order.status])
                return "SKIPPED", want, "", closed, None
            if order.hold is m.PaymentHold.BLOCKED:
                return "SKIPPED", want, "", Message("engine.skip_blocked"), None
            if inst.state is not m.InstalmentState.PENDING:
                return "SKIPPED", want, "", Message("engine.skip_instalment", inst_state=inst.state.value.lower()), None
            auth = order.live_authorization(inst)
            if auth is None:
                return "SKIPPED", want, "", Message("engine.skip_no_auth"), None
            if auth.capture_pending:
                return "SKIPPED", want, "", Message("engine.skip_capturing"), auth.id
            if auth.state is m.AuthState.REQUESTED:
                return "SKIPPED", want, "", Message("engine.skip_in_flight"), auth.id
            if auth.state is m.AuthState.UNKNOWN or auth.void_state is m.VoidState.PENDING:
                return "SKIPPED", want, "", Message("engine.skip_unsettled"), auth.id
            if auth.expires_at and auth.expires_at < datetime.combine(run_date, time.min):
                return "SKIPPED", want, "", Message("engine.skip_expired"), auth.id
            try:
                auth.check_capture(want, self.e.clock())
            except m.DomainError as exc:
                uow.audit(actor.name, "CAPTURE_REFUSED", order_id, authorization=auth.id, reason=exc.message)
                uow.commit()
                return "REFUSED", want, "", exc.message, auth.id
            # Crash safety: the capture in flight is recorded (and the instalment frozen) before the
            # call, so a process killed before the answer is written leaves work the reconciler
            # finishes; `owner` tells a reconciler on this machine that the sender is still waiting.
            auth.capture_pending = True
            auth.captured_amount = want
            auth.owner = owner.me()
            inst.auth_pending = True
            order.touch(self.e.clock())
            uow.commit()  # a lost optimistic race reads as ConcurrentChange (the unit's translation)
            ref, key, auth_id = auth.acquirer_ref or "", auth.idempotency_key + "-cap", auth.id
            holder = self.e.acquirer_for(auth.acquirer)  # the acquirer that holds it (failover)
        try:
            resp: AcquirerResponse | None = await holder.capture(ref, want, key)
        except AcquirerUnavailable:
            resp = None
        try:
            with database_errors():
                return self._record_capture(actor, order_id, seq, auth_id, want, resp)
        except (DatabaseBusy, EngineError):
            # The answer could not be written: the capture stays in flight for the reconciler, which
            # must not take this (living) process for its waiting sender.
            with contextlib.suppress(DatabaseBusy), database_errors(), self.e.unit() as uow:
                if auth_id is not None:
                    release_capture_sender(uow.session, auth_id)
                uow.commit()
            raise

    def _record_capture(
        self, actor: m.Actor, order_id: int, seq: int, auth_id: int | None, want: Decimal, resp: AcquirerResponse | None
    ) -> CaptureOutcome:
        """Write a capture's answer under the order's lock (second half of capture_one)."""
        with self.e.unit() as uow:
            order = load_any(uow, order_id)
            inst = order.instalment(seq)
            auth = next(x for x in order.authorizations if x.id == auth_id)
            auth.owner = None  # the sender no longer waits: the reconciler may settle what is left
            if resp is None:  # stays capture_pending: the reconciler asks the acquirer what happened
                uow.audit(actor.name, "CAPTURE", order_id, authorization=auth_id, amount=want, state="NO_ANSWER")
                uow.commit()
                return "UNAVAILABLE", want, NO_ANSWER, self.e.label(NO_ANSWER), auth_id
            settled_elsewhere = not auth.capture_pending
            auth.capture_pending = False
            inst.auth_pending = False
            if resp.outcome is Outcome.CAPTURED:
                if auth.state is m.AuthState.APPROVED:
                    auth.move(m.AuthState.CAPTURED)
                auth.captured_amount = resp.amount if resp.amount is not None else want
                inst.state = m.InstalmentState.CAPTURED
                inst.authorized_until = None
                order.settle_if_done()  # a cancelled or deleted order stays so (never INVOICED)
                order.touch(self.e.clock())
                uow.audit(
                    actor.name,
                    "CAPTURE",
                    order_id,
                    authorization=auth_id,
                    amount=want,
                    state="CAPTURED",
                    order_status=order.status.value,
                    settled_elsewhere=settled_elsewhere,
                )
                uow.commit()
                if order.status is not m.OrderStatus.INVOICED and order.status is not m.OrderStatus.VALIDATED:
                    log.error("order %s captured while %s: refund it", order_id, order.status.value)
                return "CAPTURED", want, resp.code, "", auth_id
            if not settled_elsewhere or auth.state is not m.AuthState.CAPTURED:
                auth.captured_amount = Decimal("0.00")
            uow.audit(
                actor.name, "CAPTURE", order_id, authorization=auth_id, amount=want, code=resp.code, state="REFUSED"
            )
            uow.commit()
            return "REFUSED", want, resp.code, resp.message or self.e.label(resp.code), auth_id
