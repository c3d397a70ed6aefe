"""Card on file: a returning customer pays with the card of their last approved card order, through
the acquirer's token for it. The screen only ever sees the masked card; the token is looked up again
here when the order is placed, so it never travels through a panel.

No CVV goes with a token: none of our acquirers takes one on a token request (a merchant-initiated
payment on a stored credential), so `needs_cvv` is False for them all."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from d400tui.domain import model as m
from d400tui.domain.cards import Brand, MaskedCard
from d400tui.store.card_on_file import last_card

from . import authorizing, placing
from .errors import EngineError

if TYPE_CHECKING:
    from .results import ValidationResult
    from .steps import Context


def _expired(card: MaskedCard, today: date) -> bool:
    from d400tui.domain.cards import CardError, parse_expiry

    try:
        parse_expiry(card.expiry, today)
    except CardError:
        return True
    return False


def _last(engine: Context, customer_id: int) -> tuple[MaskedCard, str, str | None] | None:
    """The masked card, token and token's acquirer of the customer's newest order with a token and
    an approved authorization (the token is only kept after an approval), unless that card has
    expired or its token's acquirer is no longer configured (the token is good nowhere else)."""
    with engine.unit() as uow:  # read only
        row = last_card(uow.session, customer_id)
    if row is None:
        return None
    brand, first6, last4, expiry, token, issuer = row
    card = MaskedCard(Brand(brand), first6, last4, expiry)
    holder = engine.token_acquirer(issuer)
    if holder is None or _expired(card, engine.today()) or card.brand.value not in {b.value for b in holder.brands}:
        return None
    return card, token, issuer


def card_on_file(engine: Context, customer_id: int) -> MaskedCard | None:
    """What the order panel offers for this customer (masked), or None."""
    got = _last(engine, customer_id)
    return got[0] if got else None


def needs_cvv(engine: Context) -> bool:
    """Whether the acquirer wants the CVV again with a stored card (none of ours does)."""
    return bool(getattr(engine.acquirer, "cvv_with_token", False))


async def place_order_on_file(
    engine: Context,
    actor: m.Actor,
    customer_id: int,
    lines: list[tuple[str, int]],
    shown: MaskedCard,
    plan: m.Plan | None = None,
) -> ValidationResult:
    """Create, validate and authorize a phone card order with the card on file. `shown` is the
    masked card the operator chose: if the card on file changed since, nothing is placed."""
    got = _last(engine, customer_id)
    if got is None or got[0] != shown:
        raise EngineError("engine.card_on_file_gone", field="card")
    card, token, issuer = got
    with engine.unit() as uow:  # the same steps as placing.place_order, with a token for the card
        order = placing.build_order(engine, uow, actor, customer_id, lines, m.Channel.PHONE, m.PaymentMethod.CARD, plan)
        order.set_card(card, token, issuer)
        order.validate()
        uow.audit(actor.name, "ORDER_VALIDATE", order.id, card=str(card), source="card on file")
        return await authorizing.authorize_planned(engine, uow, actor, order, None)
