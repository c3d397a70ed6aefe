"""Changes that make a hold useless: deleting or cancelling an order, cancelling a deferred
instalment (DESIGN §1.4), changing the payment method. Each marks the live authorizations for void
in the same transaction as the change, then voids them in real time: a process killed in between
leaves work the reconciler finishes, never a forgotten hold."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.domain.cards import CardData

from . import authorizing, lookups
from . import steps as s
from .errors import EngineError
from .results import ValidationResult


async def delete_order(ctx: s.Context, actor: m.Actor, order_id: int) -> ValidationResult:
    return await _close_order(ctx, actor, order_id, None)


async def cancel_order(ctx: s.Context, actor: m.Actor, order_id: int, reason: str) -> ValidationResult:
    if not reason or not reason.strip():
        raise EngineError("engine.cancel_reason_required", field="reason")
    return await _close_order(ctx, actor, order_id, reason)


async def _close_order(ctx: s.Context, actor: m.Actor, order_id: int, reason: str | None) -> ValidationResult:
    with ctx.unit() as uow:
        order = s.load(uow, order_id)
        live = s.mark_for_void(order)
        if reason is None:
            order.delete()
            uow.audit(actor.name, "ORDER_DELETE", order_id, total=order.total, voids=len(live))
        else:
            order.cancel(reason)
            uow.audit(actor.name, "ORDER_CANCEL", order_id, reason=reason[:200], voids=len(live))
        order.awaiting_decision = False
        order.touch(ctx.clock())
        s.commit(uow)
    voids = await ctx.void_all(actor, order_id, live)
    with ctx.unit() as uow:
        return ValidationResult(s.load_any(uow, order_id), voids=voids)


async def cancel_deferred(ctx: s.Context, actor: m.Actor, order_id: int, seq: int, pay_now: bool) -> ValidationResult:
    """DESIGN §1.4: void the deferred instalment's authorization, then drop it or pay it now."""
    with ctx.unit() as uow:
        order = s.load(uow, order_id)
        order.ensure_open()
        order.ensure_phone()
        inst = order.instalment(seq)
        if inst.state is not m.InstalmentState.PENDING:
            state = inst.state.value.lower()
            raise EngineError("engine.instalment_already", field="instalment", seq=seq, inst_state=state)
        if not inst.is_deferred(order.order_date):
            raise EngineError("engine.not_deferred", field="instalment", seq=seq)
        order.check_settled(inst)
        live = order.live_authorization(inst)
        live_id = live.id if live else None
        if live is not None:
            live.void_state = m.VoidState.PENDING  # committed with the decision: a crash cannot lose it
        s.commit(uow)
    voids = await ctx.void_all(actor, order_id, [live_id] if live_id else [])
    with ctx.unit() as uow:
        order = s.load(uow, order_id)
        inst = order.instalment(seq)
        if pay_now:
            inst.due_date = ctx.today()
            uow.audit(actor.name, "DEFERRED_PAY_NOW", order_id, instalment=seq, amount=inst.amount)
        else:
            inst.state = m.InstalmentState.CANCELLED
            order.total = order.total - inst.amount
            order.settle_if_done()
            uow.audit(
                actor.name,
                "DEFERRED_DROP",
                order_id,
                instalment=seq,
                amount=inst.amount,
                order_status=order.status.value,
            )
        order.touch(ctx.clock())
        s.commit(uow)
    if pay_now:
        return await authorizing.authorize_after_change(ctx, actor, order_id, None, voids, only_seq=seq)
    return ValidationResult(lookups.get_order(ctx, order_id), voids=voids)


async def change_payment_method(
    ctx: s.Context, actor: m.Actor, order_id: int, method: m.PaymentMethod, card: CardData | None = None
) -> ValidationResult:
    """Void what the old card holds, then authorize the new card (or nothing for cheque/transfer)."""
    if method is m.PaymentMethod.CARD:
        card = s.check_card(ctx, card)
    with ctx.unit() as uow:
        order = s.load(uow, order_id)
        order.ensure_open()
        for inst in order.pending_instalments():
            # A new card is authorized at once: nothing may be in flight. Cheque or transfer only
            # needs the old holds gone: a call in flight is voided when its answer arrives.
            order.check_settled(inst, allow_in_flight=method is not m.PaymentMethod.CARD)
        live = s.mark_for_void(order)
        old = f"{order.payment_method.value} {order.card or ''}".strip()
        # The new method is written with the old holds' void marks, before any void: a pre-check
        # claim after this commit finds no card to hold, and one in flight is voided on its answer
        # (cheque-races-precheck: in a second transaction, a pre-check landing between kept its hold).
        order.payment_method = method
        order.set_card(card.masked if card else None, None)
        order.awaiting_decision = False
        order.hold = m.PaymentHold.NONE
        uow.audit(
            actor.name, "PAYMENT_CHANGE", order_id, old=old, new=f"{method.value} {card.masked if card else ''}".strip()
        )
        order.touch(ctx.clock())
        s.commit(uow)
        status = order.status
    voids = await ctx.void_all(actor, order_id, live)
    if method is m.PaymentMethod.CARD and status is m.OrderStatus.VALIDATED:
        return await authorizing.authorize_after_change(ctx, actor, order_id, card, voids)
    return ValidationResult(lookups.get_order(ctx, order_id), voids=voids)
