"""What the capture run claims and writes, in batches: claims of N due instalments (`FOR UPDATE
SKIP LOCKED` on PostgreSQL so several runs or workers share the work, the write lock first on
SQLite), the instalments marked in flight before any call, and a batch of answers written with Core
executemany in one transaction. The engine decides each instalment; this module only reads and
writes. The amount a capture takes is computed in one place: `capturable_amounts`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Integer,
    String,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.money import to_cents
from d400tui.domain.shipments import CaptureRecord

from . import leases, shipments
from . import tables as t
from .batch_writes import INSERT_RESULTS, insert_results, results_json
from .claims import PENDING, VALIDATED, due_where
from .in_lists import in_list
from .shipments import ShippedOrder, shipped_due_amounts

LIVE = [s.value for s in m.LIVE_STATES]
_a, _i, _o, _r = t.authorizations, t.instalments, t.orders, t.precheck_runs


def _unindexed(column: Any) -> Any:
    """`+column`: the same value, but SQLite will not pick an index on it for the plan."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


# Built once: a batch's statements differ only by their parameters.
_AMOUNTS = select(_i.c.id, _i.c.amount).where(in_list(_i.c.id, "ids"))


@cache
def _live_auths(dialect: str) -> Any:
    """The claimed instalments' live authorizations, by the indexed order id (SQLite is told not
    to take the state index instead: it read every approved hold, measured)."""
    kind, state = _a.c.kind, _a.c.state
    if dialect == "sqlite":
        kind, state = _unindexed(kind), _unindexed(state)
    return (
        select(
            _a.c.instalment_id,
            _a.c.id,
            _a.c.state,
            _a.c.amount,
            _a.c.idempotency_key,
            _a.c.acquirer_ref,
            _a.c.expires_at,
            _a.c.void_state,
            _a.c.capture_pending,
            _a.c.acquirer,
            _a.c.captured_amount,
        )
        .where(
            in_list(_a.c.order_id, "orders"),
            in_list(_a.c.instalment_id, "ids"),
            kind == m.AuthKind.AUTHORIZE.value,
            state.in_(LIVE),
        )
        .order_by(_a.c.id)
    )


_SEND = (
    update(_a)
    .where(_a.c.id == bindparam("b_id"))
    .values(
        capture_pending=True,
        captured_amount=bindparam("b_amount"),
        owner=bindparam("b_owner"),
        capture_run_id=bindparam("b_run"),
    )
)
_TOUCH = (
    update(_o)
    .where(in_list(_o.c.id, "orders"))
    .values(version=_o.c.version + 1, updated_at=bindparam("now"))
    .returning(_o.c.id, _o.c.status)
)
_TAKEN = (
    update(_i)
    .where(in_list(_i.c.id, "ids"))
    .values(
        capture_run_id=bindparam("run"),
        auth_pending=case((in_list(_i.c.id, "sent"), True), else_=_i.c.auth_pending),
    )
)
_RUN_COUNTS = (
    update(_r)
    .where(_r.c.id == bindparam("run"))
    .values(
        approved=_r.c.approved + bindparam("n_approved"),
        refused=_r.c.refused + bindparam("n_refused"),
        unavailable=_r.c.unavailable + bindparam("n_unavailable"),
        skipped=_r.c.skipped + bindparam("n_skipped"),
    )
)


def _arrays(*cols: tuple[str, Any]) -> Any:
    """PostgreSQL: rows passed as one array per column, unnested (one statement, one round trip,
    instead of an executemany of one UPDATE per row)."""
    arrays = [bindparam(name, type_=ARRAY(kind)) for name, kind in cols]
    return func.unnest(*arrays).table_valued(*[name for name, _ in cols]).render_derived(name="v")


