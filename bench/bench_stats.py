"""`d400 stats` and the supervision screen's first paint on a million orders, SQLite and
PostgreSQL side by side: before (the baseline commit's queries over the raw rows) and after
(past days read from the per-day totals of migration 0008, today counted live).

The data: N orders (default 1,000,000) over the last 40 days, one authorization each plus a
zero-amount check for every tenth (1.1 M authorizations), 8 in 12 approved and the rest refused
in four categories (unavailable ones unanswered), a block or release for half the refusals and
a void left pending for one order in a thousand. Made inside the database by INSERT … SELECT over
a generated series (a recursive CTE on SQLite, generate_series on PostgreSQL), pseudo-random from
the row number — a minute or so instead of the 325 s of the demo generator. Built once and
reused: the SQLite file $D400_BENCH_DIR/stats-<N>.sqlite (default ~/.cache/d400tui), the
PostgreSQL database d400bench_stats_<N> on the server of $D400_BENCH_PG_URL (default
$D400_TEST_PG_URL); --rebuild starts again. "Now" is the newest request in the data, so a database
built yesterday reads as if built today (the engine's clock is set to it).

Before: the queries of commit BASELINE, run in a subprocess on a `git archive` of that commit, on
the same database (it has the 0008 indexes too). After: cold = the first call after the per-day
totals were emptied (closes the 39 past days once), warm = every later call (best of 3). The
figures of both are compared: they must be equal. First paint: from pushing the supervision
screen in App.run_test to the first frame with figures (warm).

usage: python bench/bench_stats.py [--orders N] [--rebuild] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path

from sqlalchemy import create_engine, select, text

from d400tui.config import Settings
from d400tui.domain import model as m
from d400tui.engine import open_engine
from d400tui.engine.demo import seed_demo_operators, seed_reference
from d400tui.engine.stats import PERIOD_DAYS, supervision
from d400tui.store import tables as t
from d400tui.store.db import Database

BASELINE = "e6affac"  # the last commit before the per-day totals
DAYS = 40
SUPER = m.Actor("SUPER1", True)

# (expression of the row number i) → SQL; E is the request's time in microseconds since 1970
_SQL = {
    "sqlite": dict(
        series="WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) ",
        source="FROM n",
        ts="(strftime('%Y-%m-%d %H:%M:%S', ({x}) / 1000000, 'unixepoch') || '.' || printf('%06d', ({x}) % 1000000))",
        day="date(({x}) / 1000000, 'unixepoch')",
    ),
    "postgresql": dict(
        series="",
        source="FROM generate_series(CAST(1 AS BIGINT), {n}) AS n(i)",
        ts="(timestamp '1970-01-01' + ({x}) * interval '1 microsecond')",
        day="CAST(timestamp '1970-01-01' + ({x}) * interval '1 microsecond' AS date)",
    ),
}


def _statements(dialect: str, n: int, now_us: int) -> list[str]:
    d = _SQL[dialect]
    e = f"({now_us} - ((i * 2654435761) % {DAYS * 86400}) * 1000000 - (i * 48271) % 1000000)"
    cat = "((i * 31) % 12)"
    ts, day = d["ts"].format(x=e), d["day"].format(x=e)
    lat = f"({e} + 50000 + (i * 104729) % 850000)"
    category = (
        f"CASE {cat} WHEN 8 THEN 'CEILING' WHEN 9 THEN 'UNAVAILABLE' WHEN 10 THEN 'OTHER' "
        f"WHEN 11 THEN 'BLOCKED' ELSE 'APPROVED' END"
    )
    code = f"CASE {cat} WHEN 8 THEN '51' WHEN 9 THEN '91' WHEN 10 THEN '05' WHEN 11 THEN '43' ELSE '00' END"
    state = f"CASE WHEN {cat} < 8 THEN 'APPROVED' WHEN {cat} = 9 THEN 'UNKNOWN' ELSE 'DECLINED' END"
    answered = f"CASE WHEN {cat} = 9 THEN NULL ELSE {d['ts'].format(x=lat)} END"
    operator = "'OPER' || CAST(1 + i % 9 AS VARCHAR(2))"

    def auth(kind: str, i_expr: str, where: str, id_offset: int) -> str:
        src = d["source"].format(n=n)
        return (
            d["series"].format(n=n)
            + "INSERT INTO authorizations (id, order_id, kind, state, amount, captured_amount, idempotency_key, "
            "acquirer, card_brand, card_first6, card_last4, card_expiry, response_code, category, requested_at, "
            "answered_at, void_state, operator, capture_pending) "
            f"SELECT i + {id_offset}, i, '{kind}', {state}, {i_expr}, 0, '{kind[0]}' || CAST(i AS VARCHAR(12)), "
            f"'simulator', 'VISA', '497010', '0014', '12/30', {code}, {category}, {ts}, {answered}, "
            f"CASE WHEN i % 1000 = 0 THEN 'PENDING' ELSE 'NONE' END, {operator}, false {src} WHERE {where}"
        )

    return [
        d["series"].format(n=n)
        + "INSERT INTO orders (id, customer_id, channel, payment_method, plan, status, hold, awaiting_decision, "
        "total, created_by, created_at, order_date, version) "
        f"SELECT i, 100001, 'PHONE', 'CARD', 'immediate', 'VALIDATED', 'NONE', false, 4990, {operator}, "
        f"{ts}, {day}, 1 {d['source'].format(n=n)}",
        auth("AUTHORIZE", "4990", "true", 0),
        auth("VERIFY", "0", "i % 10 = 0", n),
        d["series"].format(n=n)
        + "INSERT INTO decisions (order_id, kind, operator, at, shown_category, shown_code, shown_label) "
        f"SELECT i, CASE WHEN i % 4 = 0 THEN 'BLOCK' ELSE 'RELEASE' END, {operator}, "
        f"{d['ts'].format(x=e + ' + 30000000')}, {category}, {code}, 'refus' {d['source'].format(n=n)} "
        f"WHERE {cat} IN (8, 10, 11) AND i % 2 = 0",
    ]


def _pg_url(n: int) -> str | None:
    base = os.environ.get("D400_BENCH_PG_URL") or os.environ.get("D400_TEST_PG_URL")
    if not base:
        return None
    name = f"d400bench_stats_{n}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


def _build(url: str, n: int, rebuild: bool) -> datetime:
    """The database at `url` with the N orders (made now unless already there); returns its "now"."""
    db = Database(url)
    if rebuild and db.is_migrated():
        with db.engine.begin() as conn:
            for table in reversed(t.metadata.sorted_tables):
                conn.execute(table.delete())
    db.upgrade()
    seed_reference(db)
    seed_demo_operators(db)
    with db.engine.connect() as conn:
        have = conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
    if have != n:
        if have:
            raise SystemExit(f"{url}: {have} orders, not {n}: use --rebuild")
        now = datetime.now().replace(microsecond=0)
        t0 = time.perf_counter()
        with db.engine.begin() as conn:
            for sql in _statements(db.dialect, n, calendar.timegm(now.timetuple()) * 1_000_000):
                conn.execute(text(sql))
        if db.dialect == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("orders", "authorizations"):  # the ids were given: move the sequences on
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"))
                conn.execute(text("VACUUM ANALYZE"))
        else:
            with db.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
        print(f"  built {n} orders in {time.perf_counter() - t0:.0f} s", flush=True)
    with db.engine.connect() as conn:
        latest = conn.execute(text("SELECT max(requested_at) FROM authorizations")).scalar_one()
    db.dispose()
    return latest if isinstance(latest, datetime) else datetime.fromisoformat(latest)


BEFORE = """
import json, sys, time
from dataclasses import asdict
from datetime import date, timedelta
from d400tui.engine.stats import figures
from d400tui.store import stats as q
from d400tui.store.db import make_engine
url, today = sys.argv[1], date.fromisoformat(sys.argv[2])
eng = make_engine(url.replace("postgresql+psycopg://", "postgresql://"))
with eng.connect() as conn:
    t0 = time.perf_counter()
    today_f = figures(conn, today, today)
    period = figures(conn, today - timedelta(days=29), today)
    extra = (q.holds_lapsing(conn), q.voids_pending(conn))
    took = time.perf_counter() - t0
