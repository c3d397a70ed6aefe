"""The reconciler's sweeps: rows left REQUESTED by a process that may be gone, holds that nothing
needs any more, and the rows that still wait for the acquirer (unknown answer, pending void,
capture in flight). Set-wise statements: one each, whatever the number of rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from d400tui.domain import model as m

from . import tables as t


def requested(session: Session) -> list[tuple[int, str | None, datetime | None]]:
    """(id, owner, requested_at) of every row still REQUESTED."""
    a = t.authorizations
    return [
        (r[0], r[1], r[2])
        for r in session.execute(
            select(a.c.id, a.c.owner, a.c.requested_at).where(a.c.state == m.AuthState.REQUESTED.value)
        )
    ]


def mark_unknown(session: Session, auth_ids: list[int], code: str, label: str) -> None:
    """Those of `auth_ids` still REQUESTED become UNKNOWN (no answer, `code`/`label`)."""
    a = t.authorizations
    session.execute(
        update(a)
        .where(a.c.id.in_(auth_ids), a.c.state == m.AuthState.REQUESTED.value)
        .values(state=m.AuthState.UNKNOWN.value, response_code=code, category=m.Category.UNAVAILABLE.value, label=label)
    )


def mark_orphan_holds(session: Session) -> None:
    """A hold that nothing needs any more (order cancelled or deleted, instalment dropped) is
    marked for void even if no void was ever asked for it."""
    a, o, i = t.authorizations, t.orders, t.instalments
    session.execute(
        update(a)
        .where(
            a.c.state == m.AuthState.APPROVED.value,
            a.c.kind == m.AuthKind.AUTHORIZE.value,
            a.c.void_state == m.VoidState.NONE.value,
            a.c.capture_pending.is_(False),
            or_(
                a.c.order_id.in_(select(o.c.id).where(o.c.status.in_(["CANCELLED", "DELETED"]))),
                a.c.instalment_id.in_(select(i.c.id).where(i.c.state == "CANCELLED")),
            ),
        )
        .values(void_state=m.VoidState.PENDING.value)
    )


def to_settle(session: Session, due_at: datetime | None = None) -> list[tuple[int, int]]:
    """(authorization id, order id) of the rows waiting for the acquirer, in id order. With
    `due_at`, a pending void is taken only once its next try on the backoff has come."""
    a = t.authorizations
    void_due = a.c.void_state == m.VoidState.PENDING.value
    if due_at is not None:
        void_due = and_(void_due, or_(a.c.void_next_at.is_(None), a.c.void_next_at <= due_at))
    return [
        (r[0], r[1])
        for r in session.execute(
            select(a.c.id, a.c.order_id)
            .where(
                or_(
                    a.c.state == m.AuthState.UNKNOWN.value,
                    void_due,
                    and_(a.c.capture_pending.is_(True), a.c.state == m.AuthState.APPROVED.value),
                )
            )
            .order_by(a.c.id)
        )
    ]
