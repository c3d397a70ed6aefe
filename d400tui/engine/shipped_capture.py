"""The capture of what was shipped: per instalment, what its parcels shipped and nothing more,
never above what its authorization still holds; the last parcel's capture releases the rest.

How, by what the acquirer declares (acquirers/base.py):
- a parcel before the last: `capture_partial` (MULTICAPTURE) keeps the rest held; without it one
  `capture` takes the parcel and closes the hold, and what remains is authorized again on the
  card's token — said in the run report (`engine.ship_reauthorized`);
- the last parcel: with PARTIAL_VOID, `capture_partial` then `release` of the rest (ISO 8583:
  0220 then a 0400 partial reversal); otherwise a final `capture`, which releases the rest;
- the last parcel shipped nothing more for this instalment: `release` of the rest, or a void.

Each call is a `captures` row committed REQUESTED (with its own idempotency key) before the call,
with the authorization marked capture_pending, so the order can be neither cancelled nor deleted
while the answer may still come, and a capture run twice captures once."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from d400tui.acquirers.base import (
    MULTICAPTURE,
    PARTIAL_VOID,
    AcquirerResponse,
    AcquirerUnavailable,
    Outcome,
    PaymentSource,
    Unsupported,
)
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.shipments import ZERO, CaptureRecord, CaptureState, InstalmentShare, shares
from d400tui.store import shipments as store

from . import owner
from . import steps as s
from .codes import NO_ANSWER
from .shipping import instalment_amounts

log = logging.getLogger("d400.engine")
Outcome5 = tuple[str, Decimal, str, str | Message, int | None]
"""(outcome, amount, code, reason, authorization id), as the capture run records it."""


def _why_not(order: m.Order, inst: m.Instalment, run_date: date) -> Message | None:
    if order.status is not m.OrderStatus.VALIDATED:
        return Message("engine.closed", order=order.id, status=m.STATUS_MESSAGE[order.status])
    if order.hold is m.PaymentHold.BLOCKED:
        return Message("engine.skip_blocked")
    if inst.state is not m.InstalmentState.PENDING:
        return Message("engine.skip_instalment", inst_state=inst.state.value.lower())
    if inst.due_date > run_date:
        return Message("engine.ship_not_due", seq=inst.seq, due=inst.due_date)
    auth = order.live_authorization(inst)
    if auth is None:
        return Message("engine.skip_no_auth")
    if auth.capture_pending:
        return Message("engine.skip_capturing")
    if auth.state is m.AuthState.REQUESTED:
        return Message("engine.skip_in_flight")
    if auth.state is m.AuthState.UNKNOWN or auth.void_state is m.VoidState.PENDING:
        return Message("engine.skip_unsettled")
    if auth.expires_at and auth.expires_at < datetime.combine(run_date, time.min):
        return Message("engine.skip_expired")
    return None


def operation(caps: frozenset[str], share: InstalmentShare, rest: Decimal) -> str:
    """partial | final | single | release | void: what is sent for this instalment now."""
    if share.due <= 0:
        return "release" if PARTIAL_VOID in caps else "void"
    if share.last:
        return "partial" if rest > 0 and PARTIAL_VOID in caps else "final"
    return "partial" if MULTICAPTURE in caps else "single"


@dataclass(frozen=True)
class _Step:
    """What was decided and committed for one instalment before its call."""

    auth_id: int
    capture_id: int
    op: str
    ref: str
    key: str
    want: Decimal
    rest: Decimal
    share: InstalmentShare


async def capture_shipped(
    ctx: s.Context, actor: m.Actor, order_id: int, seq: int, run_date: date | None = None
) -> Outcome5:
    """Capture what instalment `seq` of the order may take of what was shipped. The database work
    runs in a thread (SQLite and psycopg release the GIL): a run keeps its calls flowing meanwhile."""
    got = await asyncio.to_thread(_decide, ctx, actor, order_id, seq, run_date or ctx.today())
    if not isinstance(got, _Step):
        return got
    resp, released, op = await _send(ctx, got.op, got.ref, got.want, got.rest, got.key, got.share.last)
    return await _record(
        ctx, actor, order_id, seq, got.auth_id, got.capture_id, op, got.want, got.rest, got.share, resp, released
    )


def _decide(ctx: s.Context, actor: m.Actor, order_id: int, seq: int, run_date: date) -> Outcome5 | _Step:
    """Under the order's lock: skipped, refused, or the capture row and the in-flight mark committed."""
    with ctx.unit() as uow:
        order = s.load_any(uow, order_id)
        inst = order.instalment(seq)
        why = _why_not(order, inst, run_date)
        auth = order.live_authorization(inst)
        auth_id = auth.id if auth else None
        if why is not None or auth is None:
            return "SKIPPED", ZERO, "", why or Message("engine.skip_no_auth"), auth_id
        records = store.captures_of(uow.session, order_id)
        state = store.shipping_state(uow.session, order_id)
        share = shares(instalment_amounts(order), state, store.captured_by_instalment(records))[seq]
        want, remaining = share.due, auth.amount - auth.captured_amount
        if want > remaining:  # never above what the authorization still holds
            reason = Message("engine.capture_over_left", amount=want, left=remaining)
            uow.audit(actor.name, "CAPTURE_REFUSED", order_id, authorization=auth_id, reason=reason)
            s.commit(uow)
            return "REFUSED", want, "", reason, auth_id
        rest = remaining - want if share.last else ZERO
        if want <= 0 and rest <= 0:
            return "SKIPPED", ZERO, "", Message("engine.ship_nothing_due", seq=seq), auth_id
        op = operation(ctx.acquirer.capabilities, share, rest)
        n = sum(1 for r in records if r.authorization_id == auth_id) + 1
        rec = CaptureRecord(
            order_id, auth_id or 0, seq, want, f"{auth.idempotency_key}-cap{n}", op, release=rest,
            requested_at=ctx.clock(), operator=actor.name,
        )  # fmt: skip
        capture_id = store.add_capture(uow.session, rec)
        auth.capture_pending, auth.owner, inst.auth_pending = True, owner.me(), True
        order.touch(ctx.clock())
        s.commit(uow)  # the row and the flag before the call: a crash leaves work the reconciler sees
        return _Step(auth_id or 0, capture_id, op, auth.acquirer_ref or "", rec.idempotency_key, want, rest, share)


