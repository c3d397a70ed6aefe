"""One instalment of an order shipped in parcels captured on its own (`Engine.capture_shipped`,
`d400 order capture`), and the reconciler's part for a parcel left in flight. Decided and written
as the batched capture run does — engine.parcels decides the parcel, its capture row is committed
with the in-flight mark before the call, the answer is written by store.capture_batch — so the
rules live in one place. Also the re-authorization of what remains when an acquirer closes the
hold with a parcel's capture (no multicapture)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import date
from decimal import Decimal

from d400tui.acquirers.base import AcquirerResponse, AcquirerUnavailable, Outcome, PaymentSource
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.shipments import ZERO
from d400tui.store import capture_batch as batch
from d400tui.store import shipments as store
from d400tui.store.batch_writes import DatabaseBusy, database_errors
from d400tui.store.capture_batch import CaptureCandidate
from d400tui.store.db import UnitOfWork

from . import owner, parcels
from . import steps as s
from .capture_batch import Answered, Sent, audit_rows, decide_answers, decide_claims
from .parcels import Outcome5


def _why_not(order: m.Order, inst: m.Instalment, run_date: date) -> Message | None:
    """What keeps the order's instalment from a capture now (its authorization: decide_claims)."""
    if order.status is not m.OrderStatus.VALIDATED:
        return Message("engine.closed", order=order.id, status=m.STATUS_MESSAGE[order.status])
    if order.hold is m.PaymentHold.BLOCKED:
        return Message("engine.skip_blocked")
    if inst.state is not m.InstalmentState.PENDING:
        return Message("engine.skip_instalment", inst_state=inst.state.value.lower())
    if inst.due_date > run_date:
        return Message("engine.ship_not_due", seq=inst.seq, due=inst.due_date)
    return None


async def capture_shipped(
    ctx: s.Context, actor: m.Actor, order_id: int, seq: int, run_date: date | None = None
) -> Outcome5:
    """Capture what instalment `seq` of the order may take of what was shipped. The database work
    runs in a thread (SQLite and psycopg release the GIL)."""
    got = await asyncio.to_thread(_decide, ctx, actor, order_id, seq, run_date or ctx.today())
    if not isinstance(got, Sent) or got.parcel is None:
        return got  # type: ignore[return-value]
    holder = ctx.acquirer_for(got.auth.acquirer)
    resp, released, op = await parcels.send(holder, got.auth.acquirer_ref or "", got.parcel)
    return await _record(ctx, actor, Answered(got, resp, None, released, op))


def _decide(ctx: s.Context, actor: m.Actor, order_id: int, seq: int, run_date: date) -> Outcome5 | Sent:
    """Under the order's lock: skipped, refused, or the capture row and the in-flight mark committed."""
    with ctx.unit() as uow:
        order = s.load_any(uow, order_id)
        inst = order.instalment(seq)
        auth = order.live_authorization(inst)
        auth_id = auth.id if auth else None
        why = _why_not(order, inst, run_date)
        if why is not None:
            return "SKIPPED", ZERO, "", why, auth_id
        (c,) = batch.candidates(uow.session, [(inst.id or 0, order_id, seq)])
        if c.shipped is None:
            return "SKIPPED", ZERO, "", Message("engine.ship_nothing_due", seq=seq), auth_id
        now = ctx.clock()
        caps = lambda name: frozenset(ctx.acquirer_for(name).capabilities)  # noqa: E731
        claims, sent = decide_claims(0, [c], run_date, now, actor.name, caps)
        if not sent:
            r = claims.results[0]
            uow.audits.append(claims.audits)
            s.commit(uow)
            return r["outcome"], r["amount"], "", r["reason"], auth_id
        batch.mark_claimed(uow.session, None, now, owner.me(), claims)
        s.commit(uow)  # the row and the flag before the call: a crash leaves work the reconciler sees
        return sent[0]


async def _record(ctx: s.Context, actor: m.Actor, x: Answered) -> Outcome5:
    """The answer written as the run writes a batch; then what remains held again, if it must be."""
    out, again = await asyncio.to_thread(_write, ctx, actor, x)
    if again > 0:
        c = x.sent.cand
        out = (*out[:3], await reauthorize(ctx, actor, c.order_id, c.seq, again), out[4])
    return out


def _write(ctx: s.Context, actor: m.Actor, x: Answered) -> tuple[Outcome5, Decimal]:
    now, aid = ctx.clock(), x.sent.auth.id
    with ctx.unit(lock=True) as uow:  # SQLite: the write lock before reading what to write
        current = batch.lock_answered(uow.session, [aid])
        keys = store.in_flight_keys(uow.session, [aid])
        b, details = decide_answers(None, [x], current, ctx.label, now, keys)
        status = batch.write_capture_answers(uow.session, None, now, b)
        uow.audits.append(audit_rows(now, actor.name, details, status))
        s.commit(uow)
    r = b.results[0]
    return (r["outcome"], r["amount"], r["code"], r["reason"], aid), (b.again[0][3] if b.again else ZERO)


