"""`d400 stats --json` against the same figures computed here, row by row, from the database (SQLite
and PostgreSQL): orders placed through the engine with the test cards, then some authorizations and
decisions moved back in time, latencies set, a hold made to lapse before its due date and a void
left pending."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import Date, cast, func, select, update

from d400tui.domain import model as m
from d400tui.engine import PermissionDenied
from d400tui.engine.stats import supervision
from d400tui.store import tables as t
from tests.integration.test_cli import d400
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)
CARDS = [
    "4970100000000014",
    "4970100000000014",
    "5130100000000018",
    "4970100000000055",
    "4970100000000063",
    "4970100000000071",
    "4970100000000089",
    "4970100000000030",
    "4970100000000048",
    "4970100000000014",
]


async def _history(engine) -> None:  # type: ignore[no-untyped-def]
    ids = []
    for i, pan in enumerate(CARDS):
        plan = m.Plan(m.PlanKind.INSTALMENTS, count=3) if i == 0 else None
        res = await engine.place_order(OPER, 100001, [A], card(pan), plan=plan)
        ids.append(res.order.id)
    await engine.decide(OPER, ids[3], m.DecisionKind.RELEASE)  # 51, released by OPER1 today
    await engine.decide(OPER, ids[7], m.DecisionKind.BLOCK)  # 41, blocked by OPER1 today
    await engine.decide(SUPER, ids[4], m.DecisionKind.BLOCK)  # 05, blocked by SUPER1, moved 3 days back
    now = engine.clock()
    a, d, i = t.authorizations, t.decisions, t.instalments
    with engine.db.engine.begin() as conn:
        rows = conn.execute(select(a.c.id, a.c.order_id, a.c.requested_at, a.c.answered_at).order_by(a.c.id)).all()
        for n, (aid, oid, requested, answered) in enumerate(rows):
            shift = {ids[1]: timedelta(days=5), ids[8]: timedelta(days=40), ids[9]: timedelta(days=29)}.get(
                oid, timedelta(0)
            )
            values = {"requested_at": requested - shift}
            if answered is not None:  # distinct latencies, 0.4 ms apart so that rounding is exercised
                values["answered_at"] = requested - shift + timedelta(microseconds=80_000 + 37_400 * n)
            conn.execute(update(a).where(a.c.id == aid).values(**values))
        conn.execute(update(d).where(d.c.operator == "SUPER1").values(at=now - timedelta(days=3)))
        seq2 = conn.execute(select(i.c.id, i.c.due_date).where(i.c.order_id == ids[0], i.c.seq == 2)).one()
        conn.execute(
            update(i)
            .where(i.c.id == seq2.id)
            .values(authorized_until=datetime.combine(seq2.due_date, time.min) - timedelta(hours=1))
        )
        conn.execute(update(a).where(a.c.order_id == ids[2]).values(void_state=m.VoidState.PENDING))


def _rows(engine) -> str:  # type: ignore[no-untyped-def]
    """The authorizations and the kept per-day latencies, for a failure's message."""
    a = t.authorizations
    with engine.db.engine.connect() as conn:
        rows = conn.execute(select(a.c.id, a.c.requested_at, a.c.answered_at, a.c.category, a.c.state)).all()
        kept = conn.execute(select(t.stats_day_latency.c.day, t.stats_day_latency.c.ms)).all()
    return "\n".join([*(f"row {tuple(r)}" for r in rows), *(f"kept {tuple(r)}" for r in kept)])


