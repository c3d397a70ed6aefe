"""The writes a pre-check failover needs (issue 13.5): a REQUESTED row whose request never left
the first acquirer is given to the secondary; one the first answered 91/96 for is settled and a new
row made for the secondary. Committed before the secondary is called, so a crash in between leaves
a row the reconciler asks of the right acquirer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from d400tui.domain import model as m

from . import tables as t


def move_request(session: Session, auth_id: int, acquirer: str) -> bool:
    """Hand a REQUESTED authorization to `acquirer`; False when it is no longer REQUESTED."""
    a = t.authorizations
    done = session.execute(
        update(a).where(a.c.id == auth_id, a.c.state == m.AuthState.REQUESTED.value).values(acquirer=acquirer)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


_COPIED = (
    "order_id", "instalment_id", "kind", "amount", "card_brand", "card_first6", "card_last4", "card_expiry",
    "operator", "owner", "initiator", "auth_type", "network",
)  # fmt: skip


def hand_over(
    session: Session, auth_id: int, acquirer: str, key: str, code: str, label: str, now: datetime, owner: str
) -> int | None:
    """A REQUESTED row the first acquirer answered 91/96 for (issuer branch, issue 13.5): settled
    DECLINED with that answer (nothing held), and a new REQUESTED row for the same instalment
    added for `acquirer` under a new key — the first key may be known there already (one processor
    behind two front ends replays its answer). Returns the new row's id; None when the row is no
    longer REQUESTED or no longer `owner`'s (a worker that lost its lease has lost the row). The
    caller commits before the call."""
    a = t.authorizations
    done = session.execute(
        update(a)
        .where(a.c.id == auth_id, a.c.state == m.AuthState.REQUESTED.value, a.c.owner == owner)
        .values(
            state=m.AuthState.DECLINED.value,
            response_code=code,
            category=m.Category.UNAVAILABLE.value,
            label=label,
            answered_at=now,
        )
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        return None
    row = session.execute(select(*(a.c[c] for c in _COPIED)).where(a.c.id == auth_id)).mappings().one()
    new = session.execute(
        insert(a)
        .values(
            **row,
            state=m.AuthState.REQUESTED.value,
            captured_amount=0,
            idempotency_key=key,
            acquirer=acquirer,
            requested_at=now,
            void_state=m.VoidState.NONE.value,
            capture_pending=False,
            void_attempts=0,
        )
        .returning(a.c.id)
    )
    return int(new.scalar_one())
