"""The reconciler: settle UNKNOWN authorizations by asking the acquirer under their key, finish
pending voids, settle captures whose sender died before writing the answer, and void the holds that
nothing needs any more. Run by a supervisor (`d400 reconcile`) or a schedule."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from d400tui.acquirers.base import Acquirer, AcquirerResponse, AcquirerUnavailable, Outcome
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.store import reconcile as sweeps

from . import owner, shipped_capture
from . import steps as s
from .codes import NO_ANSWER
from .results import ReconcileReport

log = logging.getLogger("d400.engine")


async def reconcile(
    ctx: s.Context, actor: m.Actor, grace_s: float | None = None, due_only: bool = False
) -> ReconcileReport:
    """Settle UNKNOWN authorizations (ask the acquirer by key), finish pending voids and
    captures. A row still REQUESTED whose sending process is gone (same machine), or older than
    `grace_s` (default: the acquirer timeout + 5 s, past which no live caller can still be
    waiting), belonged to a killed process: it is treated as UNKNOWN. `due_only` (the scheduled
    retry) leaves a pending void alone until its next try on the backoff; on demand, all go now."""
    grace = timedelta(seconds=ctx.settings.acquirer_timeout + 5 if grace_s is None else grace_s)
    report = ReconcileReport()
    with ctx.unit() as uow:
        stale = [
            aid
            for aid, who, at in sweeps.requested(uow.session)
            if owner.is_dead(who) or (at is not None and at <= ctx.clock() - grace)
        ]
        if stale:
            sweeps.mark_unknown(uow.session, stale, NO_ANSWER, ctx.label(NO_ANSWER))
        # Safety sweep: a hold that nothing needs any more is voided even if no void was asked for it.
        sweeps.mark_orphan_holds(uow.session)
        uow.commit()
        rows = sweeps.to_settle(uow.session, ctx.clock() if due_only else None)
    for auth_id, order_id in rows:
        try:
            line, settled = await _reconcile_one(ctx, actor, order_id, auth_id)
        except AcquirerUnavailable as exc:
            report.still_unknown.append(Message("engine.reconcile_error", auth=auth_id, order=order_id, error=str(exc)))
            continue
        (report.settled if settled else report.still_unknown).append(line)
    return report


async def _reconcile_one(ctx: s.Context, actor: m.Actor, order_id: int, auth_id: int) -> tuple[Message, bool]:
    """The line to report, and whether the authorization is settled (else still unknown)."""
    with ctx.unit() as uow:
        order = s.load_any(uow, order_id)
        auth = next(a for a in order.authorizations if a.id == auth_id)
        state, key, kind = auth.state, auth.idempotency_key, auth.kind
        capturing = auth.capture_pending and auth.state is m.AuthState.APPROVED
        sender, holder = auth.owner, ctx.acquirer_for(auth.acquirer)  # asked where it was sent
    if capturing:
        if _sender_alive_here(sender):
            # Its sender still waits for the answer: settling it now could clear the flag that
            # keeps the order from being cancelled while the capture may still go through.
            return Message("engine.reconcile_capturing", auth=auth_id, order=order_id), False
        parcel = await shipped_capture.settle_unknown(ctx, actor, order_id, auth_id)  # a shipment's capture
        if parcel is not None:
            return parcel, True
        return await _settle_capture(ctx, actor, order_id, auth_id, key, holder), True
    if state is m.AuthState.UNKNOWN:
        resp = await holder.status(key)
        if resp.outcome is Outcome.NOT_FOUND:
            # Never reached the issuer: nothing is held. An acquirer that speaks ISO 8583 still
            # gets the reversal its network expects for an unanswered request.
            await _reverse_unanswered(holder, key)
        with ctx.unit() as uow:
            order = s.load_any(uow, order_id)
            auth = next(a for a in order.authorizations if a.id == auth_id)
            if resp.outcome is Outcome.NOT_FOUND:
                auth.move(m.AuthState.VOIDED)
                auth.void_state = m.VoidState.DONE
                auth.label = Message("engine.never_reached_label")
                inst = s.instalment_of(order, auth)
                if inst is not None:
                    inst.auth_pending = False
                msg = Message("engine.reconcile_never", auth=auth_id, order=order_id)
            else:
                _record_answer_reconciled(ctx, order, auth, resp)
                msg = Message(
                    "engine.reconcile_state",
                    auth=auth_id,
                    order=order_id,
                    state=auth.state.value,
                    code=auth.response_code,
                )
            uow.audit(actor.name, "RECONCILE", order_id, authorization=auth_id, state=auth.state.value)
            order.touch(ctx.clock())
            s.commit(uow)
            needs_void = (
                auth.state is m.AuthState.APPROVED
                and kind is m.AuthKind.AUTHORIZE
                and (
                    order.status in (m.OrderStatus.CANCELLED, m.OrderStatus.DELETED)
                    or auth.void_state is m.VoidState.PENDING
                    or not _still_needed(order, auth)
                )
            )
        if needs_void:
            v = await ctx.void(actor, order_id, auth_id)
            msg = Message("engine.reconcile_state_void", **msg.params, message=v.message)  # the line, and its void
            return msg, not _unreachable(v)  # a hold left to void is still to do, not settled
        return msg, True
    # a pending void
    v = await ctx.void(actor, order_id, auth_id)
    line = Message("engine.reconcile_error", auth=auth_id, order=order_id, error=v.message)
    return line, not _unreachable(v)


def _unreachable(v: s.VoidOutcome) -> bool:
    """The void's answer did not arrive (service down, or a time-out under load): still PENDING."""
    return not v.done and isinstance(v.message, Message) and v.message.key == "engine.void_unreachable"


