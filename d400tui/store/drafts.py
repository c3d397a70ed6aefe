"""The order being typed, one per operator, saved at each step so a dropped terminal loses nothing.
The engine refuses and scrubs a card number before it gets here; the column scrubs again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import tables as t


def save(session: Session, operator: str, saved_at: datetime, content: str) -> None:
    """Insert or replace the operator's draft in one statement (no read-then-write race)."""
    d = t.order_drafts
    dialect = session.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(d)
    stmt = ins.values(operator=operator, saved_at=saved_at, content=content)
    stmt = stmt.on_conflict_do_update(
        index_elements=["operator"], set_={"saved_at": stmt.excluded.saved_at, "content": stmt.excluded.content}
    )
    session.execute(stmt)


def load(session: Session, operator: str) -> tuple[datetime, str] | None:
    d = t.order_drafts
    row = session.execute(select(d.c.saved_at, d.c.content).where(d.c.operator == operator)).first()
    return (row[0], row[1]) if row else None


def discard(session: Session, operator: str) -> None:
    session.execute(delete(t.order_drafts).where(t.order_drafts.c.operator == operator))
