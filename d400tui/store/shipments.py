"""Shipments and the captures of what they shipped: Core statements on the tables of 0010. The
engine reads an order's shipping state and its capture rows here, under the order's lock."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, case, exists, func, insert, select, type_coerce, update
from sqlalchemy.orm import Session

from d400tui.domain import model as m
from d400tui.domain.money import from_cents
from d400tui.domain.shipments import (
    CaptureRecord,
    CaptureState,
    OrderedLine,
    Shipment,
    ShipmentLine,
    ShippingState,
    shares,
)

from . import tables as t
from .claims import due_where

IN_FLIGHT = (CaptureState.REQUESTED.value, CaptureState.UNKNOWN.value)


def ordered_lines(order: m.Order) -> list[OrderedLine]:
    """The order's lines as a shipment sees them (their line numbers as stored)."""
    return [
        OrderedLine(getattr(ln, "line_no", i + 1), ln.article_code, ln.quantity, ln.unit_price, ln.vat_rate)
        for i, ln in enumerate(order.lines)
    ]


def shipping_state(session: Session, order_id: int) -> ShippingState:
    s, sl = t.shipments, t.shipment_lines
    head = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(type_coerce(s.c.amount, BigInteger)), 0),
            func.coalesce(func.sum(case((s.c.final.is_(True), 1), else_=0)), 0),
        ).where(s.c.order_id == order_id)
    ).one()
    lines = session.execute(
        select(sl.c.line_no, func.sum(sl.c.quantity))
        .join(s, s.c.id == sl.c.shipment_id)
        .where(s.c.order_id == order_id)
        .group_by(sl.c.line_no)
    ).all()
    return ShippingState(from_cents(int(head[1])), bool(head[2]), int(head[0]), {int(r[0]): int(r[1]) for r in lines})


def add_shipment(session: Session, shipment: Shipment) -> int:
    sid = session.execute(
        insert(t.shipments)
        .values(
            order_id=shipment.order_id,
            shipped_at=shipment.shipped_at,
            operator=shipment.operator,
            final=shipment.final,
            amount=shipment.amount,
        )
        .returning(t.shipments.c.id)
    ).scalar_one()
    if not shipment.lines:  # `final` alone: nothing more will ship
        return int(sid)
    session.execute(
        insert(t.shipment_lines),
        [
            {
                "shipment_id": sid,
                "line_no": ln.line_no,
                "article_code": ln.article_code,
                "quantity": ln.quantity,
                "amount": ln.amount,
            }
            for ln in shipment.lines
        ],
    )
    return int(sid)


def shipments_of(session: Session, order_id: int) -> list[Shipment]:
    s, sl = t.shipments, t.shipment_lines
    heads = session.execute(select(s).where(s.c.order_id == order_id).order_by(s.c.id)).all()
    rows = session.execute(
        select(sl).join(s, s.c.id == sl.c.shipment_id).where(s.c.order_id == order_id).order_by(sl.c.id)
    ).all()
    by_shipment: dict[int, list[ShipmentLine]] = {}
    for r in rows:
        by_shipment.setdefault(r.shipment_id, []).append(ShipmentLine(r.line_no, r.article_code, r.quantity, r.amount))
    return [
        Shipment(h.order_id, h.shipped_at, h.operator, h.final, h.amount, tuple(by_shipment.get(h.id, [])), h.id)
        for h in heads
    ]


def _record(r: object) -> CaptureRecord:
    return CaptureRecord(
        order_id=r.order_id,  # type: ignore[attr-defined]
        authorization_id=r.authorization_id,  # type: ignore[attr-defined]
        instalment_seq=r.instalment_seq,  # type: ignore[attr-defined]
        amount=r.amount,  # type: ignore[attr-defined]
        idempotency_key=r.idempotency_key,  # type: ignore[attr-defined]
        operation=r.operation,  # type: ignore[attr-defined]
        state=CaptureState(r.state),  # type: ignore[attr-defined]
        release=r.release,  # type: ignore[attr-defined]
        response_code=r.response_code,  # type: ignore[attr-defined]
        requested_at=r.requested_at,  # type: ignore[attr-defined]
        answered_at=r.answered_at,  # type: ignore[attr-defined]
        operator=r.operator,  # type: ignore[attr-defined]
        id=r.id,  # type: ignore[attr-defined]
    )


def captures_of(session: Session, order_id: int) -> list[CaptureRecord]:
    c = t.captures
    return [_record(r) for r in session.execute(select(c).where(c.c.order_id == order_id).order_by(c.c.id)).all()]


def captured_by_instalment(records: list[CaptureRecord]) -> dict[int, Decimal]:
    """Per instalment: what was captured or may have been (in flight, unknown): never taken twice."""
    out: dict[int, Decimal] = {}
    for r in records:
        if r.state is CaptureState.CAPTURED or r.state.value in IN_FLIGHT:
            out[r.instalment_seq] = out.get(r.instalment_seq, Decimal("0.00")) + r.amount
    return out


