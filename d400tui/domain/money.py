"""Money is Decimal euros with two places; never float. Stored as integer cents."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .message import MessageError

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999.99")


class MoneyError(MessageError, ValueError):
    """An amount typed or computed that cannot be money."""


def money(value: Decimal | int | str) -> Decimal:
    """Round half-up to the cent; refuse floats, NaN, infinities and absurd sizes."""
    if isinstance(value, float):
        raise MoneyError("engine.money_float")
    try:
        d = Decimal(str(value).strip().replace(",", ".")) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError("engine.money_text", value=repr(str(value)[:20])) from exc
    if not d.is_finite():
        raise MoneyError("engine.money_not_finite")
    if abs(d) > MAX_AMOUNT:
        raise MoneyError("engine.money_too_large")
    return d.quantize(CENT, rounding=ROUND_HALF_UP)


def to_cents(amount: Decimal) -> int:
    return int(money(amount) * 100)


def from_cents(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def split(total: Decimal, parts: int) -> list[Decimal]:
    """Split a total into `parts` amounts that add up exactly; the first takes the remainder cents."""
    if parts < 1:
        raise MoneyError("engine.money_parts")
    cents = to_cents(total)
    base, rest = divmod(cents, parts)
    amounts = [base] * parts
    amounts[0] += rest
    return [from_cents(c) for c in amounts]