async def reauthorize(ctx: s.Context, actor: m.Actor, order_id: int, seq: int, amount: Decimal) -> Message:
    """The acquirer closed the hold with the parcel's capture: hold what remains to ship again."""
    with ctx.unit() as uow:
        order = s.load_any(uow, order_id)
        inst = order.instalment(seq)
        if order.status is not m.OrderStatus.VALIDATED or not order.card_token or order.card is None:
            return Message("engine.ship_reauth_none", amount=amount)
        holder = ctx.token_acquirer(order.token_acquirer)  # the token's issuer (issuer branch)
        if holder is None:
            return Message("engine.token_acquirer_gone", acquirer=order.token_acquirer)
        auth = m.Authorization(
            order_id=order_id, instalment_id=inst.id, kind=m.AuthKind.AUTHORIZE, amount=amount,
            idempotency_key=uuid.uuid4().hex, acquirer=holder.name, card=order.card,
            requested_at=ctx.clock(), operator=actor.name, owner=owner.me(),
        )  # fmt: skip
        order.authorizations.append(auth)
        inst.auth_pending = True
        s.commit(uow)  # REQUESTED before the call
        auth_id, key, token = auth.id, auth.idempotency_key, order.card_token
    try:
        resp: AcquirerResponse | None = await holder.authorize(PaymentSource(token=token), amount, key)
    except AcquirerUnavailable:
        resp = None
    with ctx.unit() as uow:
        order = s.load_any(uow, order_id)
        auth = next(a for a in order.authorizations if a.id == auth_id)
        s.record_answer(ctx, order, auth, resp)
        uow.audit(actor.name, "REAUTHORIZE", order_id, authorization=auth_id, amount=amount, state=auth.state.value)
        s.commit(uow)
        return Message("engine.ship_reauthorized", amount=amount, state=auth.state.value, code=auth.response_code or "")


async def reauthorize_all(
    ctx: s.Context, actor: m.Actor, run_id: int, again: list[tuple[int, int, int, Decimal]]
) -> None:
    """A run's parcels whose hold closed with their capture (no multicapture): what remains held
    again, said on the parcel's line of the run's report."""
    for aid, order_id, seq, amount in again:
        why = await reauthorize(ctx, actor, order_id, seq, amount)
        with contextlib.suppress(DatabaseBusy), database_errors(), ctx.unit() as uow:
            batch.set_result_reason(uow.session, run_id, aid, why)
            uow.commit()


def sent_again(uow: UnitOfWork, cands: list[CaptureCandidate]) -> list[Sent]:
    """A lost worker's captures in flight, taken over: a parcel sent again as its row says (its
    key, operation and amount), never as the capture of the whole instalment."""
    rows = store.in_flight_rows(uow.session, [c.auth.id for c in cands if c.auth is not None])
    facts = store.shipped_orders(uow.session, [c.order_id for c in cands if c.auth and c.auth.id in rows])
    out = []
    for c in cands:
        if c.auth is not None:
            row = rows.get(c.auth.id)
            out.append(Sent(c, c.auth, parcels.of_row(row, facts.get(c.order_id)) if row else None))
    return out


async def settle_unknown(ctx: s.Context, actor: m.Actor, order_id: int, auth_id: int) -> Message | None:
    """The reconciler's part for a parcel's capture left in flight (no answer, or its sender died):
    the acquirer says under the row's key what became of it. None: no such row for `auth_id` (a
    capture of the whole instalment, settled the usual way)."""
    with ctx.unit() as uow:
        row = store.in_flight_rows(uow.session, [auth_id]).get(auth_id)
        if row is None:
            return None
        order = s.load_any(uow, order_id)
        inst = order.instalment(row.instalment_seq)
        (c,) = batch.candidates(uow.session, [(inst.id or 0, order_id, row.instalment_seq)])
        holder = ctx.acquirer_for(c.auth.acquirer if c.auth else "")
    if c.auth is None or c.auth.id != auth_id:
        return None
    resp = await holder.status(row.idempotency_key)
    if resp.outcome is Outcome.NOT_FOUND:  # never reached the acquirer: nothing was taken
        resp = AcquirerResponse(Outcome.DECLINED, "25", message="never reached the acquirer")
    elif resp.outcome is Outcome.APPROVED:  # the hold is still there untouched: the capture did not happen
        resp = AcquirerResponse(Outcome.DECLINED, "25", message="not captured")
    x = Answered(Sent(c, c.auth, parcels.of_row(row, c.shipped)), resp, None, None, row.operation)
    outcome, amount, _, _, _ = await _record(ctx, actor, x)
    if outcome == "CAPTURED":
        return Message("engine.reconcile_captured", auth=auth_id, order=order_id, amount=amount)
    return Message("engine.reconcile_not_captured", auth=auth_id, order=order_id)