async def _send(
    ctx: s.Context, op: str, ref: str, want: Decimal, rest: Decimal, key: str, last: bool
) -> tuple[AcquirerResponse | None, AcquirerResponse | None, str]:
    """The call(s) of one step: (answer, answer of the release after a last parcel, operation)."""
    acq = ctx.acquirer
    try:
        try:
            if op == "partial":
                resp = await acq.capture_partial(ref, want, key)  # type: ignore[attr-defined]
            elif op == "release":
                resp = await acq.release(ref, rest, key)  # type: ignore[attr-defined]
            elif op == "void":
                resp = await acq.void(ref, key)
            else:
                resp = await acq.capture(ref, want, key)
        except Unsupported:  # the server turned out to lack multicapture: nothing was captured
            op = "final" if last else "single"
            resp = await acq.capture(ref, want, key + "-s")
    except AcquirerUnavailable as exc:
        log.warning("capture %s: no answer (%s)", key, exc)
        return None, None, op
    released = None
    if op == "partial" and rest > 0 and resp.outcome is Outcome.CAPTURED:
        try:
            released = await acq.release(ref, rest, key + "-rel")  # type: ignore[attr-defined]
        except AcquirerUnavailable as exc:
            log.warning("release after capture %s: no answer (%s); the reconciler voids the rest", key, exc)
    return resp, released, op


async def _record(
    ctx: s.Context,
    actor: m.Actor,
    order_id: int,
    seq: int,
    auth_id: int,
    capture_id: int,
    op: str,
    want: Decimal,
    rest: Decimal,
    share: InstalmentShare,
    resp: AcquirerResponse | None,
    released: AcquirerResponse | None,
) -> Outcome5:
    args = (ctx, actor, order_id, seq, auth_id, capture_id, op, want, rest, share, resp, released)
    outcome, reauthorize = await asyncio.to_thread(_write, *args)
    if reauthorize > 0:
        outcome = (*outcome[:3], await _reauthorize(ctx, actor, order_id, seq, reauthorize), outcome[4])
    return outcome


def _write(
    ctx: s.Context,
    actor: m.Actor,
    order_id: int,
    seq: int,
    auth_id: int,
    capture_id: int,
    op: str,
    want: Decimal,
    rest: Decimal,
    share: InstalmentShare,
    resp: AcquirerResponse | None,
    released: AcquirerResponse | None,
) -> tuple[Outcome5, Decimal]:
    """The answer written under the order's lock; what remains to re-authorize (0: nothing)."""
    now = ctx.clock()
    reauthorize = ZERO
    with ctx.unit() as uow:
        order = s.load_any(uow, order_id)
        inst = order.instalment(seq)
        auth = next(a for a in order.authorizations if a.id == auth_id)
        auth.owner = None
        if resp is None:  # stays capture_pending: the reconciler asks the acquirer under the key
            store.set_capture(uow.session, capture_id, CaptureState.UNKNOWN, NO_ANSWER, now)
            uow.audit(actor.name, "CAPTURE", order_id, authorization=auth_id, amount=want, state="NO_ANSWER")
            s.commit(uow)
            return ("UNAVAILABLE", want, NO_ANSWER, ctx.label(NO_ANSWER), auth_id), ZERO
        auth.capture_pending, inst.auth_pending = False, False
        done = resp.outcome in (Outcome.CAPTURED, Outcome.VOIDED)
        store.set_capture(
            uow.session, capture_id, CaptureState.CAPTURED if done else CaptureState.REFUSED, resp.code, now
        )
        if not done:
            uow.audit(
                actor.name, "CAPTURE", order_id, authorization=auth_id, amount=want, code=resp.code, state="REFUSED"
            )
            s.commit(uow)
            return ("REFUSED", want, resp.code, resp.message or ctx.label(resp.code), auth_id), ZERO
        if resp.outcome is Outcome.CAPTURED:
            auth.captured_amount += want
        closes = op in ("final", "single", "release", "void") or auth.captured_amount >= auth.amount
        reason: str | Message = ""
        if op == "partial" and rest > 0:
            if released is not None and released.outcome is Outcome.VOIDED:
                closes, reason = True, Message("engine.ship_released", amount=rest)
            else:
                auth.void_state = m.VoidState.PENDING  # the rest is voided by the reconciler
                reason = Message("engine.ship_release_pending", amount=rest)
        elif op in ("final", "release", "void") and rest > 0:
            reason = Message("engine.ship_released", amount=rest)
        if closes and auth.state is m.AuthState.APPROVED:
            target = m.AuthState.CAPTURED if auth.captured_amount > 0 else m.AuthState.VOIDED
            auth.move(target)
            if target is m.AuthState.VOIDED:
                auth.void_state = m.VoidState.DONE
            inst.authorized_until = None
        if share.last:
            inst.state = m.InstalmentState.CAPTURED if share.captured + want > 0 else m.InstalmentState.CANCELLED
            order.settle_if_done()
        elif op == "single":
            reauthorize = auth.amount - auth.captured_amount
        order.touch(now)
        uow.audit(
            actor.name, "CAPTURE", order_id, authorization=auth_id, amount=want, state="CAPTURED",
            operation=op, released=rest if closes else ZERO, order_status=order.status.value,
        )  # fmt: skip
        s.commit(uow)
    return ("CAPTURED" if want > 0 else "SKIPPED", want, resp.code, reason, auth_id), reauthorize


