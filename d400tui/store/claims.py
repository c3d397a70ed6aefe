"""What the batch runs select and claim: due instalments, the pre-check's claims (`FOR UPDATE SKIP
LOCKED` on PostgreSQL so several workers share one run, the write lock first on SQLite) and
the end-of-run counts (the capture run's: store/capture_batch.py). Written once for both
databases; the engine decides."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Float, and_, case, cast, exists, func, insert, literal_column, or_, select, text, update
from sqlalchemy.orm import Session

from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.money import to_cents

from . import retries
from . import tables as t
from .in_lists import in_list
from .json_rows import dumps, source, timestamp

PENDING, VALIDATED, PHONE, CARD = "PENDING", "VALIDATED", "PHONE", "CARD"
# a literal, as the partial indexes say it: SQLite then knows the term true of each entry and
# counts over the index alone (bound, it read each instalment's row to check it: 12 times slower)
STILL_DUE: Any = literal_column("'PENDING'")
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
    network: str | None = None  # the network chosen for the order's card (issue 13)
    old_acquirer: str | None = None  # the acquirer holding the expired hold (its void goes there)
    acquirer: str | None = None  # the acquirer its REQUESTED row names: its token's issuer (0016)


@dataclass(frozen=True)
class NeverRetry:
    """What a claim needs to leave out a card refused with a never-retry code on any order within
    its scheme's window (engine.retry_rules.precheck_rule): the window's start for a card brand,
    and the reason its instalment is recorded SKIPPED with (when, code)."""

    since: Callable[[str], datetime]
    reason: Callable[[datetime, str], str | Message]


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _day_end(d: date) -> datetime:
    return datetime.combine(d + timedelta(days=1), time.min)


def overlapping_writers(session: Session) -> int:
    """How many of a run's claims and writes may be under way at once: SQLite has one writer;
    PostgreSQL locks rows, and a run's claims and writes touch different ones (a claim, a write
    and the next write: more would only queue on the run's counter row and the audit head)."""
    return 1 if _dialect(session) == "sqlite" else 3


def due_where(dialect: str, run_date: date) -> Any:
    """Due at `run_date` on a validated phone card order. The order's part is the instalment's run
    scope (migration 0008: kept from its order by triggers), so no run reads `orders` to select:
    the selections and counts read the partial index of what is still due."""
    i = t.instalments
    return and_(i.c.state == STILL_DUE, i.c.run_scope == CARD, i.c.due_date <= run_date)


def _untried_where(dialect: str, run_date: date, run_id: int, since: datetime, now: datetime) -> Any:
    """Due, not in flight, not tried by this run nor by any run that overlapped it (two
    pre-checks at the same time never ask twice for one instalment; a rerun started after
    they ended retries refusals), and with no authorization valid through the run date: columns
    of ix_instalments_run_due all (0019)."""
    i, r = t.instalments, t.precheck_runs
    over = select(r.c.id).where(or_(r.c.finished_at < since, r.c.started_at < now - STALE_RUN, abandoned(dialect)))
    return and_(
        due_where(dialect, run_date),
        i.c.auth_pending.is_(False),
        or_(i.c.precheck_run_id.is_(None), and_(i.c.precheck_run_id != run_id, i.c.precheck_run_id.in_(over))),
        or_(i.c.authorized_until.is_(None), i.c.authorized_until < _day_end(run_date)),
    )


def _precheck_where(dialect: str, run_date: date, run_id: int, since: datetime, now: datetime) -> Any:
    """Untried, and not refused never-retry on its order's card (advice: never asked again)."""
    return and_(_untried_where(dialect, run_date, run_id, since, now), ~retries.refused_never_retry())


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
    i = t.instalments
    rows = session.execute(
        select(i.c.order_id, i.c.seq)
        .where(_precheck_where(_dialect(session), run_date, -1, now, now))
        .order_by(i.c.order_id, i.c.seq)
    ).all()
    return [(r[0], r[1]) for r in rows]


