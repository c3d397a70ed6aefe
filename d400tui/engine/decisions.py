"""The operator's decision on a refused or unanswered authorization (block, release, retry): nothing
is ever blocked automatically. The decision is recorded with what the operator was shown.

Two rules from the schemes and from fraud practice (advice, issue 13): R is refused after a
never-retry answer or past the card's re-attempt limit (retry_rules), and L on an order refused as
lost or stolen (category BLOCKED) does not release it — it stays blocked and goes to the
supervisors' queue as a release request, for a supervisor other than the asker (blocked_queue)."""

from __future__ import annotations

from typing import Any

from d400tui.domain import model as m
from d400tui.domain.cards import CardData
from d400tui.domain.message import Message
from d400tui.store import release_requests
from d400tui.store.db import UnitOfWork

from . import authorizing, failover, lookups, retry_rules
from . import steps as s
from .errors import EngineError
from .results import ValidationResult


def shown_refusal(order: m.Order) -> m.Authorization | None:
    """What the decision panel showed: the newest answer that was not an approval."""
    return next((a for a in reversed(order.authorizations) if a.state is not m.AuthState.APPROVED and a.category), None)


def needs_four_eyes(shown: m.Authorization | m.Category | None) -> bool:
    """Releasing an order refused as lost or stolen (what was shown, or its category) takes a
    supervisor's approval."""
    category = shown.category if isinstance(shown, m.Authorization) else shown
    return category is m.Category.BLOCKED


def record(
    ctx: s.Context,
    uow: UnitOfWork,
    actor: m.Actor,
    order: m.Order,
    kind: m.DecisionKind,
    action: str = "",
    **detail: Any,
) -> m.Authorization | None:
    """Append the decision with what was shown, set the hold, audit it; returns what was shown."""
    shown = shown_refusal(order)
    order.decisions.append(
        m.Decision(
            order.id or 0,
            kind,
            actor.name,
            ctx.clock(),
            shown.category.value if shown and shown.category else "",
            shown.response_code or "" if shown else "",
            str(shown.label or "") if shown else "",  # the words shown, in the engine's language
            shown.id if shown else None,
        )
    )
    if kind in (m.DecisionKind.BLOCK, m.DecisionKind.RELEASE):
        order.set_hold(kind)
        order.awaiting_decision = False
    uow.audit(
        actor.name,
        action or f"DECISION_{kind.value}",
        order.id,
        shown=f"{shown.category} {shown.response_code}" if shown else "",
        **detail,
    )
    order.touch(ctx.clock())
    return shown


def ask_release(ctx: s.Context, uow: UnitOfWork, actor: m.Actor, order: m.Order) -> Message:
    """L on a lost or stolen card: the order is blocked (the hold the operator's L cannot lift) and
    a release request with what was shown waits for a supervisor."""
    waiting = release_requests.pending(uow.session, order.id or 0)
    if waiting is not None:  # one request at a time: the supervisors already have it
        raise EngineError("engine.release_pending", order=order.id, name=waiting.asked_by)
    shown = record(ctx, uow, actor, order, m.DecisionKind.BLOCK, "RELEASE_ASKED", asked_by=actor.name)
    assert shown is not None
    release_requests.add(
        uow.session,
        m.ReleaseRequest(
            order.id or 0,
            actor.name,
            ctx.clock(),
            shown.category.value if shown.category else "",
            shown.response_code or "",
            str(shown.label or ""),
            shown.id,
        ),
    )
    return Message("engine.release_asked", order=order.id)


async def decide(
    ctx: s.Context, actor: m.Actor, order_id: int, kind: m.DecisionKind, card: CardData | None = None
) -> ValidationResult:
    """Record the operator's choice with what was shown; RETRY asks the acquirer again."""
    note: Message | str = ""
    # network branch: FAILOVER (a retry on the secondary acquirer) is checked before it is recorded
    via = failover.secondary_for(ctx, actor, order_id, card) if kind is m.DecisionKind.FAILOVER else None
    with ctx.unit() as uow:
        order = s.load(uow, order_id)
        order.ensure_open()
        if kind in (m.DecisionKind.RETRY, m.DecisionKind.FAILOVER):  # S re-presents the card too
            retry_rules.check(ctx, uow, order, card)
            if card is None and order.card_token:
                s.token_holder(ctx, order)  # the stored token's acquirer is still there, or the card again
        if kind is m.DecisionKind.RELEASE and needs_four_eyes(shown_refusal(order)):
            note = ask_release(ctx, uow, actor, order)
        else:
            record(ctx, uow, actor, order, kind)
        s.commit(uow)
    if kind in (m.DecisionKind.RETRY, m.DecisionKind.FAILOVER):
        return await authorizing.authorize_due(ctx, actor, order_id, card, via=via)
    return ValidationResult(lookups.get_order(ctx, order_id), note=note)
