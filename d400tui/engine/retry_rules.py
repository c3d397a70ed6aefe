"""The schemes' retry rules, from data (advice, issue 13): a card refused with a never-retry code
(41, 43, 57 …) is never presented again — R is refused with the reason, and the pre-check's
selection leaves it out (store.retries) —, a "correct and retry" refusal (14, 54, 55 …) is not
resent as it was (M re-keys the card), and a card's declines are counted over the scheme's
window (Visa: 15 re-attempts in 30 days), R refused past the limit. The card is counted by its
stored identity (brand range, last four, expiry), on every order: the schemes count the card.
That holds for the card typed again too: a never-retry decline of it within the scheme's window
refuses it as a new order's card or M's (`check_card`, called by steps.check_card before anything
is written), R on an order that carries it, whichever order was refused, and the pre-check's
claim of any order's instalment on it (`precheck_rule`: skipped, with the reason)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from d400tui.data.codes import retry_limits
from d400tui.domain import model as m
from d400tui.domain.cards import CardData, MaskedCard
from d400tui.domain.message import Message
from d400tui.store import retries
from d400tui.store.claims import NeverRetry
from d400tui.store.db import UnitOfWork

from .codes import retry_class
from .errors import EngineError

if TYPE_CHECKING:  # steps calls check_card: no import cycle at run time
    from .steps import Context


def never_retry(code: str | None) -> bool:
    """The predicate every caller shares: this answer forbids presenting the card again."""
    return retry_class(code) is m.RetryClass.NEVER


def is_service_failure(code: str | None) -> bool:
    """91, 96, 68, no answer: the service failed, it is not the issuer's refusal."""
    return retry_class(code) is m.RetryClass.SERVICE


def limit_for(brand: str) -> m.RetryLimit:
    table = retry_limits()
    return table.get(brand) or table["*"]


def last_refusal(order: m.Order) -> m.Authorization | None:
    """The newest decline of the card the order carries now (a new card starts afresh)."""
    now = order.card
    for a in reversed(order.authorizations):
        if a.state is m.AuthState.DECLINED and (now is None or _same(a.card, now)):
            return a
    return None


def _same(a: object, b: object) -> bool:
    return (getattr(a, "first6", None), getattr(a, "last4", None), getattr(a, "expiry", None)) == (
        getattr(b, "first6", None),
        getattr(b, "last4", None),
        getattr(b, "expiry", None),
    )


def card_refusal(uow: UnitOfWork, card: MaskedCard, now: datetime) -> Message | None:
    """Why this card may not be presented at all now, or None: a never-retry decline of it on any
    order within its scheme's window (a card reported lost is still lost on the next order)."""
    window = timedelta(days=limit_for(card.brand.value).window_days)
    hit = retries.never_retry_decline(uow.session, card.first6, card.last4, card.expiry, now - window)
    if hit is None:
        return None
    return Message("engine.card_never_retry", day=hit[0].strftime("%d/%m/%Y"), code=hit[1])


def precheck_rule(now: datetime) -> NeverRetry:
    """The pre-check's claims leave out a card refused never-retry on any order within its
    brand's window, as `card_refusal` refuses it at the keyboard: recorded SKIPPED with this
    reason, never asked of the acquirer."""

    def since(brand: str) -> datetime:
        return now - timedelta(days=limit_for(brand).window_days)

    def reason(at: datetime, code: str) -> Message:
        return Message("engine.skip_never_retry", day=at.strftime("%d/%m/%Y"), code=code)

    return NeverRetry(since, reason)


def check_card(ctx: Context, card: CardData) -> None:
    """Refuse a card typed for a new order, a validation or M (modify payment) when the schemes
    forbid presenting it again — before anything is written or any hold is voided."""
    with ctx.unit() as uow:  # a read
        why = card_refusal(uow, card.masked, ctx.clock())
    if why is not None:
        raise EngineError(why, field="card")


def refusal(ctx: Context, uow: UnitOfWork, order: m.Order, card: CardData | None) -> Message | None:
    """Why R must not be sent now, or None: a never-retry refusal of this card, or the scheme's
    re-attempt limit reached."""
    last = last_refusal(order)
    if last is not None and never_retry(last.response_code):
        return Message("engine.retry_never", code=last.response_code or "")
    if (
        last is not None
        and retry_class(last.response_code) is m.RetryClass.CORRECT
        and (card is None or _same(card.masked, last.card))
    ):  # 14, 54, 55 …: the same data again is the same refusal (and for Visa a charged re-attempt)
        return Message("engine.retry_correct", code=last.response_code or "")
    shown = card.masked if card is not None else order.card
    if shown is None:
        return None
    other = card_refusal(uow, shown, ctx.clock())  # refused never-retry on another order: never again either
    if other is not None:
        return other
    limit = limit_for(shown.brand.value)
    since = ctx.clock() - timedelta(days=limit.window_days)
    n = retries.declines_of_card(uow.session, shown.first6, shown.last4, shown.expiry, since)
    if n > limit.max_reattempts:
        return Message("engine.retry_limit", count=n, days=limit.window_days, max=limit.max_reattempts)
    return None


def check(ctx: Context, uow: UnitOfWork, order: m.Order, card: CardData | None) -> None:
    why = refusal(ctx, uow, order, card)
    if why is not None:
        raise EngineError(why)


def retry_refusal(ctx: Context, order_id: int, card: CardData | None = None) -> Message | None:
    """For the decision panel: the engine's reason to refuse R on this order, before asking."""
    from .steps import id_in_range  # steps calls this module: imported when called

    with ctx.unit() as uow:
        order = uow.orders.get(order_id) if id_in_range(order_id) else None  # a read: no lock
        return refusal(ctx, uow, order, card) if order is not None else None
