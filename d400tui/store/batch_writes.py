"""What the batch runs write: a pre-check batch of answers in one transaction with Core
executemany, a capture's run result, and the translation of database failures into a store
error, so the engine decides what a lost race means without knowing SQLAlchemy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from d400tui.domain import model as m
from d400tui.domain.message import Message

from . import tables as t
from .claims import CARD, PENDING, VALIDATED
from .db import StoreError


class DatabaseBusy(StoreError):
    """A statement failed in the database (a lock not had in time, the connection lost, a disk
    error): nothing of that transaction was written; the work waits for a later run."""


@contextmanager
def database_errors() -> Iterator[None]:
    """Any SQLAlchemy error raised inside reads as DatabaseBusy (the original is its cause)."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise DatabaseBusy(str(exc)) from exc


class Answer(NamedTuple):
    """A pre-check answer as written on its REQUESTED row and its instalment."""

    auth_id: int | None
    inst_id: int
    state: str
    code: str
    category: str
    label: str | Message
    auth_code: str | None
    ref: str | None
    answered_at: datetime | None
    expires_at: datetime | None
    network: str | None = None  # the network the acquirer says it used (None: keep the one asked)
    security_check: str | None = None


@dataclass
class AnswerBatch:
    """One batch of pre-check answers: rows, results, audit records and the run's counters."""

    answers: list[Answer] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    voided: list[int] = field(default_factory=list)  # expired holds whose void the acquirer confirmed
    refused_orders: set[int] = field(default_factory=set)
    approved: int = 0
    refused: int = 0
    unavailable: int = 0

    def audit(self, at: datetime, actor: str, action: str, order_id: int, detail: str) -> None:
        """One audit record; `detail` is JSON already (written by hand: a run writes thousands)."""
        self.audits.append(dict(at=at, actor=actor, action=action, order_id=order_id, detail=detail))


def write_precheck_answers(session: Session, run_id: int, batch: AnswerBatch) -> list[tuple[int, int]]:
    """Write a batch in the caller's transaction (the audit records are the caller's, last);
    returns (order id, authorization id) of approved holds nothing needs any more — order
    cancelled, deleted, no longer paid by card, instalment gone, or a void asked meanwhile —
    marked void pending here, for the caller to void right after the commit."""
    a, i, o = t.authorizations, t.instalments, t.orders
    # in id order, as every writer takes the rows' locks
    auth_rows = [
        dict(
            b_id=x.auth_id,
            b_state=x.state,
            b_code=x.code,
            b_cat=x.category,
            b_label=x.label,
            b_auth_code=x.auth_code,
            b_ref=x.ref,
            b_answered=x.answered_at,
            b_expires=x.expires_at,
            b_net=x.network,
            b_cvv=x.security_check,
        )
        for x in sorted(batch.answers, key=lambda x: x.auth_id or 0)
    ]
    inst_rows = [
        dict(b_id=x.inst_id, b_pending=x.state == m.AuthState.UNKNOWN.value, b_until=x.expires_at)
        for x in sorted(batch.answers, key=lambda x: x.inst_id)
    ]
    conn = session.connection()
    if session.get_bind().dialect.name == "postgresql":
        # Lock the orders first, in id order — the order terminals lock them in (order row,
        # then its instalments and authorizations) — so the two never deadlock.
        conn.execute(
            select(o.c.id)
            .where(o.c.id.in_(sorted({r["order_id"] for r in batch.results})))
            .order_by(o.c.id)
            .with_for_update()
        )
    conn.execute(
        update(a)
        .where(a.c.id == bindparam("b_id"), a.c.state == m.AuthState.REQUESTED.value)
        .values(
            state=bindparam("b_state"),
            response_code=bindparam("b_code"),
            category=bindparam("b_cat"),
            label=bindparam("b_label"),
            auth_code=bindparam("b_auth_code"),
            acquirer_ref=bindparam("b_ref"),
            answered_at=bindparam("b_answered"),
            expires_at=bindparam("b_expires"),
            network=func.coalesce(bindparam("b_net"), a.c.network),
            security_check=bindparam("b_cvv"),
        ),
        auth_rows,
    )
    conn.execute(
        update(i)
        .where(i.c.id == bindparam("b_id"))
        .values(auth_pending=bindparam("b_pending"), authorized_until=bindparam("b_until")),
        inst_rows,
    )
    if batch.voided:
        conn.execute(
            update(a)
            .where(a.c.id.in_(batch.voided))
            .values(state=m.AuthState.VOIDED.value, void_state=m.VoidState.DONE.value)
        )
    if batch.refused_orders:
        conn.execute(
            update(o).where(o.c.id.in_(batch.refused_orders)).values(awaiting_decision=True, version=o.c.version + 1)
        )
    conn.execute(insert(t.run_results), batch.results)
    r = t.precheck_runs
    conn.execute(
        update(r)
        .where(r.c.id == run_id)
        .values(
            approved=r.c.approved + batch.approved,
            refused=r.c.refused + batch.refused,
            unavailable=r.c.unavailable + batch.unavailable,
        )
    )
    # Holds made for orders cancelled, deleted or re-paid on a terminal while the call was in flight.
    approved_ids = [x.auth_id for x in batch.answers if x.auth_id is not None]
    orphans = [
        (row[0], row[1])
        for row in conn.execute(
            select(a.c.order_id, a.c.id)
            .join(o, o.c.id == a.c.order_id)
            .join(i, i.c.id == a.c.instalment_id)
            .where(
                a.c.id.in_(approved_ids),
                a.c.state == m.AuthState.APPROVED.value,
                or_(
                    a.c.void_state == m.VoidState.PENDING.value,
                    o.c.status != VALIDATED,
                    i.c.state != PENDING,
                    o.c.payment_method != CARD,
                ),
            )
        )
    ]
    if orphans:
        conn.execute(update(a).where(a.c.id.in_([x[1] for x in orphans])).values(void_state=m.VoidState.PENDING.value))
    return orphans


def add_run_result(
    session: Session,
    run_id: int,
    order_id: int,
    seq: int,
    outcome: str,
    amount: Decimal,
    code: str,
    reason: str | Message,
    auth_id: int | None,
) -> None:
    session.execute(
        insert(t.run_results).values(
            run_id=run_id,
            order_id=order_id,
            instalment_seq=seq,
            outcome=outcome,
            amount=amount,
            code=code,
            category="",
            reason=reason if isinstance(reason, Message) else reason[:200],
            authorization_id=auth_id,
        )
    )


def release_capture_sender(session: Session, auth_id: int) -> None:
    """The capture's sender no longer waits for its answer: the reconciler may settle it."""
    session.execute(update(t.authorizations).where(t.authorizations.c.id == auth_id).values(owner=None))
