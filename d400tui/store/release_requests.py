"""Four-eyes release requests (advice, issue 13): written when an operator asks to release an order
refused as lost or stolen, read by the supervisors' queue, closed by a supervisor's decision."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from d400tui.domain import model as m

from . import tables as t

_COLS = (
    "id",
    "order_id",
    "asked_by",
    "asked_at",
    "shown_category",
    "shown_code",
    "shown_label",
    "authorization_id",
    "state",
    "decided_by",
    "decided_at",
)


def _request(row: Any) -> m.ReleaseRequest:
    d = dict(zip(_COLS, row, strict=True))
    d["state"] = m.ReleaseState(d["state"])
    return m.ReleaseRequest(**d)


def _select() -> Any:
    r = t.release_requests
    return select(*(r.c[c] for c in _COLS))


def add(session: Session, req: m.ReleaseRequest) -> int:
    values = {c: getattr(req, c) for c in _COLS if c != "id"}
    values["state"] = req.state.value
    new_id = session.execute(insert(t.release_requests).values(**values).returning(t.release_requests.c.id)).scalar()
    req.id = int(new_id or 0)
    return req.id


def pending(session: Session, order_id: int) -> m.ReleaseRequest | None:
    """The order's open request, the newest if an older one was left open."""
    r = t.release_requests
    row = session.execute(
        _select()
        .where(r.c.order_id == order_id, r.c.state == m.ReleaseState.PENDING.value)
        .order_by(r.c.id.desc())
        .limit(1)
    ).first()
    return _request(row) if row else None


def pending_of(session: Session, order_ids: Iterable[int]) -> dict[int, m.ReleaseRequest]:
    """Open requests of a page of orders, one query."""
    ids = list(order_ids)
    if not ids:
        return {}
    r = t.release_requests
    rows = session.execute(
        _select().where(r.c.order_id.in_(ids), r.c.state == m.ReleaseState.PENDING.value).order_by(r.c.id)
    ).all()
    return {req.order_id: req for req in map(_request, rows)}


def close(session: Session, order_id: int, state: m.ReleaseState, by: str, at: datetime) -> int:
    """Close every open request of the order; the number closed."""
    r = t.release_requests
    res = session.execute(
        update(r)
        .where(r.c.order_id == order_id, r.c.state == m.ReleaseState.PENDING.value)
        .values(state=state.value, decided_by=by, decided_at=at)
    )
    return int(getattr(res, "rowcount", 0) or 0)
