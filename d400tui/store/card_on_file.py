"""The card of a customer's newest order that holds an acquirer token and an approved (or captured)
authorization: the token is only kept after an approval. The engine decides whether it is offered."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from d400tui.domain import model as m

from . import tables as t


def last_card(session: Session, customer_id: int) -> tuple[str, str, str, str, str, str | None] | None:
    """(brand, first 6, last 4, expiry, token, the token's acquirer — None: the primary) of that
    card, or None (no such order, no last 4)."""
    o, a = t.orders, t.authorizations
    q = (
        select(o.c.card_brand, o.c.card_first6, o.c.card_last4, o.c.card_expiry, o.c.card_token, o.c.token_acquirer)
        .where(
            o.c.customer_id == customer_id,
            o.c.card_token.is_not(None),
            o.c.payment_method == m.PaymentMethod.CARD.value,
            select(a.c.id)
            .where(a.c.order_id == o.c.id, a.c.state.in_([m.AuthState.APPROVED.value, m.AuthState.CAPTURED.value]))
            .exists(),
        )
        .order_by(o.c.id.desc())
        .limit(1)
    )
    row = session.execute(q).first()
    if row is None or not row.card_last4:
        return None
    brand, first6, expiry = row.card_brand or "UNKNOWN", row.card_first6 or "", row.card_expiry or ""
    return (brand, first6, row.card_last4, expiry, row.card_token, row.token_acquirer)
