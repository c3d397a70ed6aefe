"""The audit trail read back for the audit screen and its CSV export: filtered, newest first,
keyset-paged on the id (never the whole trail in memory)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from . import tables as t


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    order_id: int | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None  # inclusive


def audit_page(conn: Connection, f: AuditFilter, before_id: int | None, limit: int) -> list[dict[str, Any]]:
    a = t.audit
    q = select(a.c.id, a.c.at, a.c.actor, a.c.action, a.c.order_id, a.c.detail)
    if f.actor:
        q = q.where(a.c.actor == f.actor)
    if f.order_id is not None:
        q = q.where(a.c.order_id == f.order_id)
    if f.action:
        q = q.where(a.c.action == f.action)
    if f.since:
        q = q.where(a.c.at >= datetime.combine(f.since, time.min))
    if f.until:
        q = q.where(a.c.at < datetime.combine(f.until + timedelta(days=1), time.min))
    if before_id is not None:
        q = q.where(a.c.id < before_id)
    return [dict(r._mapping) for r in conn.execute(q.order_by(a.c.id.desc()).limit(limit))]


def trail(session: Session, since: date | None, limit: int) -> list[dict[str, Any]]:
    """Every column of the newest `limit` records (since a day, when given), newest first."""
    q = select(t.audit)
    if since:
        q = q.where(t.audit.c.at >= datetime.combine(since, time.min))
    return [dict(r._mapping) for r in session.execute(q.order_by(t.audit.c.id.desc()).limit(limit))]
