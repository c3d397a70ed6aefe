"""The supervisors' queue of orders on payment hold, oldest first, with what the operator was shown
and decided; the supervisor releases, keeps blocked (a BLOCK decision of their own, audited like any
decision) or changes the payment method, through the engine's usual calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.read_models import OrderFilter, OrderRow

from . import decisions, lookups

if TYPE_CHECKING:
    from .results import ValidationResult
    from .steps import Context

WHAT = Message("engine.what_blocked")


@dataclass(frozen=True)
class BlockedOrder:
    row: OrderRow
    decision: m.Decision | None  # the last one: who decided, when, on which code and label


def queue(engine: Context, actor: m.Actor, after_id: int = 0, limit: int = 10) -> list[BlockedOrder]:
    """Blocked orders with an id above `after_id`, oldest first (the next page starts after the last)."""
    engine.require_supervisor(actor, WHAT)
    # list_orders' `before_id` reads the `limit` ids just above it, and hands them back newest first
    rows = lookups.list_orders(engine, OrderFilter(hold=m.PaymentHold.BLOCKED), before_id=after_id, limit=limit)
    out = []
    for row in reversed(rows):
        made = lookups.get_order(engine, row.id).decisions
        out.append(BlockedOrder(row, made[-1] if made else None))
    return out


async def decide(engine: Context, actor: m.Actor, order_id: int, release: bool) -> ValidationResult:
    """Release, or keep blocked (recorded as the supervisor's own BLOCK)."""
    engine.require_supervisor(actor, WHAT)
    return await decisions.decide(engine, actor, order_id, m.DecisionKind.RELEASE if release else m.DecisionKind.BLOCK)
