"""Shipping: record a parcel of an order's lines (`d400 order ship`, the "Expédier" option), and
say what the invoicing capture will take for it. The capture itself is `shipped_capture.py`.

Rules: never more than ordered per line (the parcels of a line add up to its gross to the cent);
only a validated order ships (a draft, cancelled, deleted or invoiced one is refused, in words);
the last parcel — every line shipped, or `final` said — closes the order's shipping, after which
its capture releases what remains authorized. Each parcel is audited."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.shipments import (
    ZERO,
    CaptureRecord,
    InstalmentShare,
    Shipment,
    ShipmentError,
    ShippingState,
    all_shipped,
    plan_parcel,
    shares,
)
from d400tui.store import shipments as store

from . import steps as s
from .errors import EngineError


@dataclass(frozen=True)
class ShipResult:
    shipment: Shipment
    state: ShippingState  # after this parcel
    due: dict[int, Decimal]  # instalment → what its capture will take (when it is due)
    message: Message


@dataclass(frozen=True)
class ShippingView:
    """An order's shipments and what each instalment may capture, for the screen and `order show`."""

    shipments: list[Shipment]
    state: ShippingState
    left: dict[int, int]  # order line → quantity still to ship
    shares: dict[int, InstalmentShare]
    captures: list[CaptureRecord]


def instalment_amounts(order: m.Order) -> list[tuple[int, Decimal]]:
    """The instalments shipped money is allotted to: all but the dropped ones."""
    return [(i.seq, i.amount) for i in order.instalments if i.state is not m.InstalmentState.CANCELLED]


def ensure_shippable(order: m.Order) -> None:
    if order.status is m.OrderStatus.DRAFT:
        raise EngineError("engine.ship_not_validated", order=order.id)
    if order.status is not m.OrderStatus.VALIDATED:
        raise EngineError("engine.closed", order=order.id, status=m.STATUS_MESSAGE[order.status])
    if order.hold is m.PaymentHold.BLOCKED:  # a payment hold keeps the goods in the warehouse
        raise EngineError("engine.ship_blocked", order=order.id)
    if order.awaiting_decision:  # a refusal nobody has decided on yet
        raise EngineError("engine.ship_awaiting", order=order.id)


def ship(
    ctx: s.Context, actor: m.Actor, order_id: int, lines: list[tuple[str, int]], final: bool = False
) -> ShipResult:
    """Record one parcel of `lines` (article, quantity) under the order's lock."""
    with ctx.unit() as uow:
        order = s.load_any(uow, order_id)
        ensure_shippable(order)
        before = store.shipping_state(uow.session, order_id)
        if before.final:
            raise EngineError("engine.ship_done", order=order_id)
        ordered = store.ordered_lines(order)
        if lines or not final:
            parcel = plan_parcel(ordered, before.lines, lines)
        else:
            parcel = []  # `final` alone: nothing more will ship, the rest is released
        after = dict(before.lines)
        for ln in parcel:
            after[ln.line_no] = after.get(ln.line_no, 0) + ln.quantity
        last = final or all_shipped(ordered, after)
        amount = sum((ln.amount for ln in parcel), ZERO)
        now = ctx.clock()
        shipment = Shipment(order_id, now, actor.name, last, amount, tuple(parcel))
        sid = store.add_shipment(uow.session, shipment)
        order.touch(now)  # a terminal editing the order meanwhile sees the change (version)
        state = ShippingState(before.shipped + amount, last, before.parcels + 1, after)
        captured = store.captured_by_instalment(store.captures_of(uow.session, order_id))
        due = {seq: sh.due for seq, sh in shares(instalment_amounts(order), state, captured).items()}
        uow.audit(
            actor.name,
            "SHIP",
            order_id,
            shipment=sid,
            amount=amount,
            final=last,
            lines=" ".join(f"{ln.article_code}:{ln.quantity}" for ln in parcel),
        )
        s.commit(uow)
    key = "engine.shipped_final" if last else "engine.shipped"
    shipped = Shipment(order_id, now, actor.name, last, amount, tuple(parcel), sid)
    return ShipResult(shipped, state, due, Message(key, order=order_id, shipment=sid, amount=amount))


def shipping_view(ctx: s.Context, order_id: int) -> ShippingView:
    with ctx.unit() as uow:
        order = uow.orders.get(order_id) if s.id_in_range(order_id) else None
        if order is None or order.status is m.OrderStatus.DELETED:
            raise EngineError("engine.order_unknown", order=order_id)
        state = store.shipping_state(uow.session, order_id)
        records = store.captures_of(uow.session, order_id)
        captured = store.captured_by_instalment(records)
        left = {ln.line_no: ln.quantity - state.lines.get(ln.line_no, 0) for ln in store.ordered_lines(order)}
        return ShippingView(
            store.shipments_of(uow.session, order_id),
            state,
            left,
            shares(instalment_amounts(order), state, captured),
            records,
        )


__all__ = ["ShipResult", "ShipmentError", "ShippingView", "ship", "shipping_view"]
