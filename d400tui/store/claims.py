"""What the batch runs select and claim: due instalments, the pre-check's claims (`FOR UPDATE SKIP
LOCKED` on PostgreSQL so several workers share one run, the write lock first on SQLite) and
the end-of-run counts (the capture run's: store/capture_batch.py). Written once for both
databases; the engine decides."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, and_, cast, exists, func, insert, literal_column, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from d400tui.domain import model as m
from d400tui.domain.message import Message

from . import tables as t

PENDING, VALIDATED, PHONE, CARD = "PENDING", "VALIDATED", "PHONE", "CARD"
STALE_RUN = timedelta(hours=2)  # a run unfinished after this long died (killed process): its claims are free


@dataclass
class PrecheckClaim:
    """One instalment claimed by a pre-check run, with its REQUESTED row (auth_id, key) and, when
    its previous hold expired, that hold (voided by the run before the new call)."""

    inst_id: int
    order_id: int
    seq: int
    amount: Decimal
    token: str | None
    brand: str = "UNKNOWN"
    auth_id: int | None = None
    key: str = ""
    old_auth_id: int | None = None
    old_ref: str | None = None
    old_key: str | None = None


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _unindexed(column: Any) -> Any:
    """`+column`: the same value, but SQLite will not pick an index on it for the plan."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def _day_end(d: date) -> datetime:
    return datetime.combine(d + timedelta(days=1), time.min)


def due_where(dialect: str, run_date: date, walk_pk: bool = False) -> Any:
    """Due at `run_date` on a validated phone card order. walk_pk: written so that SQLite walks the
    primary key (claims, in id order from where the last one stopped) rather than the (state, due
    date) index, which made it sort every due instalment again at each claim (5-10 ms a claim,
    measured). PostgreSQL plans the id range without being told."""
    i, o = t.instalments, t.orders
    state, status = i.c.state, o.c.status
    if walk_pk and dialect == "sqlite":
        state, status = _unindexed(state), _unindexed(status)
    return and_(
        state == PENDING,
        i.c.due_date <= run_date,
        status == VALIDATED,
        o.c.channel == PHONE,
        o.c.payment_method == CARD,
    )


def _precheck_where(
    dialect: str, run_date: date, run_id: int, since: datetime, now: datetime, walk_pk: bool = False
) -> Any:
    """Due, not in flight, not tried by this run nor by any run that overlapped it (two
    pre-checks at the same time never ask twice for one instalment; a rerun started after
    they ended retries refusals), and with no authorization valid through the run date."""
    i, r = t.instalments, t.precheck_runs
    over = select(r.c.id).where(or_(r.c.finished_at < since, r.c.started_at < now - STALE_RUN, abandoned(dialect)))
    return and_(
        due_where(dialect, run_date, walk_pk),
        i.c.auth_pending.is_(False),
        or_(i.c.precheck_run_id.is_(None), and_(i.c.precheck_run_id != run_id, i.c.precheck_run_id.in_(over))),
        or_(i.c.authorized_until.is_(None), i.c.authorized_until < _day_end(run_date)),
    )


def abandoned(dialect: str) -> Any:
    """A run every worker of which left or lost its lease (store.leases) without ending it: it
    died, its claims are free (no need to wait STALE_RUN)."""
    r, w = t.precheck_runs, t.run_workers
    mine = w.c.run_id == r.c.id
    live = exists().where(mine, w.c.finished.is_(None), w.c.lease_until >= epoch_now(dialect))
    return and_(r.c.finished_at.is_(None), exists().where(mine), ~live)


def epoch_now(dialect: str) -> Any:
    """Seconds since the epoch on the database's clock (leases compare it, never a worker's)."""
    if dialect == "postgresql":
        return cast(func.extract("epoch", func.clock_timestamp()), Float)
    return literal_column("((julianday('now') - 2440587.5) * 86400.0)", Float)


def precheck_selection(session: Session, run_date: date, now: datetime) -> list[tuple[int, int]]:
    """(order id, instalment seq) a new pre-check would authorize at `run_date`."""
    i, o = t.instalments, t.orders
    rows = session.execute(
        select(i.c.order_id, i.c.seq)
        .join(o, o.c.id == i.c.order_id)
        .where(_precheck_where(_dialect(session), run_date, -1, now, now))
        .order_by(i.c.order_id, i.c.seq)
    ).all()
    return [(r[0], r[1]) for r in rows]


def count_precheck_due(session: Session, run_date: date, run_id: int, since: datetime, now: datetime) -> int:
    i, o = t.instalments, t.orders
    return (
        session.scalar(
            select(func.count())
            .select_from(i.join(o, o.c.id == i.c.order_id))
            .where(_precheck_where(_dialect(session), run_date, run_id, since, now))
        )
        or 0
    )


