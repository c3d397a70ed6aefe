"""Placing orders: a draft with its lines and instalment schedule, its validation (the card
authorized under the plan of `authorizing`), and changing the lines of an open order. Amounts past
what money and every amount column take are refused before any row is written."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.domain.cards import CardData
from d400tui.domain.message import Message
from d400tui.domain.money import MAX_AMOUNT, MoneyError, split
from d400tui.store.db import UnitOfWork
from d400tui.store.shipments import shipping_state

from . import authorizing, lookups
from . import steps as s
from .errors import EngineError, NotFound
from .results import ValidationResult


def create_order(
    ctx: s.Context,
    actor: m.Actor,
    customer_id: int,
    lines: list[tuple[str, int]],
    channel: m.Channel = m.Channel.PHONE,
    payment_method: m.PaymentMethod = m.PaymentMethod.CARD,
    plan: m.Plan | None = None,
) -> m.Order:
    """Save a DRAFT order with its lines and instalment schedule (no acquirer call)."""
    with ctx.unit() as uow:
        order = build_order(ctx, uow, actor, customer_id, lines, channel, payment_method, plan)
        s.commit(uow)
        return order


def build_order(
    ctx: s.Context,
    uow: UnitOfWork,
    actor: m.Actor,
    customer_id: int,
    lines: list[tuple[str, int]],
    channel: m.Channel,
    payment_method: m.PaymentMethod,
    plan: m.Plan | None,
) -> m.Order:
    """The new order added to `uow` (flushed, so it has its id), not committed."""
    plan = plan or m.Plan()
    now = ctx.clock()
    if not s.id_in_range(customer_id) or uow.customers.get(customer_id) is None:
        raise NotFound("engine.customer_unknown", field="customer", customer=customer_id)
    order = m.Order(customer_id, channel, payment_method, actor.name, now, now.date(), plan=str(plan))
    set_lines(uow, order, lines)
    order.instalments = plan.schedule(order.total, now.date())
    order.touch(now)
    uow.orders.add(order)
    s.flush(uow)
    uow.audit(
        actor.name,
        "ORDER_CREATE",
        order.id,
        total=order.total,
        plan=str(plan),
        channel=channel.value,
        method=payment_method.value,
    )
    return order


def set_lines(uow: UnitOfWork, order: m.Order, lines: list[tuple[str, int]]) -> None:
    if not lines:
        raise EngineError("engine.no_order_line", field="article")
    if len(lines) > 99:
        raise EngineError("engine.too_many_lines", field="article")
    new: list[m.OrderLine] = []
    for code, qty in lines:
        art = uow.articles.get(code)
        if art is None:
            raise NotFound("engine.article_unknown", field="article", article=code.strip().upper()[:12])
        new.append(m.OrderLine(art.code, art.label, qty, art.unit_price, art.vat_rate))
    for i, line in enumerate(new, 1):
        line.line_no = i  # type: ignore[attr-defined]
    # Refused here, before any row is written: an amount past what money (and every amount
    # column, the acquirers' amount fields) takes would otherwise fail at the database.
    try:
        totals = m.order_totals(new)
    except MoneyError:
        totals = (MAX_AMOUNT + 1,) * 3
    if totals[2] > MAX_AMOUNT:
        raise EngineError("engine.total_too_large", field="article", max=MAX_AMOUNT)
    order.lines = new
    order.recompute_total()


async def place_order(
    ctx: s.Context,
    actor: m.Actor,
    customer_id: int,
    lines: list[tuple[str, int]],
    card: CardData | None,
    channel: m.Channel = m.Channel.PHONE,
    payment_method: m.PaymentMethod = m.PaymentMethod.CARD,
    plan: m.Plan | None = None,
) -> ValidationResult:
    """Create and validate (the F10 of order entry, `d400 order new`). For a phone card order,
    the order, its validation and the first REQUESTED row are one transaction before the call."""
    if channel is not m.Channel.PHONE or payment_method is not m.PaymentMethod.CARD:
        order = create_order(ctx, actor, customer_id, lines, channel, payment_method, plan)
        return await validate_order(ctx, actor, order.id or 0, card)
    card = s.check_card(ctx, card)
    with ctx.unit() as uow:
        order = build_order(ctx, uow, actor, customer_id, lines, channel, payment_method, plan)
        prepare_validation(uow, order, actor, card)
        return await authorizing.authorize_planned(ctx, uow, actor, order, card)


async def validate_order(ctx: s.Context, actor: m.Actor, order_id: int, card: CardData | None) -> ValidationResult:
    """Validate a draft: authorize every instalment due within its validity window (the
    immediate one always), verify the card for those due later. Never sets the hold."""
    with ctx.unit() as uow:
        order = s.load(uow, order_id)
        if order.status is not m.OrderStatus.DRAFT:
            raise EngineError("engine.already", order=order_id, status=m.STATUS_MESSAGE[order.status])
        if order.channel is not m.Channel.PHONE or order.payment_method is not m.PaymentMethod.CARD:
            order.validate()
            order.touch(ctx.clock())
            uow.audit(actor.name, "ORDER_VALIDATE", order.id, authorization="none")
            s.commit(uow)
            note = (
                Message("engine.note_channel", channel=order.channel.value)
                if order.channel is not m.Channel.PHONE
                else Message("engine.note_method", method=order.payment_method.value)
            )
            return ValidationResult(order, note=note)
        card = s.check_card(ctx, card)
        prepare_validation(uow, order, actor, card)
        return await authorizing.authorize_planned(ctx, uow, actor, order, card)


def prepare_validation(uow: UnitOfWork, order: m.Order, actor: m.Actor, card: CardData) -> None:
    order.set_card(card.masked, None)
    order.validate()
    uow.audit(actor.name, "ORDER_VALIDATE", order.id, card=str(card.masked))


async def modify_lines(ctx: s.Context, actor: m.Actor, order_id: int, lines: list[tuple[str, int]]) -> ValidationResult:
    """Replace the lines of an open order. The new total is spread over the pending
    instalments; a validated card order's live authorizations are voided and the card (its
    token) authorized again for the new amounts."""
    with ctx.unit() as uow:
        order = s.load(uow, order_id)
        order.ensure_open()
        if any(i.state is m.InstalmentState.CAPTURED for i in order.instalments):
            raise EngineError("engine.modify_captured", order=order_id)
        if shipping_state(uow.session, order_id).parcels:  # its lines have started to ship (issue 12.1)
            raise EngineError("engine.modify_shipped", order=order_id)
        pending = order.pending_instalments()
        for inst in pending:
            order.check_settled(inst)
        old_total = order.total
        set_lines(uow, order, lines)
        if not pending:
            raise EngineError("engine.nothing_due", order=order_id)
        for inst, amount in zip(pending, split(order.total, len(pending)), strict=True):
            inst.amount = amount
        reauthorize = (
            order.status is m.OrderStatus.VALIDATED
            and order.channel is m.Channel.PHONE
            and order.payment_method is m.PaymentMethod.CARD
            and bool(order.card_token)
        )
        live = s.mark_for_void(order) if reauthorize else []
        uow.audit(
            actor.name,
            "ORDER_MODIFY",
            order_id,
            old_total=old_total,
            new_total=order.total,
            lines=len(order.lines),
            voids=len(live),
        )
        order.touch(ctx.clock())
        s.commit(uow)
    voids = await ctx.void_all(actor, order_id, live) if reauthorize else []
    if reauthorize:
        return await authorizing.authorize_after_change(ctx, actor, order_id, None, voids)
    return ValidationResult(lookups.get_order(ctx, order_id), voids=voids)