def add_capture(session: Session, record: CaptureRecord) -> int:
    c = t.captures
    cid = session.execute(
        insert(c)
        .values(
            order_id=record.order_id,
            authorization_id=record.authorization_id,
            instalment_seq=record.instalment_seq,
            amount=record.amount,
            release=record.release,
            operation=record.operation,
            idempotency_key=record.idempotency_key,
            state=record.state.value,
            response_code=record.response_code,
            requested_at=record.requested_at,
            operator=record.operator,
        )
        .returning(c.c.id)
    ).scalar_one()
    return int(cid)


def set_capture(
    session: Session, capture_id: int, state: CaptureState, code: str, at: datetime, release: Decimal | None = None
) -> None:
    values: dict[str, object] = {"state": state.value, "response_code": code[:4], "answered_at": at}
    if release is not None:
        values["release"] = release
    session.execute(update(t.captures).where(t.captures.c.id == capture_id).values(**values))


def orders_with_shipments_due(session: Session, order_ids: list[int]) -> set[int]:
    """Those of `order_ids` that have shipments: their capture takes what was shipped."""
    if not order_ids:
        return set()
    s = t.shipments
    return set(session.scalars(select(s.c.order_id).where(s.c.order_id.in_(order_ids)).distinct()))


def _shipped_orders() -> Any:
    """Orders that have at least one shipment: their capture takes what was shipped."""
    s = t.shipments
    return exists(select(s.c.id).where(s.c.order_id == t.orders.c.id))


def shipped_due_amounts(session: Session, inst_ids: list[int]) -> dict[int, Decimal]:
    """Of `inst_ids`, those of orders with shipments → what their capture takes now: their share of
    what was shipped less what was captured (shipped money fills instalment 1 first). Others are
    left out: their capture takes the whole instalment."""
    if not inst_ids:
        return {}
    i = t.instalments
    orders = select(i.c.order_id).where(i.c.id.in_(inst_ids))
    rows = session.execute(
        select(i.c.id, i.c.order_id, i.c.seq, i.c.amount, i.c.state)
        .where(i.c.order_id.in_(orders), i.c.order_id.in_(select(t.shipments.c.order_id)))
        .order_by(i.c.order_id, i.c.seq)
    ).all()
    by_order: dict[int, list[Any]] = {}
    for r in rows:
        by_order.setdefault(r.order_id, []).append(r)
    wanted, out = set(inst_ids), {}
    for order_id, insts in by_order.items():
        state = shipping_state(session, order_id)
        captured = captured_by_instalment(captures_of(session, order_id))
        alive = [(r.seq, r.amount) for r in insts if r.state != m.InstalmentState.CANCELLED.value]
        due = shares(alive, state, captured)
        for r in insts:
            if r.id in wanted:
                out[r.id] = due[r.seq].due if r.seq in due else Decimal("0.00")
    return out


def shipped_worklist(session: Session, run_date: date) -> list[tuple[int, int]]:
    """(order id, seq) of the due instalments of orders with shipments, orders not blocked: the
    capture run takes them one at a time (a parcel may be a partial capture and release the rest)."""
    i, o = t.instalments, t.orders
    rows = session.execute(
        select(i.c.order_id, i.c.seq)
        .join(o, o.c.id == i.c.order_id)
        .where(due_where(session.get_bind().dialect.name, run_date), o.c.hold != m.PaymentHold.BLOCKED.value)
        .where(_shipped_orders())
        .order_by(i.c.order_id, i.c.seq)
    ).all()
    return [(r[0], r[1]) for r in rows]


def not_shipped() -> Any:
    """A condition for the batched capture's claim: the order has no shipment (whole instalments)."""
    return ~_shipped_orders()


def add_run_result(
    session: Session, run_id: int, order_id: int, seq: int, outcome: str, amount: Decimal, code: str, reason: Any,
    auth_id: int | None,
) -> None:  # fmt: skip
    """A shipped instalment's line in the capture run's report, and the run's count of its outcome."""
    column = {"CAPTURED": "approved", "REFUSED": "refused", "UNAVAILABLE": "unavailable"}.get(outcome, "skipped")
    session.execute(
        insert(t.run_results).values(
            run_id=run_id, order_id=order_id, instalment_seq=seq, outcome=outcome, amount=amount, code=code[:4],
            category="", reason=reason if not isinstance(reason, str) else reason[:200], authorization_id=auth_id,
        )
    )  # fmt: skip
    r = t.precheck_runs
    session.execute(update(r).where(r.c.id == run_id).values({column: r.c[column] + 1}))
