"""Shipments: an order's lines shipped in several parcels, and what the invoicing capture may take
for them. Plain Python: the store fills these, the engine decides with them.

A parcel's amount is the gross (net + VAT) of its quantities, computed as the difference of the
line's gross after and before it, so the parcels of a line always add up to the line's gross to the
cent. Shipped money fills the order's instalments in their order (seq 1 first): an instalment may
capture what was shipped up to its own amount, never more, and never before it is due."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from .model import DomainError
from .money import money

ZERO = Decimal("0.00")


class ShipmentError(DomainError):
    """A shipment the rules refuse (more than ordered, an article not on the order…)."""


@dataclass(frozen=True)
class ShipmentLine:
    line_no: int  # the order line it ships from
    article_code: str
    quantity: int
    amount: Decimal  # gross of these quantities


@dataclass(frozen=True)
class Shipment:
    order_id: int
    shipped_at: datetime
    operator: str
    final: bool  # the last parcel: what remains authorized is released after its capture
    amount: Decimal
    lines: tuple[ShipmentLine, ...] = ()
    id: int | None = None


class CaptureState(StrEnum):
    REQUESTED = "REQUESTED"  # committed before the call: a crash leaves it for the reconciler
    CAPTURED = "CAPTURED"
    REFUSED = "REFUSED"
    UNKNOWN = "UNKNOWN"  # no answer: the reconciler asks the acquirer under its key


@dataclass
class CaptureRecord:
    """One capture of shipped goods against one authorization, under its own idempotency key."""

    order_id: int
    authorization_id: int
    instalment_seq: int
    amount: Decimal
    idempotency_key: str
    operation: str  # partial | final | single (see engine/shipping.py)
    state: CaptureState = CaptureState.REQUESTED
    release: Decimal = ZERO  # what the same step gives back (the remainder after the last parcel)
    response_code: str = ""
    requested_at: datetime | None = None
    answered_at: datetime | None = None
    operator: str = ""
    id: int | None = None


@dataclass(frozen=True)
class OrderedLine:
    """What a shipment needs to know of an order line."""

    line_no: int
    article_code: str
    quantity: int
    unit_price: Decimal
    vat_rate: Decimal

    def gross(self, quantity: int) -> Decimal:
        net = money(self.unit_price * quantity)
        return net + money(net * self.vat_rate / 100)


def plan_parcel(
    ordered: list[OrderedLine], shipped: dict[int, int], asked: list[tuple[str, int]]
) -> list[ShipmentLine]:
    """The lines of a parcel: each (article, quantity) asked taken from the order's lines of that
    article in their order, never above what is left to ship. Refuses the whole parcel with one
    sentence on the first line that does not fit."""
    if not asked:
        raise ShipmentError("engine.ship_no_lines")
    wanted: dict[str, int] = {}
    for code, qty in asked:
        if qty <= 0:
            raise ShipmentError("engine.quantity")
        wanted[code.strip().upper()] = wanted.get(code.strip().upper(), 0) + qty
    taken = dict(shipped)
    out: list[ShipmentLine] = []
    for code, qty in wanted.items():
        lines = [ln for ln in ordered if ln.article_code.upper() == code]
        if not lines:  # at most an article code's 12 characters said back (never a pasted card number)
            raise ShipmentError("engine.ship_not_ordered", article=code[:12])
        left = sum(ln.quantity - taken.get(ln.line_no, 0) for ln in lines)
        if qty > left:
            ordered_qty = sum(ln.quantity for ln in lines)
            raise ShipmentError(
                "engine.ship_over", article=code, asked=qty, ordered=ordered_qty, shipped=ordered_qty - left
            )
        for ln in lines:
            before = taken.get(ln.line_no, 0)
            n = min(qty, ln.quantity - before)
            if n <= 0:
                continue
            out.append(ShipmentLine(ln.line_no, ln.article_code, n, ln.gross(before + n) - ln.gross(before)))
            taken[ln.line_no] = before + n
            qty -= n
    return out


def all_shipped(ordered: list[OrderedLine], shipped: dict[int, int]) -> bool:
    return all(shipped.get(ln.line_no, 0) >= ln.quantity for ln in ordered)


@dataclass(frozen=True)
class InstalmentShare:
    """What one instalment may capture now of what was shipped."""

    seq: int
    share: Decimal  # shipped money allotted to it (at most its amount)
    captured: Decimal  # captured (or in flight) so far
    last: bool  # nothing more will be shipped for it: the capture of `due` closes it
    amount: Decimal

    @property
    def due(self) -> Decimal:
        return max(self.share - self.captured, ZERO)


@dataclass(frozen=True)
class ShippingState:
    """An order's shipments summed up: what was shipped, whether the last parcel has gone."""

    shipped: Decimal = ZERO
    final: bool = False
    parcels: int = 0
    lines: dict[int, int] = field(default_factory=dict)  # order line → quantity shipped


def shares(
    instalments: list[tuple[int, Decimal]], state: ShippingState, captured: dict[int, Decimal]
) -> dict[int, InstalmentShare]:
    """Shipped money allotted to the (seq, amount) instalments still to pay, seq 1 first. An
    instalment is `last` when it is fully covered, or when the order's last parcel has shipped."""
    out: dict[int, InstalmentShare] = {}
    before = ZERO
    for seq, amount in sorted(instalments):
        share = min(max(state.shipped - before, ZERO), amount)
        before += amount
        out[seq] = InstalmentShare(seq, share, captured.get(seq, ZERO), state.final or share == amount, amount)
    return out
