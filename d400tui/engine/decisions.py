"""The operator's decision on a refused or unanswered authorization (block, release, retry): nothing
is ever blocked automatically. The decision is recorded with what the operator was shown."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.domain.cards import CardData

from . import authorizing, failover, lookups
from . import steps as s
from .results import ValidationResult


async def decide(
    ctx: s.Context, actor: m.Actor, order_id: int, kind: m.DecisionKind, card: CardData | None = None
) -> ValidationResult:
    """Record the operator's choice with what was shown; RETRY asks the acquirer again."""
    # network branch: FAILOVER (a retry on the secondary acquirer) is checked before it is recorded
    via = failover.secondary_for(ctx, actor, order_id, card) if kind is m.DecisionKind.FAILOVER else None
    with ctx.unit() as uow:
        order = s.load(uow, order_id)
        order.ensure_open()
        shown = next(
            (a for a in reversed(order.authorizations) if a.state is not m.AuthState.APPROVED and a.category), None
        )
        order.decisions.append(
            m.Decision(
                order_id,
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
            f"DECISION_{kind.value}",
            order_id,
            shown=f"{shown.category} {shown.response_code}" if shown else "",
        )
        order.touch(ctx.clock())
        s.commit(uow)
    if kind in (m.DecisionKind.RETRY, m.DecisionKind.FAILOVER):
        return await authorizing.authorize_due(ctx, actor, order_id, card, via=via)
    return ValidationResult(lookups.get_order(ctx, order_id))
