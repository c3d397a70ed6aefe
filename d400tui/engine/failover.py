"""Failover to the secondary acquirer (issue 13.5). Only when the first one is *definitely*
unavailable: the request never left (connection refused, circuit open: recorded DECLINED "not
sent", nothing can be held) or the acquirer answered 91/96. Never after a time-out or a broken
answer: that row is UNKNOWN — it may be a hold — and freezes its instalment until the reconciler
settles it (Order.check_settled refuses anything else), so a failover can never make two holds.

The secondary must take the card's brand on the network chosen; it gets the card as typed (a
token belongs to the acquirer that issued it). Voids, captures and reconciliation of what it
holds go back to it (`Context.acquirer_for(authorizations.acquirer)`)."""

from __future__ import annotations

from d400tui.acquirers.base import Acquirer, AcquirerResponse, Outcome
from d400tui.domain import model as m
from d400tui.domain.cards import CardData
from d400tui.domain.message import Message

from . import networks
from . import steps as s
from .codes import NO_ANSWER
from .errors import EngineError
from .results import AuthAnswer

DEFINITE_CODES = frozenset({"91", "96"})
"""Answered codes that say the service itself is down (issuer or switch inoperative)."""
NOT_SENT = "engine.not_sent_label"
NOT_SENT_ANSWER = AcquirerResponse(Outcome.DECLINED, NO_ANSWER, message="not sent")


def not_sent(auth: m.Authorization) -> None:
    """The request never left: the row is settled at once (nothing held), said so."""
    auth.label = Message(NOT_SENT)


def definite(code: str, label: object, state: m.AuthState) -> bool:
    """Whether a failed authorization says the acquirer is definitely unavailable."""
    if state is not m.AuthState.DECLINED:
        return False  # UNKNOWN (a time-out): maybe a hold, reconcile first
    return code in DEFINITE_CODES or (isinstance(label, Message) and label.key == NOT_SENT)


def definite_answer(resp: AcquirerResponse | None, sent: bool) -> bool:
    """An acquirer's own answer (or its absence) says it definitely held nothing and is down: the
    request never left, or it answered 91/96. A time-out (no answer) is never definite."""
    if not sent:
        return True
    return resp is not None and resp.outcome is Outcome.DECLINED and resp.code in DEFINITE_CODES


def possible(ctx: s.Context, answer: AuthAnswer) -> str | None:
    """The secondary's name when the operator may send this failed authorization there."""
    if ctx.secondary is None or not definite(answer.code, answer.label, answer.state):
        return None
    return ctx.secondary.name


def secondary_for(ctx: s.Context, actor: m.Actor, order_id: int, card: CardData | None) -> Acquirer:
    """The secondary, once it is sure nothing may be held for the order's pending instalments and
    the last failure was definite; refused (one line) otherwise."""
    secondary = ctx.secondary
    if secondary is None:
        raise EngineError("engine.failover_none")
    with ctx.unit() as uow:
        order = s.load(uow, order_id)
        order.ensure_open()
        for inst in order.pending_instalments():
            order.check_settled(inst)  # an UNKNOWN row (a time-out) is reconciled first, never failed over
        failed = order.authorizations[-1] if order.authorizations else None  # the last call, nothing after it
        if failed is None or not definite(failed.response_code or "", failed.label, failed.state):
            raise EngineError("engine.failover_not_definite", order=order_id)
        if failed.acquirer == secondary.name:
            raise EngineError("engine.failover_same", acquirer=secondary.name)
    if card is None:
        raise EngineError("engine.failover_card", field="card")
    if card.brand not in secondary.brands and not networks.offered(secondary, card.pan):
        raise EngineError("engine.failover_brand", field="card", acquirer=secondary.name, brand=card.brand.value)
    networks.route(secondary, card)  # the network chosen must be one the secondary takes
    return secondary