def claim_precheck(
    session: Session,
    run_id: int,
    run_date: date,
    since: datetime,
    now: datetime,
    n: int,
    after: int,
    acquirer: str,
    operator: str,
    owner: str,
    skip_reason: str | Message,
) -> tuple[list[PrecheckClaim], int]:
    """Claim up to n instalments with an id above `after`, in the caller's transaction: their
    REQUESTED rows inserted (expired holds marked EXPIRED, void pending), the token-less ones
    recorded SKIPPED with `skip_reason`. Returns the claims to authorize and the highest id claimed
    (0 when none was), so the next claim starts there: a run is one pass over the table."""
    i, o, a = t.instalments, t.orders, t.authorizations
    dialect = _dialect(session)
    q = (
        select(
            i.c.id,
            i.c.order_id,
            i.c.seq,
            i.c.amount,
            i.c.authorized_until,
            o.c.card_token,
            o.c.card_brand,
            o.c.card_first6,
            o.c.card_last4,
            o.c.card_expiry,
        )
        .join(o, o.c.id == i.c.order_id)
        .where(i.c.id > after, _precheck_where(dialect, run_date, run_id, since, now, walk_pk=True))
        .order_by(i.c.id)
        .limit(n)
    )
    if dialect == "postgresql":
        # orders too: an order a terminal is changing right now is left for a later claim,
        # and no lock is ever waited for here (no deadlock with terminals)
        q = q.with_for_update(of=[o, i], skip_locked=True)
    else:
        # SQLite: take the write lock before selecting (a no-op write opens the transaction),
        # so two claims never read the same free instalments.
        session.execute(
            update(t.precheck_runs).where(t.precheck_runs.c.id == run_id).values(selected=t.precheck_runs.c.selected)
        )
    rows = session.execute(q).all()
    if not rows:
        return [], 0
    claims = [PrecheckClaim(r[0], r[1], r[2], r[3], r[5], r[6] or "UNKNOWN") for r in rows]
    cards = {r[0]: r for r in rows}
    expired_ids = [r[0] for r in rows if r[4] is not None]
    old: dict[int, tuple[int, str | None, str]] = {}
    if expired_ids:
        for aid, inst_id, ref, key in session.execute(
            select(a.c.id, a.c.instalment_id, a.c.acquirer_ref, a.c.idempotency_key).where(
                a.c.instalment_id.in_(expired_ids),
                a.c.state == m.AuthState.APPROVED.value,
                a.c.kind == m.AuthKind.AUTHORIZE.value,
            )
        ):
            old[inst_id] = (aid, ref, key)
        if old:
            session.execute(
                update(a)
                .where(a.c.id.in_([v[0] for v in old.values()]))
                .values(state=m.AuthState.EXPIRED.value, void_state=m.VoidState.PENDING.value)
            )
    todo = [c for c in claims if c.token]
    for c in todo:
        c.key = secrets.token_hex(16)  # 128 random bits, as uuid4 but a third of the cost
        if c.inst_id in old:
            c.old_auth_id, c.old_ref, c.old_key = old[c.inst_id]
    if todo:
        # Plain executemany, then the ids read back by their unique keys: SQLite has no
        # sentinel for an ordered RETURNING and SQLAlchemy fell back to one INSERT per row.
        same = dict(
            kind=m.AuthKind.AUTHORIZE.value,
            state=m.AuthState.REQUESTED.value,
            captured_amount=Decimal(0),
            acquirer=acquirer,
            requested_at=now,
            void_state=m.VoidState.NONE.value,
            operator=operator,
            owner=owner,
        )
        session.execute(
            insert(a),
            [
                dict(
                    same,
                    order_id=c.order_id,
                    instalment_id=c.inst_id,
                    amount=c.amount,
                    idempotency_key=c.key,
                    card_brand=card[6] or "UNKNOWN",
                    card_first6=card[7] or "",
                    card_last4=card[8] or "",
                    card_expiry=card[9] or "",
                )
                for c in todo
                for card in (cards[c.inst_id],)
            ],
        )
        ids = dict(
            session.execute(
                select(a.c.idempotency_key, a.c.id).where(a.c.idempotency_key.in_([c.key for c in todo]))
            ).all()
        )
        for c in todo:
            c.auth_id = ids[c.key]
    session.execute(
        update(i).where(i.c.id.in_([c.inst_id for c in claims])).values(precheck_run_id=run_id, authorized_until=None)
    )
    if todo:
        session.execute(update(i).where(i.c.id.in_([c.inst_id for c in todo])).values(auth_pending=True))
    skipped = [c for c in claims if not c.token]
    if skipped:
        session.execute(
            insert(t.run_results),
            [
                dict(
                    run_id=run_id,
                    order_id=c.order_id,
                    instalment_seq=c.seq,
                    outcome="SKIPPED",
                    amount=c.amount,
                    code="",
                    category="",
                    reason=skip_reason,
                    authorization_id=None,
                    worker=owner,  # the worker that claimed it (leases: each worker's share)
                )
                for c in skipped
            ],
        )
        session.execute(
            update(t.precheck_runs)
            .where(t.precheck_runs.c.id == run_id)
            .values(skipped=t.precheck_runs.c.skipped + len(skipped))
        )
    return todo, rows[-1][0]


def precheck_end_counts(session: Session, run_date: date) -> tuple[int, int]:
    """(due instalments still in flight or unknown, due instalments of other channels or methods)."""
    i, o = t.instalments, t.orders
    frozen = (
        session.scalar(
            select(func.count())
            .select_from(i.join(o, o.c.id == i.c.order_id))
            .where(due_where(_dialect(session), run_date), i.c.auth_pending.is_(True))
        )
        or 0
    )
    others = (
        session.scalar(
            select(func.count())
            .select_from(i.join(o, o.c.id == i.c.order_id))
            .where(
                i.c.state == PENDING,
                i.c.due_date <= run_date,
                o.c.status == VALIDATED,
                or_(o.c.channel != PHONE, o.c.payment_method != CARD),
            )
        )
        or 0
    )
    return frozen, others