def _expected(engine, first: date, last: date) -> dict:  # type: ignore[no-untyped-def,type-arg]
    start, end = datetime.combine(first, time.min), datetime.combine(last + timedelta(days=1), time.min)
    a, d = t.authorizations, t.decisions
    with engine.db.engine.connect() as conn:
        auths = [
            r
            for r in conn.execute(select(a.c.requested_at, a.c.answered_at, a.c.category, a.c.response_code))
            if start <= r.requested_at < end
        ]
        decisions = [r for r in conn.execute(select(d.c.operator, d.c.kind, d.c.at)) if start <= r.at < end]
    refused = [r for r in auths if r.category != m.Category.APPROVED]
    approved = len(auths) - len(refused)
    lat = sorted((r.answered_at - r.requested_at) / timedelta(milliseconds=1) for r in auths if r.answered_at)
    by_op: dict[str, dict[str, int]] = {}
    for r in decisions:
        if r.kind in (m.DecisionKind.BLOCK, m.DecisionKind.RELEASE):
            per = by_op.setdefault(r.operator, {"blocked": 0, "released": 0})
            per["blocked" if r.kind == m.DecisionKind.BLOCK else "released"] += 1
    minutes = {r.requested_at.replace(second=0, microsecond=0) for r in auths if r.category == m.Category.UNAVAILABLE}

    def ranked(counter: Counter) -> dict[str, int]:  # type: ignore[type-arg]
        return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))

    return {
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "requested": len(auths),
        "approved": approved,
        "acceptance_rate": round(100 * approved / len(auths), 1) if auths else None,
        "refusals_by_category": ranked(Counter(str(r.category or "NO_ANSWER") for r in refused)),
        "refusals_by_code": ranked(Counter(r.response_code or "-" for r in refused)),
        "unavailable_minutes": len(minutes),
        "latency_p50_ms": round(lat[math.ceil(0.5 * len(lat)) - 1]) if lat else None,
        "latency_p95_ms": round(lat[math.ceil(0.95 * len(lat)) - 1]) if lat else None,
        "decisions_by_operator": dict(sorted(by_op.items())),
    }


