"""What the batch runs write: a pre-check batch of answers in one transaction with Core
executemany, a capture's run result, and the translation of database failures into a store
error, so the engine decides what a lost race means without knowing SQLAlchemy."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.money import to_cents

from . import tables as t
from .claims import CARD, PENDING, VALIDATED
from .db import StoreError
from .in_lists import in_list
from .json_rows import Stored, dumps, source, timestamp

T = TypeVar("T")


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


def deadlock_retry(work: Callable[[], T], tries: int = 4, lost_connection: bool = False) -> T:
    """Run one transaction's work again when PostgreSQL chose it as a deadlock's (or a serialization
    failure's) victim: the database rolled all of it back, so nothing of it was written. Runs overlap
    (two pre-checks, terminals, workers' leases); a rare deadlock must cost a retry, not the run.
    `lost_connection`: also when the connection died under it (the server ended a session frozen
    in its transaction) — only for work that is safe to do again even if its commit did land."""
    for attempt in range(tries):
        try:
            return work()
        except DBAPIError as exc:
            victim = getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")
            if attempt == tries - 1 or not (victim or (lost_connection and exc.connection_invalidated)):
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


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


def _text(value: Any) -> Any:
    """An enum column's value as stored (Core reads it back as the enum)."""
    return getattr(value, "value", value)


_ANSWERS = {
    d: source(
        d,
        dict(
            id="int",
            state="text",
            code="text",
            cat="text",
            label="text",
            auth_code="text",
            ref="text",
            answered="timestamp",
            expires="timestamp",
            net="text",  # the network the answer says it went on (None: keep the one asked)
            cvv="text",  # the issuer's CVV check result (never the CVV)
        ),
    )
    for d in ("postgresql", "sqlite")
}
_INSTALMENTS = {d: source(d, dict(id="int", pending="boolean", until="timestamp")) for d in ("postgresql", "sqlite")}
_RESULTS = {
    d: source(
        d,
        dict(
            run_id="int",
            order_id="int",
            seq="int",
            outcome="text",
            amount="bigint",
            code="text",
            cat="text",
            reason="text",
            auth_id="int",
            worker="text",  # who did the work (workers: one report per run, each worker's share)
            latency="float8",  # the acquirer call's time in ms (the run report's percentiles)
        ),
    )
    for d in ("postgresql", "sqlite")
}


def write_precheck_answers(session: Session, run_id: int, batch: AnswerBatch) -> list[tuple[int, int]]:
    """Write a batch in the caller's transaction (the audit records are the caller's, last);
    returns (order id, authorization id) of approved holds nothing needs any more — order
    cancelled, deleted, no longer paid by card, instalment gone, or a void asked meanwhile —
    marked void pending here, for the caller to void right after the commit."""
    a, i, o = t.authorizations, t.instalments, t.orders
    conn = session.connection()
    dialect = conn.dialect.name
    label = Stored(a.c.label.type, conn.dialect)
    if dialect == "postgresql":
        # Lock the orders first, in id order — the order terminals lock them in (order row,
        # then its instalments and authorizations) — so the two never deadlock.
        conn.execute(
            select(o.c.id).where(in_list(o.c.id, "ids")).order_by(o.c.id).with_for_update(),
            dict(ids=sorted({r["order_id"] for r in batch.results})),
        )
    # one statement a table (json_rows): the answers onto their REQUESTED rows, the instalments
    answers = sorted(batch.answers, key=lambda x: (x.auth_id or 0, x.inst_id))
    answered = conn.execute(
        text(
            "UPDATE authorizations SET state = v.state, response_code = v.code, category = v.cat, "
            "label = v.label, auth_code = v.auth_code, acquirer_ref = v.ref, answered_at = v.answered, "
            "expires_at = v.expires, network = COALESCE(v.net, authorizations.network), security_check = v.cvv "
            f"FROM {_ANSWERS[dialect]} "
            # COALESCE: never by the state index (SQLite scanned the whole JSON for each REQUESTED
            # row, 10 ms a batch; PostgreSQL read every REQUESTED entry, dead ones included, on
            # statistics taken before the run): by the primary key, from each row of the batch
            f"WHERE authorizations.id = v.id AND COALESCE(authorizations.state, '') = '{m.AuthState.REQUESTED.value}' "
            "RETURNING authorizations.id, authorizations.order_id, authorizations.instalment_id, "
            "authorizations.state, authorizations.void_state"
        ),
        dict(
            rows=dumps(
                [
                    dict(
                        id=x.auth_id,
                        state=x.state,
                        code=x.code,
                        cat=x.category,
                        label=label(x.label),
                        auth_code=x.auth_code,
                        ref=x.ref,
                        answered=timestamp(dialect, x.answered_at),
                        expires=timestamp(dialect, x.expires_at),
                        net=x.network,
                        cvv=x.security_check,
                    )
                    for x in answers
                    if x.auth_id is not None
                ]
            )
        ),
    )
    conn.execute(
        text(
            "UPDATE instalments SET auth_pending = v.pending, authorized_until = v.until "
            f"FROM {_INSTALMENTS[dialect]} WHERE instalments.id = v.id"
        ),
        dict(
            rows=dumps(
                [
                    dict(
                        id=x.inst_id,
                        pending=x.state == m.AuthState.UNKNOWN.value,
                        until=timestamp(dialect, x.expires_at),
                    )
                    for x in sorted(batch.answers, key=lambda x: x.inst_id)
                ]
            )
        ),
    )
    if batch.voided:
        conn.execute(
            update(a)
            .where(in_list(a.c.id, "ids"))
            .values(state=m.AuthState.VOIDED.value, void_state=m.VoidState.DONE.value),
            dict(ids=sorted(batch.voided)),
        )
    if batch.refused_orders:
        conn.execute(
            update(o).where(in_list(o.c.id, "ids")).values(awaiting_decision=True, version=o.c.version + 1),
            dict(ids=sorted(batch.refused_orders)),
        )
    insert_results(session, batch.results)
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
    # Holds made for orders cancelled, deleted or re-paid on a terminal while the call was in
    # flight: the approved rows just written, their orders and instalments read by primary key.
    approved = [r for r in answered.all() if r[3] == m.AuthState.APPROVED.value]
    orphans: list[tuple[int, int]] = []
    if approved:
        orders = dict(
            (r[0], (r[1], r[2]))
            for r in conn.execute(
                select(o.c.id, o.c.status, o.c.payment_method).where(in_list(o.c.id, "ids")),
                dict(ids=sorted({r[1] for r in approved})),
            )
        )
        insts = dict(
            (r[0], r[1])
            for r in conn.execute(
                select(i.c.id, i.c.state).where(in_list(i.c.id, "ids")), dict(ids=sorted({r[2] for r in approved}))
            )
        )
        for auth_id, order_id, inst_id, _, void_state in approved:
            status, method = orders.get(order_id, (None, None))
            if (
                void_state == m.VoidState.PENDING.value
                or _text(status) != VALIDATED
                or _text(insts.get(inst_id)) != PENDING
                or _text(method) != CARD
            ):
                orphans.append((order_id, auth_id))
        orphans.sort()
    if orphans:
        conn.execute(
            update(a).where(in_list(a.c.id, "ids")).values(void_state=m.VoidState.PENDING.value),
            dict(ids=[x[1] for x in orphans]),
        )
    return orphans


INSERT_RESULTS = {
    d: "INSERT INTO run_results (run_id, order_id, instalment_seq, outcome, amount, code, category, reason, "
    "authorization_id, worker, latency_ms) SELECT v.run_id, v.order_id, v.seq, v.outcome, v.amount, v.code, "
    f"v.cat, v.reason, v.auth_id, v.worker, v.latency FROM {src}"
    for d, src in _RESULTS.items()
}
"""`insert_results`'s statement (its `:rows`: `results_json`), for a caller to send with another."""


def results_json(dialect: Any, results: list[dict[str, Any]]) -> str:
    """A batch's run results as `INSERT_RESULTS` binds them."""
    reason = Stored(t.run_results.c.reason.type, dialect)
    return dumps(
        [
            dict(
                run_id=r["run_id"],
                order_id=r["order_id"],
                seq=r["instalment_seq"],
                outcome=r["outcome"],
                amount=to_cents(r["amount"]),
                code=r["code"],
                cat=r["category"],
                reason=reason(r["reason"]),
                auth_id=r["authorization_id"],
                worker=r.get("worker"),
                latency=r.get("latency_ms"),
            )
            for r in results
        ]
    )


def insert_results(session: Session, results: list[dict[str, Any]]) -> None:
    """A batch's run results in one statement (json_rows): one execution whatever their number
    (an executemany runs the INSERT once a row on the server)."""
    if not results:
        return
    conn = session.connection()
    conn.execute(text(INSERT_RESULTS[conn.dialect.name]), {"rows": results_json(conn.dialect, results)})


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