async def _reauthorize(ctx: s.Context, actor: m.Actor, order_id: int, seq: int, amount: Decimal) -> Message:
    """The acquirer closed the hold with the parcel's capture: hold what remains to ship again."""
    with ctx.unit() as uow:
        order = s.load_any(uow, order_id)
        inst = order.instalment(seq)
        if order.status is not m.OrderStatus.VALIDATED or not order.card_token or order.card is None:
            return Message("engine.ship_reauth_none", amount=amount)
        auth = m.Authorization(
            order_id=order_id, instalment_id=inst.id, kind=m.AuthKind.AUTHORIZE, amount=amount,
            idempotency_key=uuid.uuid4().hex, acquirer=ctx.acquirer.name, card=order.card,
            requested_at=ctx.clock(), operator=actor.name, owner=owner.me(),
        )  # fmt: skip
        order.authorizations.append(auth)
        inst.auth_pending = True
        s.commit(uow)  # REQUESTED before the call
        auth_id, key, token = auth.id, auth.idempotency_key, order.card_token
    try:
        resp: AcquirerResponse | None = await ctx.acquirer.authorize(PaymentSource(token=token), amount, key)
    except AcquirerUnavailable:
        resp = None
    with ctx.unit() as uow:
        order = s.load_any(uow, order_id)
        auth = next(a for a in order.authorizations if a.id == auth_id)
        s.record_answer(ctx, order, auth, resp)
        uow.audit(actor.name, "REAUTHORIZE", order_id, authorization=auth_id, amount=amount, state=auth.state.value)
        s.commit(uow)
        return Message("engine.ship_reauthorized", amount=amount, state=auth.state.value, code=auth.response_code or "")


async def settle_unknown(ctx: s.Context, actor: m.Actor, order_id: int, auth_id: int) -> Message | None:
    """The reconciler's part for a parcel's capture left in flight (no answer, or its sender died):
    the acquirer says under the row's key what became of it. None: no such row for `auth_id` (a
    capture of the whole instalment, settled the usual way)."""
    with ctx.unit() as uow:
        order = s.load_any(uow, order_id)
        records = store.captures_of(uow.session, order_id)
        row = next((r for r in records if r.authorization_id == auth_id and r.state.value in store.IN_FLIGHT), None)
        if row is None:
            return None
        state = store.shipping_state(uow.session, order_id)
        share = shares(instalment_amounts(order), state, store.captured_by_instalment(records))[row.instalment_seq]
        share = InstalmentShare(share.seq, share.share, share.captured - row.amount, share.last, share.amount)
    resp = await ctx.acquirer.status(row.idempotency_key)
    if resp.outcome is Outcome.NOT_FOUND:  # never reached the acquirer: nothing was taken
        resp = AcquirerResponse(Outcome.DECLINED, "25", message="never reached the acquirer")
    elif resp.outcome is Outcome.APPROVED:  # the hold is still there untouched: the capture did not happen
        resp = AcquirerResponse(Outcome.DECLINED, "25", message="not captured")
    outcome, amount, _, _, _ = await _record(
        ctx, actor, order_id, row.instalment_seq, auth_id, row.id or 0, row.operation, row.amount, row.release,
        share, resp, None,
    )  # fmt: skip
    if outcome == "CAPTURED":
        return Message("engine.reconcile_captured", auth=auth_id, order=order_id, amount=amount)
    return Message("engine.reconcile_not_captured", auth=auth_id, order=order_id)