_v_send = _arrays(("b_id", Integer()), ("b_amount", BigInteger()))
_SEND_PG = (
    update(_a)
    .where(_a.c.id == _v_send.c.b_id)
    .values(
        capture_pending=True,
        captured_amount=_v_send.c.b_amount,
        owner=bindparam("b_owner"),
        capture_run_id=bindparam("b_run"),
    )
)
_v_answer = _arrays(("b_id", Integer()), ("b_state", String()), ("b_amount", BigInteger()), ("b_pending", Boolean()))


def _answered_pg(v: Any, **more: Any) -> Any:
    """The UPDATE of authorizations answered, from the unnested arrays `v`."""
    values = dict(state=v.c.b_state, captured_amount=v.c.b_amount, capture_pending=v.c.b_pending, owner=None)
    return update(_a).where(_a.c.id == v.c.b_id).values(**values, **more)


_ANSWER_PG = _answered_pg(_v_answer)


def _columns(rows: list[dict[str, Any]], money: str) -> dict[str, list[Any]]:
    """Rows as one list per column (`money` in cents, as the Cents type writes it)."""
    out: dict[str, list[Any]] = {k: [r[k] for r in rows] for k in rows[0]}
    out[money] = [to_cents(x) for x in out[money]]
    return out


_CURRENT = select(_a.c.id, _a.c.state, _a.c.capture_pending, _a.c.captured_amount).where(in_list(_a.c.id, "ids"))
_LOCK_ORDERS = (
    select(_o.c.id)
    .where(_o.c.id.in_(select(_a.c.order_id).where(in_list(_a.c.id, "ids"))))
    .order_by(_o.c.id)
    .with_for_update()
)
_ANSWER = (
    update(_a)
    .where(_a.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        captured_amount=bindparam("b_amount"),
        capture_pending=bindparam("b_pending"),
        owner=None,
    )
)
_RELEASE = update(_a).where(in_list(_a.c.id, "ids")).values(owner=None)
_captured, _dropped = in_list(_i.c.id, "captured"), in_list(_i.c.id, "dropped")
_ANSWERED_INSTS = (  # one UPDATE for every instalment a batch of answers changes (each row written once)
    update(_i)
    .where(in_list(_i.c.id, "ids"))
    .values(
        state=case(
            (_captured, m.InstalmentState.CAPTURED.value),
            (_dropped, m.InstalmentState.CANCELLED.value),  # a last parcel, nothing taken for it
            else_=_i.c.state,
        ),
        authorized_until=case((or_(_captured, in_list(_i.c.id, "closed")), null()), else_=_i.c.authorized_until),
        auth_pending=case((or_(_captured, in_list(_i.c.id, "settled")), false()), else_=_i.c.auth_pending),
    )
)
_FROZEN = update(_i).where(in_list(_i.c.id, "ids")).values(auth_pending=True)
_LAST_CAPTURED = and_(
    in_list(_o.c.id, "captured"),
    _o.c.status == VALIDATED,
    ~exists().where(_i.c.order_id == _o.c.id, _i.c.state == PENDING),
)
_SETTLE = _TOUCH.values(status=case((_LAST_CAPTURED, m.OrderStatus.INVOICED.value), else_=_o.c.status))


@dataclass(slots=True)
class LiveAuth:
    """What the capture decision reads of an instalment's live authorization (a mapped
    m.Authorization costs ~125 µs to build, measured: a fifth of a capture's whole cost)."""

    id: int
    state: m.AuthState
    amount: Decimal
    idempotency_key: str
    acquirer_ref: str | None
    expires_at: datetime | None
    void_state: m.VoidState
    capture_pending: bool
    acquirer: str = ""  # the acquirer that holds it (a failover's secondary): the capture goes there
    captured_amount: Decimal = Decimal("0.00")  # what parcels captured of it so far


@dataclass(slots=True)
class CaptureCandidate:
    """One due instalment a claim took, with its live authorization when it has one."""

    inst_id: int
    order_id: int
    seq: int
    amount: Decimal  # what a capture would take (capturable_amounts)
    auth: LiveAuth | None = None
    shipped: ShippedOrder | None = None  # an order shipped in parcels: what its capture reads


