"""The workers of a run and their leases, on the database's clock (workers on several machines
compare one clock, never their own): a worker joins, renews its lease while it works, finishes;
the REQUESTED rows of a worker whose lease ran out are claimed again by another, under the same
idempotency keys (the acquirer replays its first answer: never a second hold). Also the figures a
run report and a progress display read. PostgreSQL locks with `SKIP LOCKED`; SQLite has one worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session

from d400tui.domain import model as m

from . import tables as t
from .claims import PrecheckClaim, epoch_now
from .in_lists import in_list

REQUESTED = m.AuthState.REQUESTED.value


@dataclass(frozen=True)
class WorkerRow:
    worker: str
    concurrency: int
    started: float
    heartbeat: float
    lease_until: float
    finished: float | None
    done: int
    max_rss_kb: int | None = None


def shared(session: Session) -> bool:
    """Several workers may share a run: PostgreSQL only (SQLite has one writer and no SKIP LOCKED)."""
    return session.get_bind().dialect.name == "postgresql"


def _now(session: Session) -> Any:
    """Seconds since the epoch on the database's clock, as an SQL expression."""
    return epoch_now(session.get_bind().dialect.name)


def db_now(session: Session) -> float:
    return float(session.scalar(select(_now(session))) or 0.0)


def join(session: Session, run_id: int, worker: str, concurrency: int, lease_s: float) -> None:
    """Register `worker` on the run with a lease of `lease_s` seconds (again after a restart)."""
    w = t.run_workers
    now = db_now(session)
    values = dict(heartbeat=now, lease_until=now + lease_s, finished=None, concurrency=concurrency)
    hit = session.execute(update(w).where(w.c.run_id == run_id, w.c.worker == worker).values(**values))
    if not getattr(hit, "rowcount", 0):
        session.execute(insert(w).values(run_id=run_id, worker=worker, started=now, done=0, **values))


def renew(session: Session, run_id: int, worker: str, lease_s: float, done: int = 0, rss_kb: int = 0) -> None:
    """Push the lease back `lease_s` seconds from now; `done` more results to the worker's count."""
    w = t.run_workers
    now = _now(session)
    session.execute(
        update(w)
        .where(w.c.run_id == run_id, w.c.worker == worker)
        .values(heartbeat=now, lease_until=now + lease_s, done=w.c.done + done, max_rss_kb=rss_kb or None)
    )


def finish(session: Session, run_id: int, worker: str, rss_kb: int = 0) -> None:
    w = t.run_workers
    now = _now(session)
    session.execute(
        update(w)
        .where(w.c.run_id == run_id, w.c.worker == worker)
        .values(finished=now, heartbeat=now, lease_until=now, max_rss_kb=rss_kb or None)
    )


def workers(session: Session, run_id: int) -> tuple[float, list[WorkerRow]]:
    """The database's clock now, and every worker of the run in the order they joined."""
    w = t.run_workers
    rows = session.execute(
        select(
            w.c.worker,
            w.c.concurrency,
            w.c.started,
            w.c.heartbeat,
            w.c.lease_until,
            w.c.finished,
            w.c.done,
            w.c.max_rss_kb,
        )
        .where(w.c.run_id == run_id)
        .order_by(w.c.id)
    ).all()
    return db_now(session), [WorkerRow(*r) for r in rows]


def _sent(run_id: int, capture: bool) -> Any:
    """The run's calls sent and not answered: REQUESTED authorizations of a pre-check, captures in
    flight of a capture run."""
    a, i = t.authorizations, t.instalments
    if capture:
        return and_(a.c.capture_run_id == run_id, a.c.capture_pending.is_(True))
    return and_(i.c.precheck_run_id == run_id, i.c.auth_pending.is_(True), a.c.state == REQUESTED)


def in_flight(session: Session, run_id: int, owners: Sequence[str], capture: bool = False) -> int:
    """Calls of the run sent by `owners` and not answered yet."""
    if not owners:
        return 0
    a, i = t.authorizations, t.instalments
    return (
        session.scalar(
            select(func.count())
            .select_from(a.join(i, i.c.id == a.c.instalment_id))
            .where(_sent(run_id, capture), a.c.owner.in_(list(owners)))
        )
        or 0
    )