def count_precheck_due(session: Session, run_date: date, run_id: int, since: datetime, now: datetime) -> int:
    """As many as the claims take (_precheck_where), counted in one statement (one snapshot) as
    the untried ones — a range count over ix_instalments_run_due — less those of them refused
    never-retry, looked for among the declined instalments only (ix_authorizations_declined_code):
    looked for under each due instalment, the refusals cost 1 s on a million orders (SQLite)."""
    i = t.instalments
    untried = _untried_where(_dialect(session), run_date, run_id, since, now)
    refused = retries.refused_on_current_card().subquery()
    # driven by the refusals, each instalment read by its key (a planner left to choose walked the
    # due range again, probing the refusals for each due instalment)
    few = select(func.count()).select_from(refused)
    few = few.where(exists().where(i.c.id == refused.c.instalment_id, i.c.order_id == refused.c.order_id, untried))
    untried_n = select(func.count()).select_from(i).where(untried)
    return session.scalar(select(untried_n.scalar_subquery() - few.scalar_subquery())) or 0


_REQUESTED = {
    d: source(
        d,
        dict(
            order_id="int",
            inst_id="int",
            amount="bigint",
            key="text",
            brand="text",
            first6="text",
            last4="text",
            expiry="text",
            network="text",
            acquirer="text",
        ),
    )
    for d in ("postgresql", "sqlite")
}


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
    configured: tuple[str, ...] = (),
    gone_reason: Callable[[str | None], str | Message] | None = None,
    never_retry: NeverRetry | None = None,
) -> tuple[list[PrecheckClaim], int]:
    """Claim up to n instalments with an id above `after`, in the caller's transaction: their
    REQUESTED rows inserted (expired holds marked EXPIRED, void pending), each naming its token's
    issuer (orders.token_acquirer; NULL: `acquirer`, the primary), the token-less ones recorded
    SKIPPED with `skip_reason` and, when `configured` names the acquirers there are, those whose
    token's issuer is none of them with `gone_reason(issuer)` (the card is typed again), and with
    `never_retry` those whose card was refused never-retry on any order within its window (never
    asked: the schemes count the card, not the order). Returns the claims to authorize and the
    highest id claimed (0 when none was), so the next claim starts there: a run is one pass over
    the table."""
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
            o.c.card_network,
            o.c.token_acquirer,
        )
        .join(o, o.c.id == i.c.order_id)
        .where(i.c.id > after, _precheck_where(dialect, run_date, run_id, since, now))
        .order_by(i.c.id)
        .limit(n)
        # SQLite: walk the due instalments in id order from where the last claim stopped (its
        # planner took the due-date index and sorted every due instalment again at each claim,
        # 5-10 ms a claim); PostgreSQL plans the same walk unprompted
        .with_hint(i, "INDEXED BY ix_instalments_run_claim", "sqlite")
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
    claims = [
        PrecheckClaim(r[0], r[1], r[2], r[3], r[5], r[6] or "UNKNOWN", network=r[10], acquirer=r[11] or acquirer)
        for r in rows
    ]
    cards = {r[0]: r for r in rows}
    expired_ids = [r[0] for r in rows if r[4] is not None]
    old: dict[int, tuple[int, str | None, str, str]] = {}
    if expired_ids:
        for aid, inst_id, ref, key, held_by in session.execute(
            select(a.c.id, a.c.instalment_id, a.c.acquirer_ref, a.c.idempotency_key, a.c.acquirer).where(
                in_list(a.c.instalment_id, "ids"),
                a.c.state == m.AuthState.APPROVED.value,
                a.c.kind == m.AuthKind.AUTHORIZE.value,
            ),
            dict(ids=expired_ids),
        ):
            old[inst_id] = (aid, ref, key, held_by)
        if old:
            session.execute(
                update(a)
                .where(in_list(a.c.id, "ids"))
                .values(state=m.AuthState.EXPIRED.value, void_state=m.VoidState.PENDING.value),
                dict(ids=sorted(v[0] for v in old.values())),
            )
    gone = {c.inst_id for c in claims if c.token and configured and c.acquirer not in configured}
    refused = _never_retry(session, never_retry, [c for c in claims if c.token and c.inst_id not in gone], cards)
    todo = [c for c in claims if c.token and c.inst_id not in gone and c.inst_id not in refused]
    for c in todo:
        c.key = secrets.token_hex(16)  # 128 random bits, as uuid4 but a third of the cost
        if c.inst_id in old:
            c.old_auth_id, c.old_ref, c.old_key, c.old_acquirer = old[c.inst_id]
    if todo:
        # one INSERT for the claim's REQUESTED rows (json_rows), their ids read back by their
        # unique keys in the same statement (RETURNING in whatever order the database likes)
        ids: dict[str, int] = dict(
            session.execute(
                text(
                    "INSERT INTO authorizations (order_id, instalment_id, kind, state, amount, captured_amount, "
                    "idempotency_key, acquirer, card_brand, card_first6, card_last4, card_expiry, requested_at, "
                    "void_state, operator, owner, capture_pending, initiator, network) "
                    "SELECT v.order_id, v.inst_id, :kind, :state, v.amount, 0, v.key, v.acquirer, v.brand, v.first6, "
                    "v.last4, v.expiry, :now, :void, :operator, :owner, :no, :mit, v.network "
                    f"FROM {_REQUESTED[dialect]} "
                    "RETURNING idempotency_key, id"
                ),
                dict(
                    rows=dumps(
                        [
                            dict(
                                order_id=c.order_id,
                                inst_id=c.inst_id,
                                amount=to_cents(c.amount),
                                key=c.key,
                                brand=card[6] or "UNKNOWN",  # orders.card_brand: the brand's text already
                                first6=card[7] or "",
                                last4=card[8] or "",
                                expiry=card[9] or "",
                                network=card[10],  # the order's network choice, honoured (issue 13)
                                acquirer=c.acquirer,  # the token's issuer: the call goes there
                            )
                            for c in todo
                            for card in (cards[c.inst_id],)
                        ]
                    ),
                    kind=m.AuthKind.AUTHORIZE.value,
                    state=m.AuthState.REQUESTED.value,
                    now=timestamp(dialect, now),
                    void=m.VoidState.NONE.value,
                    operator=operator,
                    owner=owner,
                    no=False,
                    mit="MIT",  # the pre-check asks on the stored card: merchant-initiated (validity model)
                ),
            ).all()
        )
        for c in todo:
            c.auth_id = ids[c.key]
    pending = [c.inst_id for c in todo]
    session.execute(
        update(i)
        .where(in_list(i.c.id, "ids"))
        .values(
            precheck_run_id=run_id,
            authorized_until=None,
            auth_pending=case((in_list(i.c.id, "pending"), True), else_=False) if pending else False,
        ),
        dict(ids=[c.inst_id for c in claims], **(dict(pending=pending) if pending else {})),
    )
    skipped = [c for c in claims if not c.token or c.inst_id in gone or c.inst_id in refused]
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
                    reason=refused.get(c.inst_id)
                    or (skip_reason if not c.token or gone_reason is None else gone_reason(c.acquirer)),
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