print(json.dumps({"s": took, "today": asdict(today_f), "period": asdict(period), "extra": extra}, default=str))
"""


def _before(url: str, today: date) -> tuple[float, dict]:  # type: ignore[type-arg]
    """The baseline commit's queries, in a subprocess importing that commit's package."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", BASELINE, "d400tui"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        # cwd: `python -c` puts it first on sys.path, and it must not be this checkout
        out = subprocess.run(
            [sys.executable, "-c", BEFORE, url, today.isoformat()],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=tmp),
            cwd=tmp,
            check=True,
        ).stdout
    got = json.loads(out)
    return got["s"], got


def _latencies(url: str, first: date, last: date) -> tuple[int, int]:
    """p50/p95 computed here in Python from the raw timestamps: the arbiter when before ≠ after."""
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with eng.connect() as conn:
        rows = conn.execute(
            select(t.authorizations.c.requested_at, t.authorizations.c.answered_at).where(
                t.authorizations.c.requested_at >= datetime.combine(first, time_of_day.min),
                t.authorizations.c.requested_at < datetime.combine(last + timedelta(days=1), time_of_day.min),
                t.authorizations.c.answered_at.is_not(None),
            )
        ).all()
    eng.dispose()
    lat = sorted((a - r) / timedelta(milliseconds=1) for r, a in rows)
    return round(lat[math.ceil(0.5 * len(lat)) - 1]), round(lat[math.ceil(0.95 * len(lat)) - 1])