def take_over(
    session: Session, run_id: int, lost: Sequence[str], me: str, n: int, now: datetime
) -> list[PrecheckClaim]:
    """Claim again up to `n` REQUESTED rows of the run whose sender lost its lease: the same
    authorization rows and idempotency keys, now sent by `me`. The caller commits."""
    if not lost:
        return []
    a, i, o = t.authorizations, t.instalments, t.orders
    q = (
        select(
            a.c.id,
            a.c.idempotency_key,
            i.c.id,
            i.c.order_id,
            i.c.seq,
            a.c.amount,
            o.c.card_token,
            o.c.card_brand,
            a.c.network,  # sent again as first sent: the issuer refuses a key replayed on another network
            a.c.acquirer,  # and to the acquirer its row names (its token's issuer, or a failover's)
        )
        .join(i, i.c.id == a.c.instalment_id)
        .join(o, o.c.id == a.c.order_id)
        .where(
            i.c.precheck_run_id == run_id,
            i.c.auth_pending.is_(True),
            a.c.state == REQUESTED,
            a.c.kind == m.AuthKind.AUTHORIZE.value,
            a.c.owner.in_(list(lost)),
        )
        .order_by(a.c.id)
        .limit(n)
    )
    if shared(session):
        q = q.with_for_update(of=[a], skip_locked=True)
    rows = session.execute(q).all()
    if not rows:
        return []
    session.execute(update(a).where(a.c.id.in_([r[0] for r in rows])).values(owner=me, requested_at=now))
    # the expired holds the lost worker was to void first (voided again under the same void key,
    # at the acquirer that holds them: their row names it)
    old = {
        r[1]: (r[0], r[2], r[3], r[4])
        for r in session.execute(
            select(a.c.id, a.c.instalment_id, a.c.acquirer_ref, a.c.idempotency_key, a.c.acquirer).where(
                a.c.instalment_id.in_([r[2] for r in rows]),
                a.c.state == m.AuthState.EXPIRED.value,
                a.c.void_state == m.VoidState.PENDING.value,
                a.c.kind == m.AuthKind.AUTHORIZE.value,
            )
        )
    }
    claims = [
        PrecheckClaim(
            r[2], r[3], r[4], r[5], r[6], r[7] or "UNKNOWN", auth_id=r[0], key=r[1], network=r[8], acquirer=r[9]
        )
        for r in rows
        if r[6]  # a token-less row was never sent (claims record those SKIPPED)
    ]
    for c in claims:
        if c.inst_id in old:
            c.old_auth_id, c.old_ref, c.old_key, c.old_acquirer = old[c.inst_id]
    return claims


def still_mine(session: Session, run_id: int, me: str, auth_ids: Sequence[int], capture: bool = False) -> set[int]:
    """Which of `auth_ids` `me` may still write the answer of: not taken over by another worker
    (in flight under another sender) nor answered for the run by one — locked on
    PostgreSQL so that no worker takes them over before this transaction writes them. (A row a
    reconciler settled meanwhile is still written: the answer is the truth.)"""
    return {r[0] for r in lock_mine(session, run_id, me, auth_ids, capture)}


def lock_mine(
    session: Session, run_id: int, me: str, auth_ids: Sequence[int], capture: bool = False, read: Sequence[Any] = ()
) -> list[Any]:
    """`still_mine`'s rows, in id order: each authorization's id then the columns `read` of it as
    it is now, locked (a batch of answers reads what it decides on in the same statement)."""
    if not auth_ids:
        return []
    a, rr = t.authorizations, t.run_results
    sent = a.c.capture_pending.is_(True) if capture else a.c.state == REQUESTED
    taken = and_(sent, a.c.owner.is_not(None), a.c.owner != me)
    # an answer written (a skip is no answer: a run's closing sweep may list one in flight skipped),
    # one entry of ix_run_results_run_id (run, authorization) per row: OFFSET 0 keeps the EXISTS a
    # subplan, as PostgreSQL otherwise joins it with all of the run's results at each batch —
    # planned on statistics from before the run (its results: none), that read 48,000 rows a batch
    written = (
        select(rr.c.id)
        .where(rr.c.run_id == run_id, rr.c.authorization_id == a.c.id, rr.c.outcome != "SKIPPED")
        .offset(0)
        .exists()
    )
    ids = {"ids": sorted(set(auth_ids))}  # one array on PostgreSQL: the same text every batch
    q = select(a.c.id, *read).where(in_list(a.c.id, "ids"), ~taken, ~written).order_by(a.c.id)
    if shared(session):
        # Their orders first, in id order: the order terminals lock in (the order row, then its
        # authorizations). Locking these rows first deadlocked with a terminal holding the order
        # and flushing a change to one of them (eight terminals + two pre-checks: a cancel chosen
        # as the victim, or the batch write, now and then).
        o = t.orders
        orders = select(a.c.order_id).where(in_list(a.c.id, "ids"))
        session.execute(select(o.c.id).where(o.c.id.in_(orders)).order_by(o.c.id).with_for_update(), ids)
        q = q.with_for_update()
    return list(session.execute(q, ids))