def _sender_alive_here(who: str | None) -> bool:
    """The process that sent a call runs on this machine and is still alive (it is waiting)."""
    if not who:
        return False
    return who.partition(":")[0] == owner.me().partition(":")[0] and not owner.is_dead(who)


async def _settle_capture(
    ctx: s.Context, actor: m.Actor, order_id: int, auth_id: int, key: str, holder: Acquirer
) -> Message:
    """A capture sent by a process that died before writing its answer: the acquirer knows."""
    resp = await holder.status(key)
    with ctx.unit() as uow:
        order = s.load_any(uow, order_id)
        auth = next(a for a in order.authorizations if a.id == auth_id)
        inst = s.instalment_of(order, auth)
        auth.capture_pending = False
        if inst is not None:
            inst.auth_pending = False
        if resp.outcome is Outcome.CAPTURED:
            auth.move(m.AuthState.CAPTURED)  # captured_amount already holds the amount that was sent
            if inst is not None:
                inst.state = m.InstalmentState.CAPTURED
                inst.authorized_until = None
            order.settle_if_done()
            msg = Message("engine.reconcile_captured", auth=auth_id, order=order_id, amount=auth.captured_amount)
        else:
            auth.captured_amount = Decimal("0.00")
            msg = Message("engine.reconcile_not_captured", auth=auth_id, order=order_id)
        uow.audit(actor.name, "RECONCILE_CAPTURE", order_id, authorization=auth_id, outcome=resp.outcome.value)
        order.touch(ctx.clock())
        s.commit(uow)
        return msg


async def _reverse_unanswered(holder: Acquirer, key: str) -> None:
    inner = getattr(holder, "inner", None)  # under the circuit breaker
    reverse = getattr(holder, "reverse", None) or getattr(inner, "reverse", None)
    if reverse is None:
        return
    try:
        await reverse(key, key + "-reversal")
    except AcquirerUnavailable as exc:
        log.warning("reversal of %s not sent (%s): the host will time it out", key, exc)


def _still_needed(order: m.Order, auth: m.Authorization) -> bool:
    inst = s.instalment_of(order, auth)
    if inst is None or inst.state is not m.InstalmentState.PENDING:
        return False
    others = [a for a in order.authorizations_of(inst) if a.id != auth.id and a.state is m.AuthState.APPROVED]
    return not others


def _record_answer_reconciled(ctx: s.Context, order: m.Order, auth: m.Authorization, resp: AcquirerResponse) -> None:
    if resp.outcome is Outcome.DECLINED:
        s.record_answer(ctx, order, auth, resp)
        if auth.void_state is m.VoidState.PENDING:
            auth.void_state = m.VoidState.DONE  # refused: nothing was held, nothing to void
        return
    if resp.outcome is Outcome.CAPTURED:
        auth.move(m.AuthState.APPROVED)
        auth.move(m.AuthState.CAPTURED)
        auth.captured_amount = resp.amount or auth.amount
        auth.acquirer_ref, auth.auth_code, auth.response_code = resp.reference, resp.auth_code, resp.code
        auth.category = m.Category.APPROVED
        return
    s.record_answer(ctx, order, auth, resp)