@dataclass
class CaptureClaims:
    """What the engine decided for one claim, for `mark_claimed` to write."""

    sent: list[tuple[int, int, int, Decimal]] = field(default_factory=list)  # (auth, instalment, order, amount)
    parcels: list[CaptureRecord] = field(default_factory=list)  # capture rows of parcels sent
    parcel_sent: list[tuple[int, int]] = field(default_factory=list)  # (auth, instalment) of those
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
    # parcels of orders shipped in parcels (store.shipments): their capture rows and what they change
    captures: list[dict[str, Any]] = field(default_factory=list)  # b_key, b_state, b_code, b_at
    parcel_auths: list[dict[str, Any]] = field(default_factory=list)  # + b_void (the void state)
    closed_insts: list[int] = field(default_factory=list)  # their hold closed: no longer authorized
    cancelled_insts: list[int] = field(default_factory=list)  # last parcel, nothing taken for it
    parcel_orders: set[int] = field(default_factory=set)  # a parcel captured: its status reported
    again: list[tuple[int, int, int, Decimal]] = field(default_factory=list)  # (auth, order, seq, to hold again)


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


def _capture_where(dialect: str, run_date: Any, run_id: Any) -> Any:
    """Due at `run_date` (the instalment's run scope: the partial indexes of migration 0008), order
    not blocked, not yet taken by this run."""
    i, o = t.instalments, t.orders
    return and_(
        due_where(dialect, run_date),
        o.c.hold != m.PaymentHold.BLOCKED.value,
        or_(i.c.capture_run_id.is_(None), i.c.capture_run_id != run_id),
    )


def capture_worklist(session: Session, run_date: date) -> list[tuple[int, int, Decimal]]:
    """(order id, instalment seq, amount) due for capture at `run_date`, orders not blocked."""
    i, o, sh = t.instalments, t.orders, t.shipments
    shipped = exists().where(sh.c.order_id == i.c.order_id)
    rows = session.execute(
        select(i.c.id, i.c.order_id, i.c.seq, i.c.amount, shipped)
        .join(o, o.c.id == i.c.order_id)
        .where(_capture_where(session.get_bind().dialect.name, run_date, -1))
        .order_by(i.c.order_id, i.c.seq)
    ).all()
    # the whole instalment read with its row; capturable_amounts asked only for the orders that
    # ship in parcels (asking it of every due id: 480k in 48 chunks, 21 s on PostgreSQL, measured)
    parcels = capturable_amounts(session, [r[0] for r in rows if r[4]])
    return [(r[1], r[2], parcels[r[0]] if r[0] in parcels else r[3]) for r in rows]


def count_capture_due(session: Session, run_date: date, run_id: int) -> int:
    i, o = t.instalments, t.orders
    q = select(func.count()).select_from(i.join(o, o.c.id == i.c.order_id))
    return session.scalar(q.where(_capture_where(session.get_bind().dialect.name, run_date, run_id))) or 0


def capturable_amounts(
    session: Session, inst_ids: list[int], whole: dict[int, Decimal] | None = None
) -> dict[int, Decimal]:
    """What a capture of each instalment takes: the whole instalment, or — for an order that ships
    in parcels — what its parcels shipped and was not captured yet (store.shipments). The one place
    that says it; the engine still checks it against what the authorization still holds. `whole`:
    the instalments' own amounts as the caller read them in this transaction, of orders it knows
    ship in no parcels (a claim reads them with its rows: not read again)."""
    if whole is not None:
        return {i: whole[i] for i in inst_ids}
    out: dict[int, Decimal] = {}
    for k in range(0, len(inst_ids), AMOUNTS_CHUNK):  # a dry run of a big night: 480k ids
        part = inst_ids[k : k + AMOUNTS_CHUNK]
        out.update({r[0]: r[1] for r in session.execute(_AMOUNTS, {"ids": part})})
        out.update(shipped_due_amounts(session, part))  # a parcel's due wins over the whole instalment
    return out


