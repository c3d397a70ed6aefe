"""The supervisors' list of voids that did not get through, ordered by the Visa clock: the
authorization that has held the cardholder's money longest comes first (Visa charges a
misuse-of-authorization fee on a card-not-present hold neither captured nor reversed in time)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from d400tui.domain import model as m
from d400tui.domain.read_models import PendingVoid

from . import tables as t


def pending_voids(session: Session, limit: int = 500) -> list[PendingVoid]:
    a, o, c = t.authorizations, t.orders, t.customers
    since = func.coalesce(a.c.answered_at, a.c.requested_at)
    rows = session.execute(
        select(
            a.c.id,
            a.c.order_id,
            c.c.name,
            a.c.amount,
            a.c.card_first6,
            a.c.card_last4,
            a.c.acquirer,
            a.c.initiator,
            a.c.state,
            since,
            a.c.expires_at,
            a.c.void_attempts,
            a.c.void_first_at,
            a.c.void_tried_at,
            a.c.void_next_at,
        )
        .join(o, o.c.id == a.c.order_id)
        .join(c, c.c.id == o.c.customer_id)
        .where(a.c.void_state == m.VoidState.PENDING.value)
        .order_by(since.asc(), a.c.id.asc())
        .limit(limit)
    ).all()
    return [
        PendingVoid(
            r[0],
            r[1],
            r[2],
            r[3],
            f"{r[4]}…{r[5]}",
            r[6],
            r[7].value,
            r[8].value,
            r[9],
            r[10],
            r[11],
            r[12],
            r[13],
            r[14],
        )
        for r in rows
    ]
