"""One instalment captured on its own (`d400 order …`, tests, a supervisor's amount): the same
rules as the batched run (`skip_reason`, the domain's capture rule, `capturable_amounts`), decided
under the order's lock and marked in flight before the call."""

from __future__ import annotations

import contextlib
import logging
from datetime import date
from decimal import Decimal
from typing import cast

from d400tui.acquirers.base import AcquirerResponse, AcquirerUnavailable, Outcome
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.store import capture_batch as store
from d400tui.store import shipments
from d400tui.store.batch_writes import DatabaseBusy, database_errors

from . import owner, shipped_capture
from .capture_batch import skip_reason
from .codes import NO_ANSWER
from .errors import EngineError
from .runs import BatchContext
from .steps import Context, load_any

log = logging.getLogger("d400.engine")
WHAT = Message("engine.what_capture")
CaptureOutcome = tuple[str, Decimal, str, str | Message, int | None]
"""(outcome, amount, code, reason, authorization id) of one instalment's capture."""


async def capture_one(
    ctx: BatchContext,
    actor: m.Actor,
    order_id: int,
    seq: int,
    run_date: date | None = None,
    amount: Decimal | None = None,
) -> CaptureOutcome:
    """Capture one instalment.

    The decision is taken under the order's lock and marks the capture in flight before the
    call; a cancel or delete is refused while it is (Order.ensure_no_capture_in_flight), so no
    order can be closed between the decision and the answer — refusing the cancel is the only
    safe choice, since a capture sent cannot be called back. The answer is written under the
    lock again and never turns a cancelled or deleted order into INVOICED."""
    ctx.require_supervisor(actor, WHAT)
    run_date = run_date or ctx.today()
    with ctx.unit() as uow:
        parcels = order_id in shipments.orders_with_shipments_due(uow.session, [order_id])
    if parcels:  # shipped in parcels: what they shipped, the rest released after the last
        return await shipped_capture.capture_shipped(cast(Context, ctx), actor, order_id, seq, run_date)
    with ctx.unit() as uow:
        order = load_any(uow, order_id)
        inst = order.instalment(seq)
        want = amount if amount is not None else store.capturable_amounts(uow.session, [inst.id or 0])[inst.id or 0]
        if order.status is not m.OrderStatus.VALIDATED:
            closed = Message("engine.closed", order=order_id, status=m.STATUS_MESSAGE[order.status])
            return "SKIPPED", want, "", closed, None
        if order.hold is m.PaymentHold.BLOCKED:
            return "SKIPPED", want, "", Message("engine.skip_blocked"), None
        if inst.state is not m.InstalmentState.PENDING:
            return "SKIPPED", want, "", Message("engine.skip_instalment", inst_state=inst.state.value.lower()), None
        auth = order.live_authorization(inst)
        why = skip_reason(auth, run_date)  # the run's own rules
        if why is not None or auth is None:
            return "SKIPPED", want, "", why or Message("engine.skip_no_auth"), auth.id if auth else None
        try:
            auth.check_capture(want, ctx.clock())
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
        order.touch(ctx.clock())
        uow.commit()  # a lost optimistic race reads as ConcurrentChange (the unit's translation)
        ref, key, auth_id = auth.acquirer_ref or "", auth.idempotency_key + "-cap", auth.id
        holder = ctx.acquirer_for(auth.acquirer)  # the acquirer that holds it (failover)
    try:
        resp: AcquirerResponse | None = await holder.capture(ref, want, key)
    except AcquirerUnavailable:
        resp = None
    try:
        with database_errors():
            return _record_one(ctx, actor, order_id, seq, auth_id, want, resp)
    except (DatabaseBusy, EngineError):
        # The answer could not be written: the capture stays in flight for the reconciler, which
        # must not take this (living) process for its waiting sender.
        with contextlib.suppress(DatabaseBusy), database_errors(), ctx.unit() as uow:
            if auth_id is not None:
                store.release_senders(uow.session, [auth_id])
            uow.commit()
        raise


def _record_one(
    ctx: BatchContext,
    actor: m.Actor,
    order_id: int,
    seq: int,
    auth_id: int | None,
    want: Decimal,
    resp: AcquirerResponse | None,
) -> CaptureOutcome:
    """Write a capture's answer under the order's lock (second half of capture_one)."""
    with ctx.unit() as uow:
        order = load_any(uow, order_id)
        inst = order.instalment(seq)
        auth = next(x for x in order.authorizations if x.id == auth_id)
        auth.owner = None  # the sender no longer waits: the reconciler may settle what is left
        if resp is None:  # stays capture_pending: the reconciler asks the acquirer what happened
            uow.audit(actor.name, "CAPTURE", order_id, authorization=auth_id, amount=want, state="NO_ANSWER")
            uow.commit()
            return "UNAVAILABLE", want, NO_ANSWER, ctx.label(NO_ANSWER), auth_id
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
            order.touch(ctx.clock())
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
        uow.audit(actor.name, "CAPTURE", order_id, authorization=auth_id, amount=want, code=resp.code, state="REFUSED")
        uow.commit()
        return "REFUSED", want, resp.code, resp.message or ctx.label(resp.code), auth_id