AMOUNTS_CHUNK = 10_000
"""Ids bound in one statement at most: SQLite refuses more than 32,766 variables, and a dry run of
a million-order night asks the amounts of every due instalment (479,821 measured)."""


_WRITE_LOCK = update(_r).where(_r.c.id == bindparam("run")).values(selected=_r.c.selected)


@cache
def _claim_query(dialect: str) -> Any:
    """The claim's SELECT for a dialect, built once (its values are bound at execution)."""
    where = _capture_where(dialect, bindparam("run_date", type_=Date), bindparam("run"))
    q = (
        select(_i.c.id, _i.c.order_id, _i.c.seq, _i.c.amount)
        .join(_o, _o.c.id == _i.c.order_id)
        .where(_i.c.id > bindparam("after"), where)
        .order_by(_i.c.id)
        .limit(bindparam("n"))
    )
    if dialect == "postgresql":
        # orders too: an order a terminal is changing right now is left for the closing sweep,
        # and no lock is waited for here (no deadlock with terminals or another run)
        q = q.with_for_update(of=[_o, _i], skip_locked=True)
    return q


def claim_captures(
    session: Session, run_id: int, run_date: date, n: int, after: int
) -> tuple[list[CaptureCandidate], int]:
    """Take up to n due instalments with an id above `after`, in the caller's transaction, with
    their live authorization; returns them and the highest id taken (0 when none was). The caller
    decides each and calls `mark_claimed` in the same transaction."""
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql":
        # SQLite: the write lock before selecting, so two claims never read the same free rows
        session.execute(_WRITE_LOCK, {"run": run_id})
    q = _claim_query(dialect)
    rows = session.execute(q, {"after": after, "run_date": run_date, "run": run_id, "n": n}).all()
    if not rows:
        return [], 0
    whole = {r[0]: r[3] for r in rows}  # read with the claim: one statement less a claim
    return candidates(session, [(r[0], r[1], r[2]) for r in rows], whole), rows[-1][0]


def candidates(
    session: Session, rows: list[tuple[int, int, int]], whole: dict[int, Decimal] | None = None
) -> list[CaptureCandidate]:
    """The (instalment id, order id, seq) taken, with their live authorization and — for orders
    shipped in parcels — what their capture reads; a constant number of statements per claim.
    `whole`: each instalment's own amount when the caller read it (what `capturable_amounts`
    says of an order without shipments; an order with shipments takes its parcels' due)."""
    ids = [r[0] for r in rows]
    shipped = shipments.shipped_orders(session, [r[1] for r in rows])
    whole = capturable_amounts(session, [r[0] for r in rows if r[1] not in shipped], whole)
    out = {}
    for inst_id, order_id, seq in rows:
        facts = shipped.get(order_id)
        share = facts.share.get(seq) if facts else None
        amount = (share.due if share else Decimal("0.00")) if facts else whole[inst_id]
        out[inst_id] = CaptureCandidate(inst_id, order_id, seq, amount, shipped=facts)
    # in id order: the last live one wins, as Order.live_authorization
    dialect = session.get_bind().dialect.name
    for x in session.execute(_live_auths(dialect), {"orders": sorted({r[1] for r in rows}), "ids": ids}):
        out[x[0]].auth = LiveAuth(*x[1:])
    return list(out.values())


_SEND_PARCEL = (
    update(_a)
    .where(in_list(_a.c.id, "auths"))
    .values(capture_pending=True, owner=bindparam("owner"), capture_run_id=bindparam("run"))
)


