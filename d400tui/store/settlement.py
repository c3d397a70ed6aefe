"""Settlement runs in SQL: the lines an acquirer settled, matched with the captures we made.

`captures()` is the one place that says what "a capture of ours" is — what an authorization has
captured so far under its acquirer_ref (`captured_amount`: one capture, or the sum of the parcels
of an order shipped in several, CAPTURED or still APPROVED for the parcels to come) — and `match()`
the one function that classifies a file's new lines against it. The acquirer settles each parcel
on a line of its own under the hold's reference: a reference is matched on the sum of its lines.

The unit that imports a file takes the write lock first (SQLite: BEGIN IMMEDIATE; PostgreSQL:
`lock_imports`), so two imports of one file at once make one run, the other finds it done."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Subquery, and_, delete, exists, func, insert, select, text, update
from sqlalchemy.orm import Session

from d400tui.domain import model as m
from d400tui.domain.money import from_cents
from d400tui.domain.settlement import (
    CAPTURE_CATEGORIES,
    Difference,
    SettlementDiff,
    SettlementLine,
    SettlementRun,
)
from d400tui.domain.shipments import CaptureState

from . import tables as t

T = TypeVar("T")
CHUNK = 500
BATCH_CATEGORY = "iso_batch"
RUN_COLUMNS = [c.name for c in t.settlement_runs.columns if c.name != "id"]
CENT_COLUMNS = frozenset({"gross", "fee", "net", "our_amount", "host_amount"})


def _cents(amount: Decimal | None) -> int | None:
    """Exact cents of a sum: no amount limit (a file's total may pass that of one payment)."""
    return None if amount is None else int(amount.scaleb(2).to_integral_value())


def _euros(cents: int | None) -> Decimal | None:
    return None if cents is None else from_cents(cents)


def _run_values(run: SettlementRun) -> dict[str, Any]:
    return {k: _cents(getattr(run, k)) if k in CENT_COLUMNS else getattr(run, k) for k in RUN_COLUMNS}


def _run(row: Any) -> SettlementRun:
    values: dict[str, Any] = {k: _euros(v) if k in CENT_COLUMNS else v for k, v in dict(row).items()}
    return SettlementRun(**values)


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def lock_imports(session: Session) -> None:
    """PostgreSQL: one settlement run is written at a time (SQLite's unit holds the write lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE settlement_runs IN SHARE ROW EXCLUSIVE MODE"))


def captures(acquirer: str) -> Subquery:
    """Our captures at `acquirer`: (authorization_id, order_id, reference, amount captured so far)."""
    a = t.authorizations
    return (
        select(
            a.c.id.label("authorization_id"),
            a.c.order_id,
            a.c.acquirer_ref.label("reference"),
            a.c.captured_amount.label("amount"),
        )
        .where(
            a.c.acquirer == acquirer,
            a.c.state.in_([m.AuthState.CAPTURED.value, m.AuthState.APPROVED.value]),  # APPROVED: parcels to come
            a.c.captured_amount > Decimal("0.00"),
            a.c.acquirer_ref.is_not(None),
        )
        .subquery("captures")
    )


def run_of_file(session: Session, sha256: str) -> int | None:
    r = t.settlement_runs
    return session.execute(select(r.c.id).where(r.c.file_sha256 == sha256)).scalar()


def add_run(session: Session, run: SettlementRun) -> int:
    result: Any = session.execute(insert(t.settlement_runs).values(**_run_values(run)))
    run.id = int(result.inserted_primary_key[0])
    return run.id


def save_run(session: Session, run: SettlementRun) -> None:
    r = t.settlement_runs
    session.execute(update(r).where(r.c.id == run.id).values(**_run_values(run)))


def read_run(session: Session, run_id: int) -> SettlementRun | None:
    row = session.execute(select(t.settlement_runs).where(t.settlement_runs.c.id == run_id)).mappings().first()
    return _run(row) if row else None


def last_runs(session: Session, limit: int = 20) -> list[SettlementRun]:
    r = t.settlement_runs
    rows = session.execute(select(r).order_by(r.c.id.desc()).limit(limit)).mappings()
    return [_run(row) for row in rows]


def read_differences(session: Session, run_id: int, limit: int = 1000) -> list[SettlementDiff]:
    d = t.settlement_differences
    rows = session.execute(select(d).where(d.c.run_id == run_id).order_by(d.c.id).limit(limit)).mappings()
    return [
        SettlementDiff(
            Difference(r["kind"]),
            r["reference"],
            _euros(r["ours"]),
            _euros(r["theirs"]),
            r["currency"],
            r["order_id"],
            r["authorization_id"],
            r["line_key"],
            r["since_run"],
        )
        for r in rows
    ]


def known_lines(session: Session, acquirer: str, keys: Sequence[str]) -> dict[str, tuple[str, str, Decimal, int]]:
    """The lines already imported for `acquirer` among `keys`: key → (reference, currency, gross, run)."""
    li = t.settlement_lines
    found: dict[str, tuple[str, str, Decimal, int]] = {}
    q = select(li.c.line_key, li.c.reference, li.c.currency, li.c.gross, li.c.run_id).where(li.c.acquirer == acquirer)
    for chunk in _chunks(sorted(set(keys))):
        for r in session.execute(q.where(li.c.line_key.in_(chunk))):
            found[r.line_key] = (r.reference, r.currency, r.gross, r.run_id)
    return found


def _by_reference(session: Session, query: Any, refs: Sequence[str], column: Any) -> list[Any]:
    rows: list[Any] = []
    for chunk in _chunks(refs):
        rows.extend(session.execute(query.where(column.in_(chunk))))
    return rows


OPEN_OUTCOMES = (Difference.UNKNOWN.value, Difference.AMOUNT_DIFFERS.value)


def match(
    session: Session, run_id: int, acquirer: str, lines: Sequence[SettlementLine]
) -> tuple[list[SettlementDiff], int]:
    """Store the run's new lines, each classified, and return what is still open after them.

    Every reference a new capture line names, and every one an earlier run left UNKNOWN or
    AMOUNT_DIFFERS, is classified again: the sum settled for it so far (every run) against our
    capture — MATCHED, AMOUNT_DIFFERS, or UNKNOWN when we captured nothing under it (a capture
    whose answer was recorded since matches now). Then every capture of ours no line names at all
    is NOT_SETTLED. Each difference carries the first run that listed it. Returns the differences
    and the number of references matched (new, or resolved since an earlier run)."""
    li = t.settlement_lines
    is_capture = li.c.category.in_(sorted(CAPTURE_CATEGORIES))
    charges = [x for x in lines if x.settles_capture]
    earlier = select(li.c.reference, li.c.outcome, li.c.authorization_id).distinct()
    earlier = earlier.where(li.c.acquirer == acquirer, li.c.outcome.in_(OPEN_OUTCOMES))
    still_open: dict[str, tuple[str, int | None] | None] = {}
    for r in session.execute(earlier):  # a reference whose lines disagree is rewritten whatever
        seen = (r.outcome, r.authorization_id)
        still_open[r.reference] = seen if still_open.get(r.reference, seen) == seen else None
    for ref, grown_id in _grown(session, acquirer, is_capture):  # matched before, captured more since
        still_open.setdefault(ref, ("MATCHED", grown_id))
    refs = sorted({x.reference for x in charges} | set(still_open))
    settled: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    sums = select(li.c.reference, li.c.currency, func.sum(li.c.gross).label("gross"))
    sums = sums.where(li.c.acquirer == acquirer, is_capture).group_by(li.c.reference, li.c.currency)
    for r in _by_reference(session, sums, refs, li.c.reference):
        settled[r.reference][r.currency] += r.gross
    for x in charges:
        settled[x.reference][x.currency] += x.gross
    outcome = _classify(session, acquirer, refs, settled)
    rows = [
        dict(
            run_id=run_id,
            acquirer=acquirer,
            line_key=x.key,
            line_no=x.line_no,
            reference=x.reference,
            category=x.category,
            currency=x.currency,
            gross=x.gross,
            fee=x.fee,
            net=x.net,
            created=x.created,
            outcome=outcome[x.reference][0] if x.settles_capture else "OTHER",
            authorization_id=outcome[x.reference][1] if x.settles_capture else None,
        )
        for x in lines
    ]
    for chunk in _chunks(rows):
        session.execute(insert(li), list(chunk))
    for ref, before in sorted(still_open.items()):  # earlier lines take their reference's outcome of today
        kind, auth_id, _ = outcome[ref]
        if (kind, auth_id) != before:
            mine = and_(li.c.acquirer == acquirer, li.c.reference == ref, is_capture)
            session.execute(update(li).where(mine).values(outcome=kind, authorization_id=auth_id))
    session.flush()
    diffs = [d for _, _, d in outcome.values() if d is not None]
    keys = select(li.c.reference, func.min(li.c.line_key).label("key")).where(li.c.acquirer == acquirer, is_capture)
    first_key = dict(_by_reference(session, keys.group_by(li.c.reference), refs, li.c.reference))
    for d in diffs:
        d.line_key = first_key.get(d.reference)
    _since(session, run_id, diffs)
    diffs.extend(not_settled(session, acquirer, run_id))
    add_differences(session, run_id, diffs)
    return diffs, sum(1 for kind, _, d in outcome.values() if kind == "MATCHED" and d is None)


def _grown(session: Session, acquirer: str, is_capture: Any) -> list[tuple[str, int]]:
    """References some line settled whose capture no longer equals what their lines settled — a
    later parcel captured since: (reference, authorization id), to be classified again."""
    li, cap = t.settlement_lines, captures(acquirer)
    sums = (
        select(li.c.reference, func.sum(li.c.gross).label("gross"))
        .where(li.c.acquirer == acquirer, is_capture)
        .group_by(li.c.reference)
        .subquery("settled")
    )
    q = select(cap.c.reference, cap.c.authorization_id).join(sums, sums.c.reference == cap.c.reference)
    return [(r[0], r[1]) for r in session.execute(q.where(sums.c.gross != cap.c.amount))]


def _classify(
    session: Session, acquirer: str, refs: Sequence[str], settled: dict[str, dict[str, Decimal]]
) -> dict[str, tuple[str, int | None, SettlementDiff | None]]:
    """Each reference → (outcome, our authorization id, the difference or None when matched)."""
    cap = captures(acquirer)
    ours = {r.reference: r for r in _by_reference(session, select(cap), refs, cap.c.reference)}
    a = t.authorizations
    any_auth = select(a.c.acquirer_ref, a.c.id, a.c.order_id).where(a.c.acquirer == acquirer)
    named = {r.acquirer_ref: r for r in _by_reference(session, any_auth, refs, a.c.acquirer_ref)}
    outcome: dict[str, tuple[str, int | None, SettlementDiff | None]] = {}
    settled_parts = _parcel_sums(session, [r.authorization_id for r in ours.values()])
    for ref in refs:
        sums = {cur: amount for cur, amount in settled[ref].items() if amount}
        cur, theirs = next(iter(sums.items())) if len(sums) == 1 else ("EUR", sum(sums.values(), Decimal()))
        mine = ours.get(ref)
        if mine is None:
            other = named.get(ref)  # an authorization of ours not (yet) captured: say which order
            order_id, auth_id = (other.order_id, other.id) if other else (None, None)
            diff = SettlementDiff(Difference.UNKNOWN, ref, None, theirs, cur, order_id, auth_id)
            outcome[ref] = (Difference.UNKNOWN.value, auth_id, diff)
        elif sums == {"EUR": mine.amount}:
            outcome[ref] = ("MATCHED", mine.authorization_id, None)
        elif Decimal() < theirs < mine.amount and theirs in settled_parts.get(mine.authorization_id, ()):
            # what was settled is exactly some of its parcels: the others are captured here and
            # not settled (yet) — its lines stay matched, the rest is listed NOT_SETTLED
            diff = SettlementDiff(
                Difference.NOT_SETTLED, ref, mine.amount - theirs, None, cur, mine.order_id, mine.authorization_id
            )
            outcome[ref] = ("MATCHED", mine.authorization_id, diff)
        else:
            diff = SettlementDiff(
                Difference.AMOUNT_DIFFERS, ref, mine.amount, theirs, cur, mine.order_id, mine.authorization_id
            )
            outcome[ref] = (Difference.AMOUNT_DIFFERS.value, mine.authorization_id, diff)
    return outcome


PARTS_MAX = 4096
"""Sums of parcels tried at most for one authorization (all of them up to 12 parcels)."""


def _parcel_sums(session: Session, auth_ids: Sequence[int]) -> dict[int, set[Decimal]]:
    """Each authorization captured in parcels → every sum of some of its captured parcels (the
    acquirer settles each parcel on its own line, in whatever order)."""
    c = t.captures
    parts: dict[int, set[Decimal]] = {}
    q = select(c.c.authorization_id, c.c.amount).where(c.c.state == CaptureState.CAPTURED.value, c.c.amount > 0)
    for chunk in _chunks(sorted(set(auth_ids))):
        for auth_id, amount in session.execute(q.where(c.c.authorization_id.in_(chunk)).order_by(c.c.id)):
            sums = parts.setdefault(auth_id, {Decimal()})
            if len(sums) <= PARTS_MAX // 2:
                sums |= {s + amount for s in sums}
    return parts


def _since(session: Session, run_id: int, diffs: list[SettlementDiff]) -> None:
    """Each difference's first run: the earliest that listed its reference with the same kind."""
    d = t.settlement_differences
    q = select(d.c.reference, d.c.kind, func.min(d.c.run_id)).group_by(d.c.reference, d.c.kind)
    refs = sorted({x.reference for x in diffs if x.reference})
    first = {(r[0], r[1]): r[2] for r in _by_reference(session, q, refs, d.c.reference)}
    for x in diffs:
        x.since_run = first.get((x.reference, x.kind.value), run_id)


def unsettled(session: Session, acquirer: str) -> list[Any]:
    """Our captures at `acquirer` that no settlement line names (nor an ISO 8583 batch holds),
    with the first run that listed each as not settled: (authorization_id, order_id, reference,
    amount, since)."""
    cap = captures(acquirer)
    li, d = t.settlement_lines, t.settlement_differences
    first = (
        select(d.c.authorization_id, func.min(d.c.run_id).label("since"))
        .where(d.c.kind == Difference.NOT_SETTLED.value)
        .group_by(d.c.authorization_id)
        .subquery("first_listed")
    )
    named = exists().where(li.c.acquirer == acquirer, li.c.reference == cap.c.reference)
    q = (
        select(cap, first.c.since)
        .outerjoin(first, first.c.authorization_id == cap.c.authorization_id)
        .where(~named)
        .order_by(cap.c.authorization_id)
    )
    return list(session.execute(q))


def not_settled(session: Session, acquirer: str, run_id: int) -> list[SettlementDiff]:
    return [
        SettlementDiff(
            Difference.NOT_SETTLED,
            r.reference,
            r.amount,
            None,
            "EUR",
            r.order_id,
            r.authorization_id,
            None,
            r.since or run_id,
        )
        for r in unsettled(session, acquirer)
    ]


def add_differences(session: Session, run_id: int, diffs: Iterable[SettlementDiff]) -> None:
    rows = [
        dict(
            run_id=run_id,
            kind=x.kind.value,
            reference=x.reference,
            line_key=x.line_key,
            currency=x.currency,
            ours=_cents(x.ours),
            theirs=_cents(x.theirs),
            order_id=x.order_id,
            authorization_id=x.authorization_id,
            since_run=x.since_run,
        )
        for x in diffs
    ]
    for chunk in _chunks(rows):
        session.execute(insert(t.settlement_differences), list(chunk))


# -- ISO 8583 batch totals -------------------------------------------------------------------------
def unanswered_batch(session: Session, acquirer: str) -> SettlementRun | None:
    """A batch total sent whose 0510 never came: asked again, same key and totals, before any other."""
    r = t.settlement_runs
    q = select(r.c.id).where(r.c.acquirer == acquirer, r.c.source == "ISO8583", r.c.in_balance.is_(None))
    run_id = session.execute(q.order_by(r.c.id).limit(1)).scalar()
    return read_run(session, run_id) if run_id is not None else None


def hold_for_batch(session: Session, run: SettlementRun, rows: Sequence[Any]) -> None:
    """The batch's captures get a BATCH line each: no other batch or file counts them meanwhile."""
    lines = [
        dict(
            run_id=run.id,
            acquirer=run.acquirer,
            line_key=f"{run.batch_key}:{r.authorization_id}",
            line_no=i,
            reference=r.reference,
            category=BATCH_CATEGORY,
            currency="EUR",
            gross=r.amount,
            fee=Decimal("0.00"),
            net=r.amount,
            created=run.started_at,
            outcome="BATCH",
            authorization_id=r.authorization_id,
        )
        for i, r in enumerate(rows, start=1)
    ]
    for chunk in _chunks(lines):
        session.execute(insert(t.settlement_lines), list(chunk))


def close_batch(session: Session, run: SettlementRun) -> None:
    """In balance: the batch's lines are settled. Out of balance: released, counted again next time."""
    li = t.settlement_lines
    mine = li.c.run_id == run.id
    if run.in_balance:
        session.execute(update(li).where(mine).values(outcome="MATCHED"))
    else:
        session.execute(delete(li).where(mine))
