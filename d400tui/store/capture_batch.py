"""What the capture run claims and writes, in batches: claims of N due instalments (`FOR UPDATE
SKIP LOCKED` on PostgreSQL so several runs or workers share the work, the write lock first on
SQLite), the instalments marked in flight before any call, and a batch of answers written with Core
executemany in one transaction. The engine decides each instalment; this module only reads and
writes. The amount a capture takes is computed in one place: `capturable_amounts`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from d400tui.domain import model as m
from d400tui.domain.cards import Brand, MaskedCard

from . import tables as t
from .claims import PENDING, VALIDATED, due_where

LIVE = [s.value for s in m.LIVE_STATES]


@dataclass
class CaptureCandidate:
    """One due instalment a claim took, with its live authorization when it has one (the domain
    object, detached: the engine decides on it with the domain's own rules)."""

    inst_id: int
    order_id: int
    seq: int
    amount: Decimal  # what a capture would take (capturable_amounts)
    auth: m.Authorization | None = None


@dataclass
class CaptureClaims:
    """What the engine decided for one claim, for `mark_claimed` to write."""

    sent: list[tuple[int, int, int, Decimal]] = field(default_factory=list)  # (auth, instalment, order, amount)
    visited: list[int] = field(default_factory=list)  # every instalment the claim took
    results: list[dict[str, Any]] = field(default_factory=list)  # skipped and refused, one row each
    audits: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    refused: int = 0

    def result(self, run_id: int, c: CaptureCandidate, outcome: str, reason: Any) -> None:
        self.results.append(
            result_row(run_id, c.order_id, c.seq, outcome, c.amount, "", reason, c.auth.id if c.auth else None)
        )


@dataclass
class CaptureAnswers:
    """One batch of answers as the engine computed them from the rows read under lock."""

    auths: list[dict[str, Any]] = field(default_factory=list)  # b_id, b_state, b_amount, b_pending
    released: list[int] = field(default_factory=list)  # senders that no longer wait (owner cleared)
    captured_insts: list[int] = field(default_factory=list)
    settled_insts: list[int] = field(default_factory=list)  # answered: no longer frozen
    touched_orders: set[int] = field(default_factory=set)
    captured_orders: set[int] = field(default_factory=set)
    results: list[dict[str, Any]] = field(default_factory=list)
    approved: int = 0
    refused: int = 0
    unavailable: int = 0
    skipped: int = 0


def result_row(
    run_id: int, order_id: int, seq: int, outcome: str, amount: Decimal, code: str, reason: Any, auth: int | None
) -> dict[str, Any]:
    reason = reason if not isinstance(reason, str) else reason[:200]
    return dict(
        run_id=run_id,
        order_id=order_id,
        instalment_seq=seq,
        outcome=outcome,
        amount=amount,
        code=code,
        category="",
        reason=reason,
        authorization_id=auth,
    )


def _capture_where(dialect: str, run_date: date, run_id: int, walk_pk: bool = False) -> Any:
    """Due at `run_date`, order not blocked, not yet taken by this run."""
    i, o = t.instalments, t.orders
    return and_(
        due_where(dialect, run_date, walk_pk),
        o.c.hold != m.PaymentHold.BLOCKED.value,
        or_(i.c.capture_run_id.is_(None), i.c.capture_run_id != run_id),
    )


def capture_worklist(session: Session, run_date: date) -> list[tuple[int, int, Decimal]]:
    """(order id, instalment seq, amount) due for capture at `run_date`, orders not blocked."""
    i, o = t.instalments, t.orders
    rows = session.execute(
        select(i.c.id, i.c.order_id, i.c.seq)
        .join(o, o.c.id == i.c.order_id)
        .where(_capture_where(session.get_bind().dialect.name, run_date, -1))
        .order_by(i.c.order_id, i.c.seq)
    ).all()
    amounts = capturable_amounts(session, [r[0] for r in rows])
    return [(r[1], r[2], amounts[r[0]]) for r in rows]


def count_capture_due(session: Session, run_date: date, run_id: int) -> int:
    i, o = t.instalments, t.orders
    q = select(func.count()).select_from(i.join(o, o.c.id == i.c.order_id))
    return session.scalar(q.where(_capture_where(session.get_bind().dialect.name, run_date, run_id))) or 0


def capturable_amounts(session: Session, inst_ids: list[int]) -> dict[int, Decimal]:
    """What a capture of each instalment takes: today the whole instalment. The one place that
    says it (shipments will make it what was shipped); the engine still checks it against the
    authorization."""
    if not inst_ids:
        return {}
    i = t.instalments
    return {r[0]: r[1] for r in session.execute(select(i.c.id, i.c.amount).where(i.c.id.in_(inst_ids)))}


def claim_captures(
    session: Session, run_id: int, run_date: date, n: int, after: int
) -> tuple[list[CaptureCandidate], int]:
    """Take up to n due instalments with an id above `after`, in the caller's transaction, with
    their live authorization; returns them and the highest id taken (0 when none was). The caller
    decides each and calls `mark_claimed` in the same transaction."""
    i, o, a = t.instalments, t.orders, t.authorizations
    dialect = session.get_bind().dialect.name
    q = (
        select(i.c.id, i.c.order_id, i.c.seq)
        .join(o, o.c.id == i.c.order_id)
        .where(i.c.id > after, _capture_where(dialect, run_date, run_id, walk_pk=True))
        .order_by(i.c.id)
        .limit(n)
    )
    if dialect == "postgresql":
        # orders too: an order a terminal is changing right now is left for the closing sweep,
        # and no lock is waited for here (no deadlock with terminals or another run)
        q = q.with_for_update(of=[o, i], skip_locked=True)
    else:
        # SQLite: the write lock before selecting, so two claims never read the same free rows
        r = t.precheck_runs
        session.execute(update(r).where(r.c.id == run_id).values(selected=r.c.selected))
    rows = session.execute(q).all()
    if not rows:
        return [], 0
    ids = [r[0] for r in rows]
    amounts = capturable_amounts(session, ids)
    out = {r[0]: CaptureCandidate(r[0], r[1], r[2], amounts[r[0]]) for r in rows}
    cols = (
        a.c.id,
        a.c.instalment_id,
        a.c.order_id,
        a.c.amount,
        a.c.idempotency_key,
        a.c.acquirer,
        a.c.card_brand,
        a.c.card_first6,
        a.c.card_last4,
        a.c.card_expiry,
        a.c.state,
        a.c.acquirer_ref,
        a.c.captured_amount,
        a.c.expires_at,
        a.c.void_state,
        a.c.capture_pending,
    )
    q_auth = (
        select(*cols)
        .where(
            a.c.order_id.in_(sorted({r[1] for r in rows})),  # indexed; the instalment is filtered next
            a.c.instalment_id.in_(ids),
            a.c.kind == m.AuthKind.AUTHORIZE.value,
            a.c.state.in_(LIVE),
        )
        .order_by(a.c.id)
    )
    for x in session.execute(q_auth):  # in id order: the last live one wins, as Order.live_authorization
        out[x[1]].auth = m.Authorization(
            x[2],
            x[1],
            m.AuthKind.AUTHORIZE,
            x[3],
            x[4],
            x[5],
            MaskedCard(Brand(x[6]), x[7], x[8], x[9]),
            state=x[10],
            id=x[0],
            acquirer_ref=x[11],
            captured_amount=x[12],
            expires_at=x[13],
            void_state=x[14],
            capture_pending=x[15],
        )
    return list(out.values()), ids[-1]


def mark_claimed(session: Session, run_id: int, now: datetime, owner: str, claims: CaptureClaims) -> None:
    """Write a claim's decisions (before any call): the captures to send marked in flight with
    their amount, sender and run, their instalments frozen and their orders' versions moved (a
    terminal's cancel read before it fails); every instalment taken marked with the run; the
    skipped and refused ones recorded. The caller appends `claims.audits` last, then commits."""
    a, i, o, r = t.authorizations, t.instalments, t.orders, t.precheck_runs
    conn = session.connection()
    if claims.sent:
        conn.execute(
            update(a)
            .where(a.c.id == bindparam("b_id"))
            .values(capture_pending=True, captured_amount=bindparam("b_amount"), owner=owner, capture_run_id=run_id),
            [dict(b_id=x[0], b_amount=x[3]) for x in sorted(claims.sent)],
        )
        conn.execute(update(i).where(i.c.id.in_([x[1] for x in claims.sent])).values(auth_pending=True))
        orders = sorted({x[2] for x in claims.sent})
        conn.execute(update(o).where(o.c.id.in_(orders)).values(version=o.c.version + 1, updated_at=now))
    if claims.visited:
        conn.execute(update(i).where(i.c.id.in_(claims.visited)).values(capture_run_id=run_id))
    if claims.results:
        conn.execute(insert(t.run_results), claims.results)
    if claims.skipped or claims.refused:
        conn.execute(
            update(r)
            .where(r.c.id == run_id)
            .values(skipped=r.c.skipped + claims.skipped, refused=r.c.refused + claims.refused)
        )


def lock_answered(session: Session, auth_ids: list[int]) -> dict[int, tuple[m.AuthState, bool, Decimal]]:
    """Before a batch of answers is written: the orders locked in id order (PostgreSQL; the
    order terminals lock them in, so the two never deadlock), and each authorization's (state,
    capture still pending, captured amount) as it is now — a reconciler elsewhere may have
    settled it meanwhile."""
    a, o = t.authorizations, t.orders
    if session.get_bind().dialect.name == "postgresql":
        orders = select(a.c.order_id).where(a.c.id.in_(auth_ids))
        session.execute(select(o.c.id).where(o.c.id.in_(orders)).order_by(o.c.id).with_for_update())
    rows = session.execute(
        select(a.c.id, a.c.state, a.c.capture_pending, a.c.captured_amount).where(a.c.id.in_(auth_ids))
    )
    return {x[0]: (m.AuthState(x[1]), bool(x[2]), x[3]) for x in rows}


def write_capture_answers(session: Session, run_id: int, now: datetime, b: CaptureAnswers) -> dict[int, str]:
    """Write a batch of answers in the caller's transaction (audit records are the caller's, last):
    authorizations, instalments captured or unfrozen, orders whose last instalment was captured
    invoiced (a cancelled or deleted one stays so), results and the run's counters. Returns the
    status of each order a capture was recorded for, for the audit records."""
    a, i, o, r = t.authorizations, t.instalments, t.orders, t.precheck_runs
    conn = session.connection()
    if b.auths:
        conn.execute(
            update(a)
            .where(a.c.id == bindparam("b_id"))
            .values(
                state=bindparam("b_state"),
                captured_amount=bindparam("b_amount"),
                capture_pending=bindparam("b_pending"),
                owner=None,
            ),
            sorted(b.auths, key=lambda x: x["b_id"]),
        )
    if b.released:
        conn.execute(update(a).where(a.c.id.in_(b.released)).values(owner=None))
    if b.captured_insts:
        conn.execute(
            update(i)
            .where(i.c.id.in_(b.captured_insts))
            .values(state=m.InstalmentState.CAPTURED.value, authorized_until=None, auth_pending=False)
        )
    if b.settled_insts:
        conn.execute(update(i).where(i.c.id.in_(b.settled_insts)).values(auth_pending=False))
    status: dict[int, str] = {}
    if b.captured_orders:
        left = exists().where(i.c.order_id == o.c.id, i.c.state == PENDING)
        conn.execute(
            update(o)
            .where(o.c.id.in_(b.captured_orders), o.c.status == VALIDATED, ~left)
            .values(status=m.OrderStatus.INVOICED.value)
        )
        status = {
            x[0]: str(x[1]) for x in conn.execute(select(o.c.id, o.c.status).where(o.c.id.in_(b.captured_orders)))
        }
    if b.touched_orders:
        conn.execute(update(o).where(o.c.id.in_(b.touched_orders)).values(version=o.c.version + 1, updated_at=now))
    if b.results:
        conn.execute(insert(t.run_results), b.results)
    conn.execute(
        update(r)
        .where(r.c.id == run_id)
        .values(
            approved=r.c.approved + b.approved,
            refused=r.c.refused + b.refused,
            unavailable=r.c.unavailable + b.unavailable,
            skipped=r.c.skipped + b.skipped,
        )
    )
    return status


def release_senders(session: Session, auth_ids: list[int]) -> None:
    """The captures' sender no longer waits for their answers: the reconciler may settle them."""
    if auth_ids:
        a = t.authorizations
        session.execute(update(a).where(a.c.id.in_(auth_ids)).values(owner=None))