@cache
def _claimed_pg(sent: bool, parcels: bool) -> Any:
    """PostgreSQL: a claim's writes in one statement — the captures marked in flight (a parcel's
    row added), their orders' versions moved, every instalment taken marked — where they were
    one round trip each. None reads what another writes, so one snapshot serves them all."""
    ctes = [_SEND_PG.cte("sent")] if sent else []
    if parcels:
        ctes += [shipments.ADDED, _SEND_PARCEL.cte("parcels")]
    if sent or parcels:
        ctes.append(_TOUCH.cte("touched"))
    return _TAKEN.add_cte(*ctes)


def mark_claimed(session: Session, run_id: int | None, now: datetime, owner: str, claims: CaptureClaims) -> None:
    """Write a claim's decisions (before any call): the captures to send marked in flight with
    their amount, sender and run, their instalments frozen and their orders' versions moved (a
    terminal's cancel read before it fails); every instalment taken marked with the run; the
    skipped and refused ones recorded. The caller appends `claims.audits` last, then commits."""
    conn = session.connection()
    sent_rows = [dict(b_id=x[0], b_amount=x[3]) for x in sorted(claims.sent)]
    mark = {"auths": sorted(a for a, _ in claims.parcel_sent), "owner": owner, "run": run_id}
    orders = {"orders": sorted({x[2] for x in claims.sent} | {r.order_id for r in claims.parcels}), "now": now}
    sent = [x[1] for x in claims.sent] + [i for _, i in claims.parcel_sent]
    if conn.dialect.name == "postgresql" and run_id is not None and claims.visited:
        p: dict[str, Any] = dict(orders, ids=claims.visited, sent=sent, run=run_id)
        if sent_rows:
            p.update(_columns(sent_rows, "b_amount"), b_owner=owner, b_run=run_id)
        if claims.parcels:
            p.update(mark, rows=shipments.captures_json("postgresql", claims.parcels))
        conn.execute(_claimed_pg(bool(sent_rows), bool(claims.parcels)), p)
        _recorded(session, conn, run_id, claims)
        return
    if sent_rows:
        if conn.dialect.name == "postgresql":
            conn.execute(_SEND_PG, dict(_columns(sent_rows, "b_amount"), b_owner=owner, b_run=run_id))
        else:
            conn.execute(_SEND, [dict(r, b_owner=owner, b_run=run_id) for r in sent_rows])
    if claims.parcels:  # their rows before the calls, each under its own key; captured_amount kept
        shipments.add_captures(session, claims.parcels)
        conn.execute(_SEND_PARCEL, mark)
    if orders["orders"]:
        conn.execute(_TOUCH, orders)
    if run_id is None:  # one instalment captured outside a run: frozen, no run's mark
        if sent:
            conn.execute(_FROZEN, {"ids": sent})
        return
    if claims.visited:
        conn.execute(_TAKEN, {"ids": claims.visited, "sent": sent, "run": run_id})
    _recorded(session, conn, run_id, claims)


def _recorded(session: Session, conn: Any, run_id: int, claims: CaptureClaims) -> None:
    """A claim's skipped and refused instalments: their lines of the run's report, counted."""
    if claims.results:
        insert_results(session, claims.results)  # one statement: compiled once, run once
    _count(conn, run_id, 0, claims.refused, 0, claims.skipped)


def _count(conn: Any, run_id: int, approved: int, refused: int, unavailable: int, skipped: int) -> None:
    if approved or refused or unavailable or skipped:
        n = dict(n_approved=approved, n_refused=refused, n_unavailable=unavailable, n_skipped=skipped)
        conn.execute(_RUN_COUNTS, dict(run=run_id, **n))


