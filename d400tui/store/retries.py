"""What the retry rules read (advice, issue 13): a card's declines over a window, counted against the
scheme's re-attempt limit, the pre-check's filter that never asks again after a never-retry
refusal of the order's current card, and the never-retry declines of a claim's cards on any order
(the claim skips those: store.claims). The card is its stored identity — brand range, last four,
expiry — never the number."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, literal_column, select
from sqlalchemy.orm import Session

from d400tui.data.codes import codes_of, counted_codes
from d400tui.domain import model as m

from . import tables as t

DECLINED: Any = literal_column("'DECLINED'")  # a literal, so SQLite plans the partial index on it


def declines_of_card(session: Session, first6: str, last4: str, expiry: str, since: datetime) -> int:
    """Declines the issuer gave this card since `since`, on every order (a scheme counts the card)."""
    a = t.authorizations
    return (
        session.scalar(
            select(func.count()).where(
                a.c.card_last4 == last4,
                a.c.card_first6 == first6,
                a.c.state == DECLINED,
                a.c.answered_at >= since,
                a.c.card_expiry == expiry,
                a.c.response_code.in_(counted_codes()),
            )
        )
        or 0
    )


def never_retry_decline(
    session: Session, first6: str, last4: str, expiry: str, since: datetime
) -> tuple[datetime, str] | None:
    """(when, code) of this card's newest never-retry decline since `since` on any order, or None:
    the card may not be presented again, neither by R nor as a new order's or M's card."""
    hits = never_retry_declines(session, [(first6, last4, expiry)], since).get((first6, last4, expiry))
    return max(hits) if hits else None


def refused_never_retry() -> Any:
    """For the pre-check's selection (over instalments alone, migration 0008): this instalment was
    refused with a never-retry code on the card its order still carries (the order read by its key)."""
    a, i, o = t.authorizations, t.instalments, t.orders
    return exists().where(
        o.c.id == i.c.order_id,
        a.c.order_id == i.c.order_id,
        a.c.instalment_id == i.c.id,
        a.c.state == DECLINED,
        a.c.response_code.in_(codes_of(m.RetryClass.NEVER)),
        _on_orders_card(),
    )


def _on_orders_card() -> Any:
    """The decline was on the card its order carries now. The card columns are wrapped so that no
    planner probes the declined-card index here: a test card declined on thousands of demo orders
    would make each probe walk all of them. By order (ix_authorizations_order_id) it reads the
    order's own few rows."""
    a, o = t.authorizations, t.orders
    return and_(
        func.coalesce(a.c.card_last4, "") == o.c.card_last4,
        func.coalesce(a.c.card_first6, "") == o.c.card_first6,
        a.c.card_expiry == o.c.card_expiry,
    )


def refused_on_current_card() -> Any:
    """(instalment, order) of every never-retry refusal on the card its order still carries: the
    instalments refused_never_retry finds, listed from the declines by code (few, and
    ix_authorizations_declined_code) for a count over all due instalments (0019)."""
    a, o = t.authorizations, t.orders
    return (
        select(a.c.instalment_id, a.c.order_id)
        .join(o, o.c.id == a.c.order_id)
        .where(a.c.state == DECLINED, a.c.response_code.in_(codes_of(m.RetryClass.NEVER)), _on_orders_card())
        .distinct()
    )


Card = tuple[str, str, str]  # first6, last4, expiry: a card's stored identity


def never_retry_declines(
    session: Session, cards: Iterable[Card], since: datetime
) -> dict[Card, list[tuple[datetime, str]]]:
    """Each of these cards' never-retry declines since `since` on any order, newest per code:
    one query for a whole pre-check claim (its cards' declines, by the declined-card index),
    matched to the exact card here."""
    want = set(cards)
    if not want:
        return {}
    a = t.authorizations
    rows = session.execute(
        select(a.c.card_first6, a.c.card_last4, a.c.card_expiry, a.c.response_code, func.max(a.c.answered_at))
        .where(
            a.c.card_last4.in_(sorted({c[1] for c in want})),
            a.c.card_first6.in_(sorted({c[0] for c in want})),
            a.c.card_expiry.in_(sorted({c[2] for c in want})),
            a.c.state == DECLINED,
            a.c.answered_at >= since,
            a.c.response_code.in_(codes_of(m.RetryClass.NEVER)),
        )
        .group_by(a.c.card_first6, a.c.card_last4, a.c.card_expiry, a.c.response_code)
    ).all()
    out: dict[Card, list[tuple[datetime, str]]] = {}
    for first6, last4, expiry, code, at in rows:
        if (first6, last4, expiry) in want:
            out.setdefault((first6, last4, expiry), []).append((at, code))
    return out
