"""Issue 2 benches, side by side in one run:

1. engine overhead per validation (zero acquirer latency, SQLite): p50/p99 of `place_order`
   against the same acquirer call made directly — the baseline — and their difference;
2. pre-check of N due orders at 50 ms simulated latency and concurrency 64: authorizations per
   second and the ratio to the limit concurrency ÷ latency (goal ≥ 0.85).

usage: python bench/bench_engine.py [--orders 20000] [--latency-ms 50] [--concurrency 64] [--validations 500]
       [--acquirer simulator|http]
       python bench/bench_engine.py --workers 1,2,4 [--kind precheck|capture|both] [--orders 20000]
       [--history 0] [--pg-url URL]   (bench/_workers.py; a million orders, 100,000 due:
       --orders 100000 --history 900000)"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._workload import bench_home, reference_loop_ms, synthetic_cards, tokens  # noqa: E402
from d400tui import aio  # noqa: E402  (the loop `d400 precheck` runs on)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def validations(n: int) -> None:
    from d400tui.acquirers.base import PaymentSource
    from d400tui.config import Settings
    from d400tui.domain import model as m
    from d400tui.domain.cards import CardData, parse_expiry
    from d400tui.engine import open_engine

    home = bench_home("validate")
    pans = synthetic_cards(home / "cards.csv", 50)
    import os

    os.environ["D400_SIMULATOR_CARDS"] = str(home / "cards.csv")
    engine = open_engine(Settings())
    actor = m.Actor("OPER1")
    exp = parse_expiry("12/30")
    # warm-up
    for i in range(20):
        await engine.place_order(actor, 100001, [("BON0001", 1)], CardData(pans[i % 50], exp))
    engine_ms, raw_ms = [], []
    for i in range(n):
        card = CardData(pans[i % 50], exp)
        t0 = time.perf_counter()
        r = await engine.place_order(actor, 100001 + i % 100, [("BON0001", 1), ("GRI0002", 2)], card)
        engine_ms.append((time.perf_counter() - t0) * 1000)
        assert r.approved, r.failed
        t0 = time.perf_counter()
        await engine.acquirer.authorize(PaymentSource(card=card), Decimal("10.00"), f"raw-{i}")
        raw_ms.append((time.perf_counter() - t0) * 1000)
    e50, e99, r50, r99 = pct(engine_ms, 50), pct(engine_ms, 99), pct(raw_ms, 50), pct(raw_ms, 99)
    print(f"validation (create + authorize + record), {n} orders, SQLite, zero latency")
    print(f"  engine place_order      p50 {e50:7.2f} ms   p99 {e99:7.2f} ms")
    print(f"  baseline acquirer call  p50 {r50:7.2f} ms   p99 {r99:7.2f} ms")
    print(f"  engine overhead         p50 {e50 - r50:7.2f} ms   p99 {e99 - r99:7.2f} ms")
    await engine.close()


async def precheck(n: int, latency_ms: float, concurrency: int, acquirer: str) -> None:
    import os

    from d400tui.config import Settings
    from d400tui.domain import model as m
    from d400tui.engine import open_engine
    from d400tui.engine.demo import generate_orders

    home = bench_home("precheck")
    pans = synthetic_cards(home / "cards.csv", min(n, 20000))
    os.environ["D400_SIMULATOR_CARDS"] = str(home / "cards.csv")
    server = None
    if acquirer == "http":
        from bench._servers import simulator_server

        server = simulator_server("http", latency_ms=latency_ms)
        port = server.__enter__()
        os.environ.update(D400_ACQUIRER="http", D400_ACQUIRER_URL=f"http://127.0.0.1:{port}")
    else:
        os.environ["D400_SIMULATOR_LATENCY_MS"] = "0"
    try:
        engine = open_engine(Settings())
        # tokens straight from the acquirer (a zero-amount verify per card), then due orders
        t0 = time.perf_counter()
        cards = await tokens(engine.acquirer, pans, concurrency)
        generate_orders(engine.db, n, cards, date.today(), all_due=True)
        setup = time.perf_counter() - t0
        if acquirer == "simulator":
            engine.acquirer.latency_s = latency_ms / 1000  # type: ignore[attr-defined]
        ref_before = reference_loop_ms()
        t0, cpu0 = time.perf_counter(), time.process_time()
        run = await engine.precheck(m.Actor("SUPER1", True), date.today(), concurrency)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        ref_after = reference_loop_ms()
        await engine.close()
    finally:
        if server:
            server.__exit__(None, None, None)
        shutil.rmtree(home, ignore_errors=True)  # 20,000 orders: ~30 MB a run
    done = run.approved + run.refused + run.unavailable
    rate = done / elapsed
    limit = concurrency / (latency_ms / 1000)
    print(
        f"pre-check through {acquirer}: {n} due orders, latency {latency_ms:g} ms, concurrency {concurrency}"
        f" (set-up {setup:.1f} s)"
    )
    print(
        f"  authorizations {done} (approved {run.approved}, refused {run.refused}, unavailable {run.unavailable})"
        f" in {elapsed:.2f} s"
    )
    print(f"  machine speed: reference loop {ref_before:.0f} ms before, {ref_after:.0f} ms after (lower is faster)")
    print(
        f"  client CPU (event loop + database thread) {cpu / max(done, 1) * 1e6:.0f} µs per authorization"
        f" ({cpu / elapsed:.0%} of one core)"
    )
    print(
        f"  {rate:8.0f} authorizations/s   limit concurrency/latency {limit:.0f}/s   ratio {rate / limit:.3f}"
        f"   (goal >= 0.85)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--validations", type=int, default=500)
    ap.add_argument("--acquirer", choices=["simulator", "http", "both"], default="simulator")
    ap.add_argument("--skip-validations", action="store_true")
    ap.add_argument("--workers", help="e.g. 1,2,4: runs by that many worker processes, PostgreSQL")
    ap.add_argument("--kind", choices=["precheck", "capture", "both"], default="precheck", help="with --workers")
    ap.add_argument("--history", type=int, default=0, help="with --workers: orders of the past beside the due")
    ap.add_argument("--naive-s", type=float, default=20.0, help="with --workers: the one-at-a-time baseline's time")
    ap.add_argument("--pg-url", default=os.environ.get("D400_TEST_PG_URL"), help="a role with CREATEDB")
    a = ap.parse_args()
    if a.workers:
        from bench._workers import run_workers

        if not a.pg_url:
            ap.error("--workers needs --pg-url (or D400_TEST_PG_URL)")
        counts = [int(k) for k in a.workers.split(",")]
        for kind in ["precheck", "capture"] if a.kind == "both" else [a.kind]:
            run_workers(kind, a.orders, a.latency_ms, a.concurrency, counts, a.pg_url, a.history, a.naive_s)
        return
    if not a.skip_validations:
        aio.run(validations(a.validations))
    for acq in ["simulator", "http"] if a.acquirer == "both" else [a.acquirer]:
        aio.run(precheck(a.orders, a.latency_ms, a.concurrency, acq))


if __name__ == "__main__":
    main()