def lock_answered(session: Session, auth_ids: list[int]) -> dict[int, tuple[m.AuthState, bool, Decimal]]:
    """Before a batch of answers is written: the orders locked in id order (PostgreSQL; the
    order terminals lock them in, so the two never deadlock), and each authorization's (state,
    capture still pending, captured amount) as it is now — a reconciler elsewhere may have
    settled it meanwhile."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK_ORDERS, {"ids": auth_ids})
    return _current(session.execute(_CURRENT, {"ids": auth_ids}))


ANSWERED = (_a.c.state, _a.c.capture_pending, _a.c.captured_amount)
"""What `lock_answered` reads of each authorization, for `leases.lock_mine` to read with its lock."""


def _current(rows: Any) -> dict[int, tuple[m.AuthState, bool, Decimal]]:
    return {x[0]: (m.AuthState(x[1]), bool(x[2]), x[3]) for x in rows}


def mine_answered(
    session: Session, run_id: int, me: str, auth_ids: list[int]
) -> dict[int, tuple[m.AuthState, bool, Decimal]]:
    """`lock_answered` of those of `auth_ids` the worker `me` still owns (`leases.still_mine`),
    in one statement after the orders' lock: what a run's batch of answers is decided on."""
    return _current(leases.lock_mine(session, run_id, me, auth_ids, capture=True, read=ANSWERED))


def write_capture_answers(session: Session, run_id: int | None, now: datetime, b: CaptureAnswers) -> dict[int, str]:
    """Write a batch of answers in the caller's transaction (audit records are the caller's, last):
    authorizations, instalments captured or unfrozen, orders whose last instalment was captured
    invoiced (a cancelled or deleted one stays so), results and the run's counters. Returns the
    status of each order a capture was recorded for, for the audit records."""
    conn = session.connection()
    if b.auths:
        rows = sorted(b.auths, key=lambda x: x["b_id"])
        if conn.dialect.name == "postgresql":
            conn.execute(_ANSWER_PG, _columns(rows, "b_amount"))
        else:
            conn.execute(_ANSWER, rows)
    if b.released:
        conn.execute(_RELEASE, {"ids": b.released})
    _write_parcels(session, b)
    _write_instalments(conn, b)
    status: dict[int, str] = {}
    if b.touched_orders:
        p = {"orders": sorted(b.touched_orders), "captured": sorted(b.captured_orders), "now": now}
        told = b.captured_orders | b.parcel_orders
        status = {x[0]: str(x[1]) for x in conn.execute(_SETTLE, p) if x[0] in told}
    if run_id is not None:
        _results_counted(conn, run_id, b)
    return status


_COUNTED_PG = _RUN_COUNTS.add_cte(text(INSERT_RESULTS["postgresql"]).columns().cte("added"))
"""PostgreSQL: a batch's run results and the run's counters in one statement."""


def _results_counted(conn: Any, run_id: int, b: CaptureAnswers) -> None:
    """The batch's lines of the run's report, and the run's counters moved."""
    n = dict(n_approved=b.approved, n_refused=b.refused, n_unavailable=b.unavailable, n_skipped=b.skipped)
    if b.results and any(n.values()) and conn.dialect.name == "postgresql":
        conn.execute(_COUNTED_PG, dict(n, run=run_id, rows=results_json(conn.dialect, b.results)))
        return
    if b.results:
        conn.execute(text(INSERT_RESULTS[conn.dialect.name]), {"rows": results_json(conn.dialect, b.results)})
    _count(conn, run_id, b.approved, b.refused, b.unavailable, b.skipped)


