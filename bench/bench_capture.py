"""Issue 14 point 1 (and issue 12's bench line): the capture run of N due instalments that hold a
live authorization, at 50 ms simulated acquirer latency and concurrency 64 — captures per second
and the ratio to the limit concurrency ÷ latency (goal ≥ 0.85, as the pre-check) — beside the
one-at-a-time path it replaced (`capture_one` per instalment, gathered, a result committed for
each: the run loop before this branch), on a slice of its own of the same database.

Set-up (not timed): N + baseline all-due orders (engine.demo.generate_orders), authorized by a
pre-check at zero latency through the in-process simulator, so every instalment is due for capture.

usage: python bench/bench_capture.py [--quick] [--orders 20000] [--baseline 1000] [--latency-ms 50]
       [--concurrency 64] [--db sqlite|postgres|both] [--pg-url postgresql://…]"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._workload import bench_home, reference_loop_ms, synthetic_cards, tokens  # noqa: E402
from d400tui import aio  # noqa: E402  (the loop `d400 capture` runs on)

PG_URL = os.environ.get("D400_TEST_PG_URL", "postgresql://d400test:d400test@127.0.0.1:5432/d400test")


def _pg_database(url: str) -> tuple[str, str]:
    """A throw-away database on the server of `url`: (its URL, its name)."""
    from sqlalchemy import create_engine

    name = f"d400bench_capture_{uuid.uuid4().hex[:8]}"
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    eng.dispose()
    return url.rsplit("/", 1)[0] + "/" + name, name


def _drop_pg(url: str, name: str) -> None:
    from sqlalchemy import create_engine

    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    eng.dispose()


async def _one_at_a_time(engine, actor, todo, run_date: date, concurrency: int) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """The run loop before issue 14: every instalment gathered at once, `capture_one` each under
    a semaphore, its result committed on its own. Returns (captured, seconds)."""
    from d400tui.store.batch_writes import add_run_result

    with engine.unit() as uow:
        from d400tui.domain import model as m

        run = m.PrecheckRun("CAPTURE", run_date, engine.clock(), actor.name, concurrency)
        uow.runs.add(run)
        uow.commit()
    sem, captured = asyncio.Semaphore(concurrency), [0]

    async def one(order_id: int, seq: int) -> None:
        async with sem:
            outcome, amount, code, reason, auth_id = await engine.capture_one(actor, order_id, seq)
        with engine.unit() as uow:
            add_run_result(uow.session, run.id or 0, order_id, seq, outcome, amount, code, reason, auth_id)
            uow.commit()
        captured[0] += outcome == "CAPTURED"

    t0 = time.perf_counter()
    await asyncio.gather(*(one(o, s) for o, s, _ in todo))
    return captured[0], time.perf_counter() - t0


async def bench(db: str, n: int, baseline: int, latency_ms: float, concurrency: int, pg_url: str) -> None:
    from d400tui.config import Settings
    from d400tui.domain import model as m
    from d400tui.engine import open_engine
    from d400tui.engine.capture import Capture
    from d400tui.engine.demo import generate_orders

    home = bench_home(f"capture-{db}")
    pans = synthetic_cards(home / "cards.csv", min(n + baseline, 20000))
    os.environ["D400_SIMULATOR_CARDS"] = str(home / "cards.csv")
    os.environ["D400_SIMULATOR_LATENCY_MS"] = "0"
    pg_name = None
    if db == "postgres":
        url, pg_name = _pg_database(pg_url)
        os.environ["D400_DB_URL"] = url
    else:
        os.environ.pop("D400_DB_URL", None)
    try:
        engine = open_engine(Settings())
        super1 = m.Actor("SUPER1", True)
        t0 = time.perf_counter()
        cards = await tokens(engine.acquirer, pans, concurrency)
        today = date.today()
        generate_orders(engine.db, n + baseline, cards, today, all_due=True)
        pre = await engine.precheck(super1, today, concurrency)
        assert pre.approved == n + baseline, (pre.approved, pre.refused, pre.unavailable)
        setup = time.perf_counter() - t0
        engine.acquirer.latency_s = latency_ms / 1000  # type: ignore[attr-defined]
        todo = Capture(engine).selection(today)
        base_n, base_s = (
            await _one_at_a_time(engine, super1, todo[:baseline], today, concurrency) if baseline else (0, 0.0)
        )
        ref_before = reference_loop_ms()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0, cpu0 = time.perf_counter(), time.process_time()
        run = await engine.capture(super1, today, concurrency)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ref_after = reference_loop_ms()
        captured = [h for h in engine.acquirer.issuer.holds() if h[1] == "CAPTURED"]  # type: ignore[attr-defined]
        await engine.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if pg_name:
            _drop_pg(pg_url, pg_name)
    limit = concurrency / (latency_ms / 1000)
    rate = run.approved / elapsed
    load = os.getloadavg()
    print(
        f"capture on {db}: {n} due instalments (+{baseline} for the baseline), latency {latency_ms:g} ms, "
        f"concurrency {concurrency} (set-up {setup:.1f} s)"
    )
    print(
        f"  batched run: captured {run.approved} (refused {run.refused}, unavailable {run.unavailable}, "
        f"skipped {run.skipped}) in {elapsed:.2f} s; issuer: {len(captured)} holds captured, each once"
    )
    print(
        f"  {rate:8.1f} captures/s   limit concurrency/latency {limit:.0f}/s   ratio {rate / limit:.3f}"
        f"   (goal >= 0.85)"
    )
    if baseline:
        br = base_n / base_s
        print(
            f"  {br:8.1f} captures/s   one at a time (capture_one gathered: the run before issue 14)"
            f"   ratio {br / limit:.3f}"
        )
    else:
        print("  one at a time: not run (--baseline 0); issue 14 measured 46.5 captures/s, ratio 0.036")
    print(
        f"  client CPU {cpu / max(run.approved, 1) * 1e6:.0f} µs per capture ({cpu / elapsed:.0%} of one core); "
        f"max RSS {rss0 / 1024:.0f} MB before the run, {rss1 / 1024:.0f} MB after"
    )
    print(
        f"  machine: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; reference loop {ref_before:.0f} ms "
        f"before, {ref_after:.0f} ms after (lower is faster)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20000)
    ap.add_argument("--baseline", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument("--quick", action="store_true", help="2,000 instalments, 200 for the baseline: seconds")
    a = ap.parse_args()
    if a.quick:
        a.orders, a.baseline = 2000, 200
    for db in ["sqlite", "postgres"] if a.db == "both" else [a.db]:
        aio.run(bench(db, a.orders, a.baseline, a.latency_ms, a.concurrency, a.pg_url))


if __name__ == "__main__":
    main()
