"""The queries behind the supervision figures, fast on millions of rows.

A day before today is computed once into the stats_day_* tables ("closed"), then read from there:
a 30-day period reads a few thousand aggregate rows instead of every authorization of the month.
Today, and any day not closed (never asked for yet, or forgotten since), is computed from its rows
with the same grouped SELECTs that close a day — so both paths count alike by construction.

Why a closed day stays exact: triggers (migration 0008) delete a day's `stats_days` row, and its
figures by cascade, in the transaction that inserts, deletes or changes one of its authorizations
or decisions (a late answer, a reconcile, a row fixed by hand). Closing takes the write lock
(SQLite: BEGIN IMMEDIATE; PostgreSQL: LOCK stats_days, which every trigger's DELETE waits for), so
no write lands between the rows read and the day marked closed. Reads run in one snapshot.

Latency is kept as a histogram per whole millisecond (answered_at − requested_at in microseconds,
rounded half to even as Python's round), so p50/p95 by nearest rank come out of the histogram exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Date, Engine, and_, cast, func, insert, literal_column, select, text

from d400tui.domain import model as m

from . import tables as t
from .repositories import IMMEDIATE


@dataclass
class Totals:
    """What the figures are made of, summed over some days."""

    outcomes: Counter[tuple[str | None, str | None]] = field(default_factory=Counter)
    latency_ms: Counter[int] = field(default_factory=Counter)
    unavailable_minutes: int = 0
    decisions: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, other: Totals) -> None:
        self.outcomes.update(other.outcomes)
        self.latency_ms.update(other.latency_ms)
        self.unavailable_minutes += other.unavailable_minutes
        self.decisions.update(other.decisions)


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min)


def _day(conn: Connection, col: Any) -> Any:
    if conn.dialect.name == "sqlite":
        return func.date(col, type_=Date)
    return cast(col, Date)


def _minute(conn: Connection, col: Any) -> Any:
    if conn.dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M", col)
    return func.date_trunc("minute", col)


# answered_at − requested_at in whole microseconds, exactly (no floating point on either side).
# SQLite's strftime('%s') rounds a stamp to the millisecond first (…:58.999831 reads as :59), so
# the whole seconds are taken from the first 19 characters and the microseconds from the rest.
_MICROS = {
    "sqlite": "(CAST(strftime('%s', substr(answered_at, 1, 19)) AS INTEGER)"
    " - CAST(strftime('%s', substr(requested_at, 1, 19)) AS INTEGER))"
    " * 1000000 + CAST(substr(answered_at, 21, 6) AS INTEGER) - CAST(substr(requested_at, 21, 6) AS INTEGER)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM answered_at - requested_at) * 1000000 AS BIGINT)",
}
_FLOOR = "(CASE WHEN r.us >= 0 THEN r.us / 1000 ELSE -((999 - r.us) / 1000) END)"
_ROUNDED = (
    f"{_FLOOR} + CASE WHEN r.us - 1000 * {_FLOOR} > 500 THEN 1 "
    f"WHEN r.us - 1000 * {_FLOOR} = 500 THEN abs({_FLOOR}) % 2 ELSE 0 END"
)


def _in(col: Any, first: date, last: date) -> Any:
    return and_(col >= _start(first), col < _start(last + timedelta(days=1)))


def _outcome_rows(conn: Connection, first: date, last: date) -> Any:
    a = t.authorizations
    day = _day(conn, a.c.requested_at)
    return (
        select(day, a.c.category, a.c.response_code, func.count())
        .where(_in(a.c.requested_at, first, last))
        .group_by(day, a.c.category, a.c.response_code)
    )


def _latency_rows(conn: Connection, first: date, last: date) -> Any:
    a = t.authorizations
    raw = (
        select(_day(conn, a.c.requested_at).label("day"), literal_column(_MICROS[conn.dialect.name]).label("us"))
        .where(_in(a.c.requested_at, first, last), a.c.answered_at.is_not(None))
        .subquery("r")
    )
    per_row = select(raw.c.day, literal_column(_ROUNDED).label("ms")).subquery("p")
    return select(per_row.c.day, per_row.c.ms, func.count()).group_by(per_row.c.day, per_row.c.ms)


def _unavailable_rows(conn: Connection, first: date, last: date) -> Any:
    a = t.authorizations
    day = _day(conn, a.c.requested_at)
    return (
        select(day, func.count(func.distinct(_minute(conn, a.c.requested_at))))
        .where(_in(a.c.requested_at, first, last), a.c.category == m.Category.UNAVAILABLE)
        .group_by(day)
    )


def _decision_rows(conn: Connection, first: date, last: date) -> Any:
    d = t.decisions
    day = _day(conn, d.c.at)
    return (
        select(day, d.c.operator, d.c.kind, func.count())
        .where(_in(d.c.at, first, last))
        .group_by(day, d.c.operator, d.c.kind)
    )


def _as_date(v: Any) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v))


def live(conn: Connection, first: date, last: date) -> dict[date, Totals]:
    """Each day of [first, last] computed from its rows (days without any row are absent)."""
    days: dict[date, Totals] = {}

    def of(v: Any) -> Totals:
        return days.setdefault(_as_date(v), Totals())

    for day, category, code, n in conn.execute(_outcome_rows(conn, first, last)):
        of(day).outcomes[(str(category) if category is not None else None, code)] += int(n)
    for day, ms, n in conn.execute(_latency_rows(conn, first, last)):
        of(day).latency_ms[int(ms)] += int(n)
    for day, n in conn.execute(_unavailable_rows(conn, first, last)):
        of(day).unavailable_minutes += int(n)
    for day, operator, kind, n in conn.execute(_decision_rows(conn, first, last)):
        of(day).decisions[(operator, str(kind))] += int(n)
    return days


def _closed_days(conn: Connection, first: date, last: date) -> set[date]:
    s = t.stats_days
    return {_as_date(d) for d in conn.execute(select(s.c.day).where(s.c.day >= first, s.c.day <= last)).scalars()}


def _spans(days: list[date]) -> Iterator[tuple[date, date]]:
    """Runs of consecutive days, as (first, last)."""
    run: list[date] = []
    for d in sorted(days):
        if run and d != run[-1] + timedelta(days=1):
            yield run[0], run[-1]
            run = []
        run.append(d)
    if run:
        yield run[0], run[-1]


def _between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def close_days(engine: Engine, first: date, last: date) -> int:
    """Compute and keep the figures of the days of [first, last] not closed yet; returns how many.
    The caller passes past days only (today changes all the time: it is always computed live)."""
    with engine.connect() as conn:
        if not set(_between(first, last)) - _closed_days(conn, first, last):
            return 0
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect().execution_options(**{IMMEDIATE: sqlite}) as conn, conn.begin():
        if not sqlite:
            conn.execute(text("LOCK TABLE stats_days IN EXCLUSIVE MODE"))
        todo = sorted(set(_between(first, last)) - _closed_days(conn, first, last))
        now = datetime.now()
        for lo, hi in _spans(todo):
            minutes = {_as_date(d): int(n) for d, n in conn.execute(_unavailable_rows(conn, lo, hi))}
            conn.execute(
                insert(t.stats_days),
                [dict(day=d, unavailable_minutes=minutes.get(d, 0), closed_at=now) for d in _between(lo, hi)],
            )
            for table, rows, cols in (
                (t.stats_day_outcomes, _outcome_rows, ("day", "category", "response_code", "n")),
                (t.stats_day_latency, _latency_rows, ("day", "ms", "n")),
                (t.stats_day_decisions, _decision_rows, ("day", "operator", "kind", "n")),
            ):
                conn.execute(insert(table).from_select(list(cols), rows(conn, lo, hi)))
        return len(todo)


def closed(conn: Connection, first: date, last: date) -> tuple[Totals, set[date]]:
    """The kept figures of the closed days of [first, last], summed, and which days those are."""
    s, o, lat, d = t.stats_days, t.stats_day_outcomes, t.stats_day_latency, t.stats_day_decisions
    total = Totals()
    days = _closed_days(conn, first, last)

    def sums(*cols: Any) -> Any:
        table = cols[0].table
        return conn.execute(
            select(*cols, func.sum(table.c.n)).where(table.c.day >= first, table.c.day <= last).group_by(*cols)
        )

    for category, code, n in sums(o.c.category, o.c.response_code):
        total.outcomes[(category, code)] += int(n)
    for ms, n in sums(lat.c.ms):
        total.latency_ms[int(ms)] += int(n)
    for operator, kind, n in sums(d.c.operator, d.c.kind):
        total.decisions[(operator, kind)] += int(n)
    minutes = select(func.coalesce(func.sum(s.c.unavailable_minutes), 0)).where(s.c.day >= first, s.c.day <= last)
    total.unavailable_minutes = int(conn.execute(minutes).scalar_one())
    return total, days


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection whose statements all see the same committed state."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("BEGIN")  # pysqlite runs SELECTs outside a transaction otherwise
            try:
                yield conn
            finally:
                conn.rollback()
        return
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        yield conn


def window(engine: Engine, first: date, last: date, today: date) -> tuple[Totals, dict[date, Totals]]:
    """[first, last]: the closed days' figures summed, and each other day's figures (today among
    them) computed from its rows. Past days not closed yet are closed first."""
    past_end = min(last, today - timedelta(days=1))
    if first <= past_end:
        close_days(engine, first, past_end)
    with snapshot(engine) as conn:
        if first <= past_end:
            total, covered = closed(conn, first, past_end)
        else:
            total, covered = Totals(), set()
        days: dict[date, Totals] = {}
        rest = [d for d in _between(first, past_end) if d not in covered] if first <= past_end else []
        spans = list(_spans(rest)) + ([(max(first, today), last)] if last >= today else [])
        for lo, hi in spans:  # a day forgotten between closing and this read, then today and after
            days.update(live(conn, lo, hi))
        return total, days


def holds_lapsing(conn: Connection) -> int:
    """Instalments still due whose hold ends before their due date: the capture will find no hold.
    (A timestamp before a date compares with that date's midnight on both databases.)"""
    i = t.instalments
    q = select(func.count()).where(
        and_(
            i.c.state == m.InstalmentState.PENDING,
            i.c.authorized_until.is_not(None),
            i.c.authorized_until < i.c.due_date,
        )
    )
    return int(conn.execute(q).scalar_one())


def voids_pending(conn: Connection) -> int:
    a = t.authorizations
    return int(conn.execute(select(func.count()).where(a.c.void_state == m.VoidState.PENDING)).scalar_one())


def change_marker(engine: Engine) -> tuple[Any, ...]:
    """A few index lookups that change whenever a figure may have: every answer, decision, void and
    reconcile writes an audit record; a request adds an authorization; a running pre-check or
    capture moves its counters. The supervision screen polls it and reloads only when it moved."""
    a, r = t.authorizations, t.precheck_runs
    with engine.connect() as conn:
        ids = conn.execute(
            select(select(func.max(t.audit.c.id)).scalar_subquery(), select(func.max(a.c.id)).scalar_subquery())
        ).one()
        runs = conn.execute(
            select(r.c.id, r.c.approved, r.c.refused, r.c.unavailable, r.c.skipped)
            .where(r.c.finished_at.is_(None))
            .order_by(r.c.id)
        ).all()
    return (*ids, *(tuple(x) for x in runs))
