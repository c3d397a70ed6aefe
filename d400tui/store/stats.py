"""The queries behind the supervision figures: each one pass over its table, grouped in SQL.

A window is [start, end) on the authorizations' `requested_at` (decisions: `at`). The few
expressions SQLite and PostgreSQL spell differently (the minute of a timestamp, the length of an
interval) are chosen here by dialect, so the engine computes the same figures on both."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, extract, func, select

from d400tui.domain import model as m

from . import tables as t


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def outcomes(conn: Connection, w: Window) -> list[tuple[str | None, str | None, int]]:
    """(category, response code, count) of the authorizations requested in the window."""
    a = t.authorizations
    q = (select(a.c.category, a.c.response_code, func.count())
         .where(a.c.requested_at >= w.start, a.c.requested_at < w.end)
         .group_by(a.c.category, a.c.response_code))
    return [(str(c) if c is not None else None, code, int(n)) for c, code, n in conn.execute(q)]


def _minute(conn: Connection, col):  # type: ignore[no-untyped-def]
    if conn.dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M", col)
    return func.date_trunc("minute", col)


def unavailable_minutes(conn: Connection, w: Window) -> int:
    """Calendar minutes in which at least one request got UNAVAILABLE (timeout, acquirer down)."""
    a = t.authorizations
    q = (select(func.count(func.distinct(_minute(conn, a.c.requested_at))))
         .where(a.c.requested_at >= w.start, a.c.requested_at < w.end,
                a.c.category == m.Category.UNAVAILABLE))
    return int(conn.execute(q).scalar_one())


def _latency(conn: Connection):  # type: ignore[no-untyped-def]
    a = t.authorizations
    if conn.dialect.name == "sqlite":
        return func.julianday(a.c.answered_at) - func.julianday(a.c.requested_at)
    return extract("epoch", a.c.answered_at - a.c.requested_at)


def latency_at_rank(conn: Connection, w: Window, rank: int) -> tuple[datetime, datetime] | None:
    """(requested_at, answered_at) of the answer ranked `rank` (1 = fastest) in the window, or None.
    The caller computes the latency from the two timestamps, exactly on both databases."""
    a = t.authorizations
    q = (select(a.c.requested_at, a.c.answered_at)
         .where(*_answered(w)).order_by(_latency(conn), a.c.id).offset(rank - 1).limit(1))
    row = conn.execute(q).first()
    return (row[0], row[1]) if row else None


def _answered(w: Window) -> tuple:  # type: ignore[type-arg]
    a = t.authorizations
    return (a.c.requested_at >= w.start, a.c.requested_at < w.end, a.c.answered_at.is_not(None))


def answered_count(conn: Connection, w: Window) -> int:
    return int(conn.execute(select(func.count()).where(*_answered(w))).scalar_one())


def decisions_by_operator(conn: Connection, w: Window) -> list[tuple[str, str, int]]:
    """(operator, decision kind, count) of blocks and releases decided in the window."""
    d = t.decisions
    q = (select(d.c.operator, d.c.kind, func.count())
         .where(d.c.at >= w.start, d.c.at < w.end,
                d.c.kind.in_([m.DecisionKind.BLOCK, m.DecisionKind.RELEASE]))
         .group_by(d.c.operator, d.c.kind))
    return [(op, str(kind), int(n)) for op, kind, n in conn.execute(q)]


def holds_lapsing(conn: Connection) -> int:
    """Instalments still due whose hold ends before their due date: the capture will find no hold.
    (A timestamp before a date compares with that date's midnight on both databases.)"""
    i = t.instalments
    q = select(func.count()).where(and_(i.c.state == m.InstalmentState.PENDING,
                                        i.c.authorized_until.is_not(None),
                                        i.c.authorized_until < i.c.due_date))
    return int(conn.execute(q).scalar_one())


def voids_pending(conn: Connection) -> int:
    a = t.authorizations
    return int(conn.execute(select(func.count()).where(a.c.void_state == m.VoidState.PENDING)).scalar_one())