def _best(f, k: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


async def _first_paint(engine, now: datetime) -> float:  # type: ignore[no-untyped-def]
    from d400tui.app import D400App
    from d400tui.screens.supervision import SupervisionScreen

    app = D400App(engine.settings, engine=engine, clock=lambda: now)
    async with app.run_test(size=(80, 24)) as pilot:
        app.actor = SUPER  # signed on: the sign-on screen is not what is measured
        screen = SupervisionScreen(refresh_s=None, poll_s=None)
        t0 = time.perf_counter()
        app.push_screen(screen)
        while screen.loads == 0:
            await pilot.pause(0.005)
        await pilot.pause()  # the frame with the figures
        return time.perf_counter() - t0


def run(name: str, url: str, n: int, rebuild: bool) -> dict[str, float]:
    print(f"{name}: {url}", flush=True)
    now = _build(url, n, rebuild)
    today = now.date()
    before_s, before = _before(url, today)
    os.environ["D400_DB_URL"] = url
    engine = open_engine(Settings(), clock=lambda: now)
    with engine.db.engine.begin() as conn:
        conn.execute(t.stats_days.delete())
    t0 = time.perf_counter()
    after = supervision(engine, SUPER)
    cold = time.perf_counter() - t0
    warm = _best(lambda: supervision(engine, SUPER))
    mine = json.loads(json.dumps([asdict(after.today), asdict(after.period)], default=str))
    diff = [
        f"{part} {k}: before {before[part][k]}, after {f[k]}"
        for part, f in zip(("today", "period"), mine, strict=True)
        for k in f
        if f[k] != before[part][k]
    ]
    if [after.holds_lapsing, after.voids_pending] != before["extra"]:
        diff.append(f"holds/voids: before {before['extra']}, after {[after.holds_lapsing, after.voids_pending]}")
    truth = {"today": _latencies(url, today, today), "period": _latencies(url, after.period.first_day, today)}
    paint = asyncio.run(_first_paint(engine, now))
    engine.db.dispose()
    print(
        f"  period requested {after.period.requested}, today {after.today.requested}; "
        f"figures equal to before: {'yes' if not diff else 'NO'}",
        flush=True,
    )
    for line in diff:
        print(f"    {line}")
    for part, f in (("today", after.today), ("period", after.period)):
        ok = (f.latency_p50_ms, f.latency_p95_ms) == truth[part]
        print(
            f"  {part} p50/p95 computed in Python from the rows: {truth[part]} — after "
            f"{'equal' if ok else 'DIFFERENT'}",
            flush=True,
        )
    return dict(before=before_s, cold=cold, warm=warm, paint=paint)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--orders", type=int, default=1_000_000)
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--only", choices=["sqlite", "postgresql"])
    args = p.parse_args()
    cache = Path(os.environ.get("D400_BENCH_DIR") or Path.home() / ".cache" / "d400tui")
    cache.mkdir(parents=True, exist_ok=True)
    targets = {"sqlite": f"sqlite:///{cache / f'stats-{args.orders}.sqlite'}", "postgresql": _pg_url(args.orders)}
    results = {}
    for name, url in targets.items():
        if url and args.only in (None, name):
            results[name] = run(name, url, args.orders, args.rebuild)
    print(f"\nd400 stats on {args.orders:,} orders (today + last {PERIOD_DAYS} days; seconds)")
    print(f"{'':12}{'before':>9}{'after cold':>12}{'after warm':>12}{'ratio':>8}{'first paint':>13}")
    for name, r in results.items():
        print(
            f"{name:12}{r['before']:9.3f}{r['cold']:12.3f}{r['warm']:12.3f}"
            f"{r['before'] / r['warm']:7.0f}×{r['paint']:13.3f}"
        )


if __name__ == "__main__":
    main()