_PARCEL_AUTH = _ANSWER.values(  # and the void state (None: as it is)
    void_state=func.coalesce(bindparam("b_void", type_=String()), _a.c.void_state)
)
_v_parcel = _arrays(
    ("b_id", Integer()),
    ("b_state", String()),
    ("b_amount", BigInteger()),
    ("b_pending", Boolean()),
    ("b_void", String()),
)
_PARCEL_AUTH_PG = _answered_pg(_v_parcel, void_state=func.coalesce(_v_parcel.c.b_void, _a.c.void_state))
_c = t.captures
_ROWS_ANSWERED = (
    update(_c)
    .where(_c.c.idempotency_key == bindparam("b_key"))
    .values(state=bindparam("b_state"), response_code=bindparam("b_code"), answered_at=bindparam("b_at"))
)
_v_rows = _arrays(("c_key", String()), ("c_state", String()), ("c_code", String()))
_ROWS_ANSWERED_PG = (
    update(_c)
    .where(_c.c.idempotency_key == _v_rows.c.c_key)
    .values(state=_v_rows.c.c_state, response_code=_v_rows.c.c_code, answered_at=bindparam("c_at"))
)
_BOTH_ANSWERED_PG = _PARCEL_AUTH_PG.add_cte(_ROWS_ANSWERED_PG.cte("answered"))
"""PostgreSQL: a batch's capture rows and their authorizations answered in one statement."""
# an order whose every instalment was dropped with nothing captured: cancelled, nothing to pay
_NOTHING_PAID = (
    update(_o)
    .where(
        in_list(_o.c.id, "orders"),
        _o.c.status == VALIDATED,
        ~exists().where(_i.c.order_id == _o.c.id, _i.c.state.in_([PENDING, m.InstalmentState.CAPTURED.value])),
    )
    .values(status=m.OrderStatus.CANCELLED.value, cancel_reason=bindparam("why", type_=t.orders.c.cancel_reason.type))
)


def _write_parcels(session: Session, b: CaptureAnswers) -> None:
    """The parcels' part of a batch of answers: capture rows and authorizations (captured amount
    added to, hold closed or its rest left to void); their instalments: `_write_instalments`."""
    conn = session.connection()
    auths = sorted(b.parcel_auths, key=lambda x: x["b_id"])
    if conn.dialect.name != "postgresql":
        if b.captures:
            conn.execute(_ROWS_ANSWERED, [dict(r, b_code=r["b_code"][:4]) for r in b.captures])
        if auths:
            conn.execute(_PARCEL_AUTH, auths)
        return
    # rows as arrays, unnested: one statement, one round trip (both tables at once when both change)
    rows = dict(
        c_key=[r["b_key"] for r in b.captures], c_state=[r["b_state"] for r in b.captures],
        c_code=[r["b_code"][:4] for r in b.captures], c_at=b.captures[0]["b_at"] if b.captures else None,
    )  # fmt: skip
    if b.captures and auths:
        conn.execute(_BOTH_ANSWERED_PG, dict(rows, **_columns(auths, "b_amount")))
    elif b.captures:
        conn.execute(_ROWS_ANSWERED_PG, rows)
    elif auths:
        conn.execute(_PARCEL_AUTH_PG, _columns(auths, "b_amount"))


def _write_instalments(conn: Any, b: CaptureAnswers) -> None:
    """The instalments a batch of answers changes, in one statement: captured (no longer held nor
    frozen), answered (no longer frozen), their hold closed by a parcel, dropped by a last parcel
    that took nothing (and their order cancelled if nothing at all was paid)."""
    lists = dict(
        captured=b.captured_insts, settled=b.settled_insts, closed=b.closed_insts, dropped=b.cancelled_insts
    )  # fmt: skip
    ids = sorted({x for v in lists.values() for x in v})
    if ids:
        conn.execute(_ANSWERED_INSTS, dict(lists, ids=ids))
    if b.cancelled_insts:
        conn.execute(_NOTHING_PAID, {"orders": sorted(b.captured_orders), "why": Message("engine.nothing_to_pay")})


def set_result_reason(session: Session, run_id: int, auth_id: int, reason: Any) -> None:
    """A line of the run's report told what followed its capture (a re-authorization)."""
    rr = t.run_results
    session.execute(update(rr).where(rr.c.run_id == run_id, rr.c.authorization_id == auth_id).values(reason=reason))


def release_senders(session: Session, auth_ids: list[int]) -> None:
    """The captures' sender no longer waits for their answers: the reconciler may settle them."""
    if auth_ids:
        session.execute(_RELEASE, {"ids": auth_ids})