def _never_retry(
    session: Session, rule: NeverRetry | None, claims: list[PrecheckClaim], cards: dict[int, Any]
) -> dict[int, str | Message]:
    """inst id → why it is skipped, for the claims whose card (first6, last4, expiry: the identity
    engine.retry_rules counts) was refused never-retry on any order since its brand's window
    began. One query per claim, not a predicate per due instalment in every selection."""
    if rule is None or not claims:
        return {}
    card = {
        c.inst_id: (cards[c.inst_id][7] or "", cards[c.inst_id][8] or "", cards[c.inst_id][9] or "") for c in claims
    }
    since = {c.brand: rule.since(c.brand) for c in claims}
    hits = retries.never_retry_declines(session, card.values(), min(since.values()))
    out: dict[int, str | Message] = {}
    for c in claims:
        within = [h for h in hits.get(card[c.inst_id], ()) if h[0] >= since[c.brand]]
        if within:
            at, code = max(within)
            out[c.inst_id] = rule.reason(at, code)
    return out


class EndCounts(NamedTuple):
    """What a pre-check run's counters do not say at its end, about its own claims only (another
    run's claims in flight at that moment are that run's)."""

    unanswered: int  # claimed by this run, no answer written (a batch lost): counted skipped
    in_doubt: int  # this run's still in flight or unknown: the reconciler settles them
    others: int  # due on other channels or methods: no run authorizes them


def precheck_end_counts(session: Session, run_date: date, run_id: int) -> EndCounts:
    i, a = t.instalments, t.authorizations
    mine = and_(i.c.precheck_run_id == run_id, i.c.auth_pending)  # as the partial index says
    requested = (
        select(a.c.id)
        .where(
            a.c.instalment_id == i.c.id,
            a.c.state == m.AuthState.REQUESTED.value,
            a.c.kind == m.AuthKind.AUTHORIZE.value,
        )
        .exists()
    )

    def count(*where: Any) -> int:
        return session.scalar(select(func.count()).select_from(i).where(*where)) or 0

    return EndCounts(
        count(mine, requested),
        count(mine),
        count(i.c.state == STILL_DUE, i.c.run_scope == "OTHER", i.c.due_date <= run_date),
    )
