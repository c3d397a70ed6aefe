"""Read queries of the list screens beyond the repositories: the holds of a page of orders, the
pre-check results filtered to what needs a decision, and what a capture run would capture."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from d400tui.domain import model as m

from . import tables as t


def order_holds(session: Session, order_ids: Iterable[int]) -> dict[int, tuple[str, bool]]:
    """order id → (hold, awaiting decision), for the orders of one page of results."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    o = t.orders.c
    rows = session.execute(select(o.id, o.hold, o.awaiting_decision).where(o.id.in_(ids))).all()
    return {r[0]: (r[1].value, bool(r[2])) for r in rows}


def results_page(
    session: Session, run_id: int, after_id: int, limit: int, outcomes: tuple[str, ...] | None
) -> list[m.RunResult]:
    r = t.run_results.c
    q = select(m.RunResult).where(r.run_id == run_id, r.id > after_id)
    if outcomes:
        q = q.where(r.outcome.in_(outcomes))
    return list(session.scalars(q.order_by(r.id).limit(limit)))


def capturable(session: Session, due_where: Any, run_date: date) -> tuple[int, Decimal]:
    """(instalments, amount) a capture run at `run_date` would capture: due, order not blocked,
    holding an approved authorization neither expired, being voided nor already in capture."""
    i, o, a = t.instalments, t.orders, t.authorizations
    q = (
        select(func.count(i.c.id), func.coalesce(func.sum(i.c.amount), 0))
        .select_from(i.join(o, o.c.id == i.c.order_id))
        .where(
            due_where,
            o.c.hold != m.PaymentHold.BLOCKED.value,
            select(a.c.id)
            .where(
                and_(
                    a.c.instalment_id == i.c.id,
                    a.c.state == m.AuthState.APPROVED.value,
                    a.c.void_state == m.VoidState.NONE.value,
                    a.c.capture_pending.is_(False),
                    a.c.expires_at >= datetime.combine(run_date, time.min),
                )
            )
            .exists(),
        )
    )
    n, total = session.execute(q).one()
    # the sum comes back as the column's type on some dialects and as raw cents on others
    amount = total if isinstance(total, Decimal) else Decimal(int(total or 0)) / 100
    return int(n or 0), amount