def close_run(session: Session, run_id: int, now: datetime) -> bool:
    """Mark the run finished, once: True for the one worker that did it (it writes the end counts)."""
    r = t.precheck_runs
    hit = session.execute(update(r).where(r.c.id == run_id, r.c.finished_at.is_(None)).values(finished_at=now))
    return bool(getattr(hit, "rowcount", 0))


def set_planned(session: Session, run_id: int, planned: int) -> None:
    r = t.precheck_runs
    session.execute(update(r).where(r.c.id == run_id, r.c.planned.is_(None)).values(planned=planned))


# -- the run report --------------------------------------------------------------------------------
def outcome_counts(session: Session, run_id: int) -> dict[str, int]:
    rr = t.run_results
    rows = session.execute(
        select(rr.c.outcome, func.count()).where(rr.c.run_id == run_id).group_by(rr.c.outcome).order_by(rr.c.outcome)
    ).all()
    return {r[0]: r[1] for r in rows}


def refusal_counts(session: Session, run_id: int) -> list[tuple[str, str, str, int]]:
    """(outcome, category, code, count) of what was not approved nor captured (nor a parcel's
    release of the rest: done, nothing refused), most frequent first."""
    rr = t.run_results
    n = func.count().label("n")
    rows = session.execute(
        select(rr.c.outcome, rr.c.category, rr.c.code, n)
        .where(rr.c.run_id == run_id, rr.c.outcome.not_in(["APPROVED", "CAPTURED", "RELEASED"]))
        .group_by(rr.c.outcome, rr.c.category, rr.c.code)
        .order_by(n.desc(), rr.c.outcome, rr.c.category, rr.c.code)
    ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def worker_counts(session: Session, run_id: int) -> dict[str, int]:
    """Results per worker ("" for those written before workers were recorded)."""
    rr = t.run_results
    rows = session.execute(select(rr.c.worker, func.count()).where(rr.c.run_id == run_id).group_by(rr.c.worker)).all()
    return {r[0] or "": r[1] for r in rows}


def latency_ranks(session: Session, run_id: int, ranks: Sequence[float]) -> dict[float, float]:
    """Nearest-rank percentiles of the acquirer latency (ms) of the run's calls: a count, then one
    row read per rank (the same on both databases, nothing held in memory)."""
    rr = t.run_results
    has = and_(rr.c.run_id == run_id, rr.c.latency_ms.is_not(None))
    total = session.scalar(select(func.count()).where(has)) or 0
    out: dict[float, float] = {}
    if not total:
        return out
    for p in ranks:
        k = max(0, min(total - 1, -(-int(p * total * 1000) // 100_000) - 1))  # ceil(p/100 × n) - 1
        out[p] = float(
            session.scalar(select(rr.c.latency_ms).where(has).order_by(rr.c.latency_ms).offset(k).limit(1)) or 0.0
        )
    return out


def take_over_captures(session: Session, run_id: int, lost: Sequence[str], me: str, n: int) -> list[Any]:
    """Claim again up to `n` captures in flight of the run whose sender lost its lease: the same
    authorizations and amounts, sent again by `me` under the same key (the acquirer replays: never
    captured twice). Returns CaptureCandidates with their live authorization; the caller commits."""
    from .capture_batch import CaptureCandidate, LiveAuth

    if not lost:
        return []
    a, i = t.authorizations, t.instalments
    q = (
        select(
            a.c.id,
            a.c.state,
            a.c.amount,
            a.c.idempotency_key,
            a.c.acquirer_ref,
            a.c.expires_at,
            a.c.void_state,
            a.c.capture_pending,
            i.c.id,
            i.c.order_id,
            i.c.seq,
            a.c.captured_amount,
        )
        .join(i, i.c.id == a.c.instalment_id)
        .where(_sent(run_id, True), a.c.owner.in_(list(lost)))
        .order_by(a.c.id)
        .limit(n)
    )
    if shared(session):
        q = q.with_for_update(of=[a], skip_locked=True)
    rows = session.execute(q).all()
    if rows:
        session.execute(update(a).where(a.c.id.in_([r[0] for r in rows])).values(owner=me))
    return [CaptureCandidate(r[8], r[9], r[10], r[11], LiveAuth(*r[:8])) for r in rows]
