"""Shipments and the captures of what they shipped: Core statements on the tables of 0010. The
engine reads an order's shipping state and its capture rows here, under the order's lock."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import BigInteger, and_, case, func, insert, select, text, type_coerce
from sqlalchemy.orm import Session

from d400tui.domain import model as m
from d400tui.domain.money import from_cents, to_cents
from d400tui.domain.shipments import (
    ZERO,
    CaptureRecord,
    CaptureState,
    InstalmentShare,
    OrderedLine,
    Shipment,
    ShipmentLine,
    ShippingState,
    shares,
)

from . import tables as t
from .in_lists import in_list
from .json_rows import dumps, source, timestamp

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


def orders_with_shipments_due(session: Session, order_ids: list[int]) -> set[int]:
    """Those of `order_ids` that have shipments: their capture takes what was shipped."""
    if not order_ids:
        return set()
    s = t.shipments
    return set(session.scalars(select(s.c.order_id).where(s.c.order_id.in_(order_ids)).distinct()))


@dataclass
class ShippedOrder:
    """An order shipped in parcels as its capture reads it, for a whole claim at once: the
    shipments summed up, what each instalment captured or may have (in flight), how many capture
    rows each authorization has (the next one's key), and each instalment's share of what shipped."""

    state: ShippingState
    captured: dict[int, Decimal]
    rows: dict[int, int]
    share: dict[int, InstalmentShare]


def shipped_orders(session: Session, order_ids: list[int]) -> dict[int, ShippedOrder]:
    """Of `order_ids`, those with shipments, in two statements whatever their number (a claim
    of N instalments reads them at once: no statement per order): the shipments summed up per
    order with its instalments still to pay joined on, then the orders' capture rows."""
    if not order_ids:
        return {}
    s, c, i = t.shipments, t.captures, t.instalments
    heads = (
        select(
            s.c.order_id,
            func.count().label("n"),
            func.coalesce(func.sum(type_coerce(s.c.amount, BigInteger)), 0).label("cents"),
            func.coalesce(func.sum(case((s.c.final.is_(True), 1), else_=0)), 0).label("finals"),
        )
        .where(in_list(s.c.order_id, "orders"))  # one array on PostgreSQL: the same text every claim
        .group_by(s.c.order_id)
        .subquery()
    )
    # the instalments by their own index on the order ids too: a planner on stale statistics (a
    # table just filled) looped over a scan of every instalment instead, 47 ms a claim (measured)
    alive = and_(
        i.c.order_id == heads.c.order_id,
        in_list(i.c.order_id, "orders"),
        i.c.state != m.InstalmentState.CANCELLED.value,
    )
    q = select(heads.c.order_id, heads.c.n, heads.c.cents, heads.c.finals, i.c.seq, i.c.amount)
    states: dict[int, ShippingState] = {}
    insts: dict[int, list[tuple[int, Decimal]]] = {}
    got = session.execute(q.select_from(heads.outerjoin(i, alive)), {"orders": sorted(set(order_ids))})
    for order_id, n, cents, finals, seq, amount in got:
        if order_id not in states:  # one row per instalment still to pay (one with none: an order without)
            states[order_id] = ShippingState(from_cents(int(cents)), bool(finals), int(n))
            insts[order_id] = []
        if seq is not None:
            insts[order_id].append((seq, amount))
    if not states:
        return {}
    shipped = sorted(states)
    captured: dict[int, dict[int, Decimal]] = {o: {} for o in shipped}
    rows: dict[int, dict[int, int]] = {o: {} for o in shipped}
    q = select(c.c.order_id, c.c.authorization_id, c.c.instalment_seq, c.c.amount, c.c.state)
    for r in session.execute(q.where(in_list(c.c.order_id, "shipped")), {"shipped": shipped}):
        rows[r.order_id][r.authorization_id] = rows[r.order_id].get(r.authorization_id, 0) + 1
        if r.state == CaptureState.CAPTURED.value or r.state in IN_FLIGHT:  # never taken twice
            captured[r.order_id][r.instalment_seq] = captured[r.order_id].get(r.instalment_seq, ZERO) + r.amount
    return {o: ShippedOrder(states[o], captured[o], rows[o], shares(insts[o], states[o], captured[o])) for o in shipped}


def shipped_due_amounts(session: Session, inst_ids: list[int]) -> dict[int, Decimal]:
    """Of `inst_ids`, those of orders with shipments → what their capture takes now: their share of
    what was shipped less what was captured (shipped money fills instalment 1 first). Others are
    left out: their capture takes the whole instalment."""
    if not inst_ids:
        return {}
    i = t.instalments
    insts = session.execute(select(i.c.id, i.c.order_id, i.c.seq).where(i.c.id.in_(inst_ids))).all()
    facts = shipped_orders(session, [r[1] for r in insts])
    return {r[0]: _due(facts[r[1]], r[2]) for r in insts if r[1] in facts}


def _due(order: ShippedOrder, seq: int) -> Decimal:
    share = order.share.get(seq)
    return share.due if share is not None else ZERO


_ROW = ("order_id", "authorization_id", "instalment_seq", "amount", "release", "operation", "idempotency_key")
_ROW_MORE = ("response_code", "requested_at", "operator")


_NEW_ROWS = {
    d: source(
        d,
        dict(
            order_id="int",
            authorization_id="int",
            instalment_seq="int",
            amount="bigint",
            release="bigint",
            operation="text",
            idempotency_key="text",
            state="text",
            response_code="text",
            requested_at="timestamp",
            operator="text",
        ),
    )  # fmt: skip
    for d in ("postgresql", "sqlite")
}


_COLS = _ROW + _ROW_MORE + ("state",)
_ADD_CAPTURES = {
    d: f"INSERT INTO captures ({', '.join(_COLS)}) SELECT {', '.join(f'v.{c}' for c in _COLS)} FROM {_NEW_ROWS[d]}"
    for d in _NEW_ROWS
}
ADDED = text(_ADD_CAPTURES["postgresql"] + " RETURNING captures.id").columns(t.captures.c.id).cte("added")
"""PostgreSQL: `add_captures` as a CTE of the statement that marks their authorizations in flight
(`captures_json` binds its `:rows`): one statement for both."""


def captures_json(dialect: str, records: list[CaptureRecord]) -> str:
    """Capture rows, REQUESTED, as `add_captures` binds them."""
    rows = [
        dict(
            {k: getattr(r, k) for k in _ROW + _ROW_MORE},
            amount=to_cents(r.amount),
            release=to_cents(r.release),
            state=r.state.value,
            requested_at=timestamp(dialect, r.requested_at),
        )  # fmt: skip
        for r in records
    ]
    return dumps(rows)


def add_captures(session: Session, records: list[CaptureRecord]) -> None:
    """Capture rows, REQUESTED, in one INSERT from JSON rows (a claim's parcels, before their
    calls): one execution on the server, where an executemany ran one a row."""
    if not records:
        return
    conn = session.connection()
    d = conn.dialect.name
    conn.execute(text(_ADD_CAPTURES[d]), {"rows": captures_json(d, records)})


_c = t.captures


def in_flight_keys(session: Session, auth_ids: list[int]) -> set[str]:
    """The keys of the capture rows of `auth_ids` still in flight (an answer is written for those only)."""
    if not auth_ids:
        return set()
    q = select(_c.c.idempotency_key).where(_c.c.authorization_id.in_(sorted(set(auth_ids))), _c.c.state.in_(IN_FLIGHT))
    return set(session.scalars(q))


def in_flight_rows(session: Session, auth_ids: list[int]) -> dict[int, CaptureRecord]:
    """The capture row in flight (REQUESTED or UNKNOWN) of each of `auth_ids` that has one."""
    if not auth_ids:
        return {}
    q = select(_c).where(_c.c.authorization_id.in_(sorted(set(auth_ids))), _c.c.state.in_(IN_FLIGHT))
    return {r.authorization_id: _record(r) for r in session.execute(q.order_by(_c.c.id)).all()}
