"""Card on file: a returning customer pays with the card of their last approved card order, through
the acquirer's token for it. The screen only ever sees the masked card; the token is looked up again
here when the order is placed, so it never travels through a panel.

No CVV goes with a token: none of our acquirers takes one on a token request (a merchant-initiated
payment on a stored credential), so `needs_cvv` is False for them all."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import select

from d400tui.domain import model as m
from d400tui.domain.cards import MaskedCard
from d400tui.store import tables as tb

from .errors import EngineError

if TYPE_CHECKING:
    from .results import ValidationResult
    from .service import Engine


def _expired(card: MaskedCard, today: date) -> bool:
    from d400tui.domain.cards import CardError, parse_expiry

    try:
        parse_expiry(card.expiry, today)
    except CardError:
        return True
    return False


def _last(engine: Engine, customer_id: int) -> tuple[MaskedCard, str] | None:
    """The masked card and token of the customer's newest order with a token and an approved
    authorization (the token is only kept after an approval), unless that card has expired."""
    o, a = tb.orders, tb.authorizations
    q = (select(o.c.card_brand, o.c.card_first6, o.c.card_last4, o.c.card_expiry, o.c.card_token)
         .where(o.c.customer_id == customer_id, o.c.card_token.is_not(None),
                o.c.payment_method == m.PaymentMethod.CARD.value,
                select(a.c.id).where(a.c.order_id == o.c.id,
                                     a.c.state.in_([m.AuthState.APPROVED.value, m.AuthState.CAPTURED.value]))
                .exists())
         .order_by(o.c.id.desc()).limit(1))
    with engine._unit() as uow:  # noqa: SLF001 - the engine's own unit of work, read only
        row = uow.session.execute(q).first()
    if row is None or not row.card_last4:
        return None
    from d400tui.domain.cards import Brand

    card = MaskedCard(Brand(row.card_brand or "UNKNOWN"), row.card_first6 or "", row.card_last4,
                      row.card_expiry or "")
    if _expired(card, engine.today()) or card.brand.value not in {b.value for b in engine.acquirer.brands}:
        return None
    return card, row.card_token


def card_on_file(engine: Engine, customer_id: int) -> MaskedCard | None:
    """What the order panel offers for this customer (masked), or None."""
    got = _last(engine, customer_id)
    return got[0] if got else None


def needs_cvv(engine: Engine) -> bool:
    """Whether the acquirer wants the CVV again with a stored card (none of ours does)."""
    return bool(getattr(engine.acquirer, "cvv_with_token", False))


async def place_order_on_file(engine: Engine, actor: m.Actor, customer_id: int, lines: list[tuple[str, int]],
                              shown: MaskedCard, plan: m.Plan | None = None) -> ValidationResult:
    """Create, validate and authorize a phone card order with the card on file. `shown` is the
    masked card the operator chose: if the card on file changed since, nothing is placed."""
    got = _last(engine, customer_id)
    if got is None or got[0] != shown:
        raise EngineError("engine.card_on_file_gone", field="card")
    card, token = got
    with engine._unit() as uow:  # noqa: SLF001 - same steps as Engine.place_order, with a token for the card
        order = engine._build_order(uow, actor, customer_id, lines, m.Channel.PHONE,  # noqa: SLF001
                                    m.PaymentMethod.CARD, plan)
        order.set_card(card, token)
        order.validate()
        uow.audit(actor.name, "ORDER_VALIDATE", order.id, card=str(card), source="card on file")
        return await engine._authorize_planned(uow, actor, order, None)  # noqa: SLF001
