"""The supervisors' queue of orders on payment hold, oldest first, with what the operator was shown
and decided, and the operator's release request when there is one; the supervisor releases, keeps
blocked (a BLOCK decision of their own, audited like any decision) or changes the payment method,
through the engine's usual calls.

Four eyes (advice, issue 13): an order refused as lost or stolen is released only by a supervisor
who is not the person who asked for it (nor, without a request, the one who took its last
decision); the approval and the refusal of a request are audited with both names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.read_models import OrderFilter, OrderRow
from d400tui.store import release_requests

from . import decisions, lookups
from . import steps as s
from .errors import EngineError, PermissionDenied
from .results import ValidationResult

if TYPE_CHECKING:
    from d400tui.store.db import UnitOfWork

    from .steps import Context

WHAT = Message("engine.what_blocked")


@dataclass(frozen=True)
class BlockedOrder:
    row: OrderRow
    decision: m.Decision | None  # the last one: who decided, when, on which code and label
    request: m.ReleaseRequest | None = None  # the operator's release request waiting for a supervisor


def queue(engine: Context, actor: m.Actor, after_id: int = 0, limit: int = 10) -> list[BlockedOrder]:
    """Blocked orders with an id above `after_id`, oldest first (the next page starts after the last)."""
    engine.require_supervisor(actor, WHAT)
    # list_orders' `before_id` reads the `limit` ids just above it, and hands them back newest first
    rows = lookups.list_orders(engine, OrderFilter(hold=m.PaymentHold.BLOCKED), before_id=after_id, limit=limit)
    with engine.unit() as uow:
        asked = release_requests.pending_of(uow.session, [r.id for r in rows])
    out = []
    for row in reversed(rows):
        made = lookups.get_order(engine, row.id).decisions
        out.append(BlockedOrder(row, made[-1] if made else None, asked.get(row.id)))
    return out


def pending_request(engine: Context, actor: m.Actor, order_id: int) -> m.ReleaseRequest | None:
    engine.require_supervisor(actor, WHAT)
    with engine.unit() as uow:
        return release_requests.pending(uow.session, order_id)


async def approve_release(engine: Context, actor: m.Actor, order_id: int) -> ValidationResult:
    """A supervisor releases a blocked order: their own decision, or the approval of a request."""
    engine.require_supervisor(actor, WHAT)
    with engine.unit() as uow:
        order = s.load(uow, order_id)
        order.ensure_open()
        if order.hold is not m.PaymentHold.BLOCKED:
            raise EngineError("engine.release_not_blocked", order=order_id)
        req = release_requests.pending(uow.session, order_id)
        asker = req.asked_by if req else _last_decider(order)
        if asker == actor.name:
            raise PermissionDenied("engine.release_own", order=order_id)
        if req is None:
            decisions.record(engine, uow, actor, order, m.DecisionKind.RELEASE)
        else:
            _answer(engine, uow, actor, order, req, m.ReleaseState.APPROVED)
        s.commit(uow)
    return ValidationResult(lookups.get_order(engine, order_id))


async def refuse_release(engine: Context, actor: m.Actor, order_id: int, required: bool = True) -> ValidationResult:
    """A supervisor keeps the order blocked: the operator's request refused (audited with both
    names), or, without one and when not `required`, a BLOCK decision of the supervisor's own."""
    engine.require_supervisor(actor, WHAT)
    with engine.unit() as uow:
        order = s.load(uow, order_id)
        order.ensure_open()
        req = release_requests.pending(uow.session, order_id)
        if req is None:
            if required:
                raise EngineError("engine.no_release_request", order=order_id)
            decisions.record(engine, uow, actor, order, m.DecisionKind.BLOCK)
        else:
            _answer(engine, uow, actor, order, req, m.ReleaseState.REFUSED)
        s.commit(uow)
    return ValidationResult(lookups.get_order(engine, order_id))


def _answer(
    engine: Context, uow: UnitOfWork, actor: m.Actor, order: m.Order, req: m.ReleaseRequest, state: m.ReleaseState
) -> None:
    """Close the request and record the supervisor's decision, audited with both names."""
    approved = state is m.ReleaseState.APPROVED
    release_requests.close(uow.session, order.id or 0, state, actor.name, engine.clock())
    decisions.record(
        engine,
        uow,
        actor,
        order,
        m.DecisionKind.RELEASE if approved else m.DecisionKind.BLOCK,
        f"RELEASE_{state.value}",
        asked_by=req.asked_by,
        request=req.id,
        **{"approved_by" if approved else "refused_by": actor.name},
    )


def _last_decider(order: m.Order) -> str | None:
    """Without a request, four eyes still hold on a lost or stolen card: whoever took the last
    decision on it (blocked it) is not the one who releases it."""
    if not decisions.needs_four_eyes(decisions.shown_refusal(order)) or not order.decisions:
        return None
    return order.decisions[-1].operator


async def decide(engine: Context, actor: m.Actor, order_id: int, release: bool) -> ValidationResult:
    """The queue's L (release, or approve the request) and B (keep blocked, or refuse the request)."""
    if release:
        return await approve_release(engine, actor, order_id)
    return await refuse_release(engine, actor, order_id, required=False)