async def test_stats_json_equals_figures_from_the_rows(settings, engine) -> None:  # type: ignore[no-untyped-def]
    await _history(engine)
    today = date.today()
    assert supervision(engine, SUPER).as_json()["today"] == _expected(engine, today, today)
    r = d400(settings, "stats", "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["today"] == _expected(engine, today, today)
    assert got["period"] == _expected(engine, today - timedelta(days=29), today)
    assert (got["holds_lapsing"], got["voids_pending"]) == (1, 1)
    # the data cover what is counted: both windows differ, refusals of several kinds, both operators
    assert got["period"]["requested"] > got["today"]["requested"] > 0
    assert set(got["today"]["refusals_by_category"]) >= {"CEILING", "OTHER", "UNAVAILABLE", "BLOCKED"}
    assert got["period"]["decisions_by_operator"]["SUPER1"] == {"blocked": 1, "released": 0}
    assert "SUPER1" not in got["today"]["decisions_by_operator"]
    since = d400(settings, "stats", "--json", "--since", (today - timedelta(days=45)).isoformat())
    assert json.loads(since.stdout)["period"] == _expected(engine, today - timedelta(days=45), today)


async def test_stats_are_for_supervisors(settings, engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        supervision(engine, OPER)
    r = d400(settings, "stats", operator="OPER1")
    assert (r.returncode, r.stderr.strip()) == (2, "d400: statistiques : réservé aux superviseurs")
    r = d400(settings, "stats", "--since", (date.today() + timedelta(days=1)).isoformat())
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "postérieure" in r.stderr


def _closed(engine) -> dict[date, datetime]:  # type: ignore[no-untyped-def]
    s = t.stats_days
    with engine.db.engine.connect() as conn:
        return {
            (d if isinstance(d, date) else date.fromisoformat(d)): at
            for d, at in conn.execute(select(s.c.day, s.c.closed_at))
        }


async def test_closed_days_stay_exact_when_a_past_row_changes(settings, engine) -> None:  # type: ignore[no-untyped-def]
    """The period's past days are read from the per-day totals once closed; a late answer, a moved
    row, a new decision or a deleted row on a past day makes that day counted again, exactly."""
    await _history(engine)
    today = date.today()
    period = (today - timedelta(days=29), today)
    got = supervision(engine, SUPER).as_json()["period"]
    assert got == _expected(engine, *period), _rows(engine)  # the rows say why, should it fail
    closed = _closed(engine)
    assert set(closed) == {today - timedelta(days=k) for k in range(1, 30)}  # every past day, not today
    five, three = today - timedelta(days=5), today - timedelta(days=3)
    a, d = t.authorizations, t.decisions
    with engine.db.engine.begin() as conn:
        late = conn.execute(
            select(a.c.id, a.c.requested_at).where(func.date(a.c.requested_at) == five.isoformat())
            if engine.db.dialect == "sqlite"
            else select(a.c.id, a.c.requested_at).where(cast(a.c.requested_at, Date) == five)
        ).first()
        assert late is not None
        # a late answer on day −5: approved after all, 512.5 ms after the request (rounds to 512)
        conn.execute(
            update(a)
            .where(a.c.id == late.id)
            .values(
                category=m.Category.APPROVED,
                response_code="00",
                answered_at=late.requested_at + timedelta(microseconds=512_500),
            )
        )
    assert five not in _closed(engine) and three in _closed(engine)  # forgotten in the same transaction
    with engine.db.engine.begin() as conn:
        # a row of today moved to day −3, a decision added on day −3
        moved = conn.execute(select(a.c.id, a.c.requested_at).order_by(a.c.id.desc())).first()
        conn.execute(update(a).where(a.c.id == moved.id).values(requested_at=moved.requested_at - timedelta(days=3)))
        oid = conn.execute(select(a.c.order_id).where(a.c.id == moved.id)).scalar_one()
        conn.execute(
            d.insert().values(
                order_id=oid,
                kind=m.DecisionKind.RELEASE,
                operator="OPER2",
                at=datetime.combine(three, time(15)),
                shown_category="OTHER",
                shown_code="05",
                shown_label="refus",
            )
        )
    assert three not in _closed(engine)
    got = supervision(engine, SUPER).as_json()
    assert got["period"] == _expected(engine, *period) and got["today"] == _expected(engine, today, today)
    assert got["period"]["decisions_by_operator"]["OPER2"] == {"blocked": 0, "released": 1}
    after = _closed(engine)
    yesterday = today - timedelta(days=1)
    assert set(after) == set(closed) and after[yesterday] == closed[yesterday]  # untouched: not computed again
    with engine.db.engine.begin() as conn:  # a row deleted on day −5 (its order deleted)
        conn.execute(a.delete().where(a.c.id == late.id))
    assert five not in _closed(engine)
    assert supervision(engine, SUPER).as_json()["period"] == _expected(engine, *period)


async def test_latency_rounds_half_to_even_in_sql(settings, engine) -> None:  # type: ignore[no-untyped-def]
    """The per-day histogram's whole milliseconds are Python's round() of the exact microseconds,
    on both databases (no floating point on the way: ties go to the even millisecond)."""
    from d400tui.store import stats as q

    await _history(engine)
    micros = [100_500, 101_500, -300_000, 800_000, 2_499, 2_500, 3_500, -500, -1_500, -1_499, 86_400_000_500]
    a = t.authorizations
    with engine.db.engine.begin() as conn:
        rows = conn.execute(select(a.c.id, a.c.requested_at).order_by(a.c.id)).all()[: len(micros)]
        base = datetime.combine(date.today() - timedelta(days=2), time(9, 0, 0, 250_000))
        for (aid, _), us in zip(rows, micros, strict=True):
            conn.execute(
                update(a).where(a.c.id == aid).values(requested_at=base, answered_at=base + timedelta(microseconds=us))
            )
    day = date.today() - timedelta(days=2)
    with engine.db.engine.connect() as conn:
        got = q.live(conn, day, day)[day].latency_ms
    assert got == Counter(round(timedelta(microseconds=us) / timedelta(milliseconds=1)) for us in micros)
    q.close_days(engine.db.engine, day, day)
    with engine.db.engine.connect() as conn:
        assert q.closed(conn, day, day)[0].latency_ms == got


async def test_latency_exact_when_a_stamp_ends_a_second(settings, engine) -> None:  # type: ignore[no-untyped-def]
    """A stamp in the last half-millisecond of a second (…:58.999831) counts in its own second:
    SQLite's strftime('%s') alone rounds it to the next one, a latency 1 s too long (CI caught it
    once in ~20 runs: p95 1,230 ms where the rows said 454)."""
    from d400tui.store import stats as q

    await _history(engine)
    day = date.today() - timedelta(days=2)
    pairs = [  # (requested, answered) fractions of a second, latencies in µs
        (770_231, 229_600),  # answered at .999831
        (999_600, 100_000),  # requested at .999600
        (999_999, 1),  # both ends of a second
        (999_500, 499_000),
    ]
    a = t.authorizations
    with engine.db.engine.begin() as conn:
        ids = conn.execute(select(a.c.id).order_by(a.c.id)).scalars().all()[: len(pairs)]
        for aid, (frac, us) in zip(ids, pairs, strict=True):
            at = datetime.combine(day, time(9, 0, 58, frac))
            conn.execute(
                update(a).where(a.c.id == aid).values(requested_at=at, answered_at=at + timedelta(microseconds=us))
            )
    with engine.db.engine.connect() as conn:
        got = q.live(conn, day, day)[day].latency_ms
    assert got == Counter(round(us / 1000) for _, us in pairs)


async def test_migration_0018_forgets_the_days_closed_on_sqlite(settings, engine) -> None:  # type: ignore[no-untyped-def]
    """Days closed before the fix may keep a latency 1 s long: 0018 forgets them on SQLite (the
    next read counts them again from their rows); PostgreSQL's were exact and stay."""
    from alembic import command

    await _history(engine)
    supervision(engine, SUPER)
    before = _closed(engine)
    assert len(before) == 29
    cfg = engine.db.alembic_config()
    command.downgrade(cfg, "0017")
    command.upgrade(cfg, "head")
    assert _closed(engine) == ({} if engine.db.dialect == "sqlite" else before)
    today = date.today()
    assert supervision(engine, SUPER).as_json()["period"] == _expected(engine, today - timedelta(days=29), today)


async def test_a_write_landing_while_a_day_closes_is_counted(settings, engine) -> None:  # type: ignore[no-untyped-def]
    """A past day being closed while another transaction adds a row to it: the closing waits for
    that transaction (SQLite write lock; PostgreSQL LOCK stats_days, which the trigger's DELETE
    holds), so the kept figures include the row instead of missing it for good."""
    import threading

    from d400tui.store import stats as q

    await _history(engine)
    day = date.today() - timedelta(days=5)
    a = t.authorizations
    writer = engine.db.engine.connect()
    tx = writer.begin()
    row = writer.execute(select(a).order_by(a.c.id)).mappings().first()
    writer.execute(
        a.insert().values(
            {
                **{k: v for k, v in row.items() if k != "id"},
                "idempotency_key": "late-1",
                "requested_at": datetime.combine(day, time(11)),
                "category": "CEILING",
                "response_code": "51",
                "answered_at": None,
            }
        )
    )
    done: list[int] = []
    closer = threading.Thread(target=lambda: done.append(q.close_days(engine.db.engine, day, day)))
    closer.start()
    closer.join(0.5)
    assert closer.is_alive()  # waiting for the writer, not closing the day without its row
    tx.commit()
    writer.close()
    closer.join(10)
    assert done == [1]
    with engine.db.engine.connect() as conn:
        kept, covered = q.closed(conn, day, day)
        assert covered == {day} and kept == q.live(conn, day, day)[day]
        assert kept.outcomes[("CEILING", "51")] >= 1
