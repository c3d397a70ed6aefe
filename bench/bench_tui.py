"""TUI bench: prints figures, asserts nothing.

- F10 keypress → decision panel on screen (simulator at zero latency): median and p95;
- work with orders over N orders (default 100,000): first page and per PageDown;
- cold start to the sign-on screen (a fresh process).

usage: python bench/bench_tui.py [--orders 100000] [--runs 30]"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def bench_f10(runs: int) -> None:
    from d400tui.app import D400App
    from d400tui.config import Settings
    from d400tui.engine import open_engine

    settings = Settings()
    engine = open_engine(settings)
    app = D400App(settings, engine=engine)
    times: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"OPER1", "tab", *"oper1-demo", "enter")
        await pilot.pause()
        await pilot.press("1", "enter")
        await pilot.pause()
        for _ in range(runs):
            scr = app.screen
            for wid, val in (("customer", "100001"), ("art-0", "BON0001"), ("qty-0", "1"),
                             ("card", "4970100000000048"), ("expiry", "12/30"), ("cvv", "123")):
                w = scr.query_one(f"#{wid}")
                w.focus()
                w.value = val
            scr.query_one("#customer").focus()
            await pilot.pause()
            t0 = time.perf_counter()
            await pilot.press("f10")
            while type(app.screen).__name__ != "DecisionScreen":
                await asyncio.sleep(0.001)
            await pilot.pause()  # panel painted
            times.append((time.perf_counter() - t0) * 1000)
            await pilot.press("f12")
            while type(app.screen).__name__ != "OrderEntryScreen" or app.workers._workers:  # noqa: SLF001
                await asyncio.sleep(0.001)
    print(f"F10 -> decision panel ({runs} runs): median {statistics.median(times):.1f} ms, "
          f"p95 {pct(times, 95):.1f} ms")


async def bench_list(n: int) -> None:
    from d400tui.app import D400App
    from d400tui.config import Settings
    from d400tui.engine import open_engine
    from d400tui.engine.demo import generate_orders

    settings = Settings()
    engine = open_engine(settings)
    t0 = time.perf_counter()
    generate_orders(engine.db, n, [("tok", "VISA", "497010", "0014", "12/30")])
    print(f"generated {n} orders in {time.perf_counter() - t0:.1f} s")
    app = D400App(settings, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"OPER1", "tab", *"oper1-demo", "enter")
        await pilot.pause()
        await pilot.press("2")
        t0 = time.perf_counter()
        await pilot.press("enter")
        while type(app.screen).__name__ != "WorkOrdersScreen":
            await asyncio.sleep(0.001)
        await pilot.pause()
        first = (time.perf_counter() - t0) * 1000
        pages: list[float] = []
        for _ in range(50):
            t0 = time.perf_counter()
            await pilot.press("pagedown")
            await pilot.pause()
            pages.append((time.perf_counter() - t0) * 1000)
        # a filtered list far from the newest rows
        scr = app.screen
        scr.query_one("#f-status").value = "ANNULEE"
        scr.query_one("#f-hold").focus()
        t0 = time.perf_counter()
        await pilot.press("enter")
        await pilot.pause()
        filt = (time.perf_counter() - t0) * 1000
    print(f"work with orders over {n}: first page {first:.1f} ms; PageDown median {statistics.median(pages):.1f} ms, "
          f"p95 {pct(pages, 95):.1f} ms; filter status=ANNULEE {filt:.1f} ms")


def bench_cold_start(runs: int = 5) -> None:
    code = (
        "import time,sys; t0=time.perf_counter()\n"
        "from d400tui.app import D400App\n"
        "import asyncio\n"
        "async def main():\n"
        "    app = D400App()\n"
        "    async with app.run_test(size=(80,24)) as pilot:\n"
        "        while type(app.screen).__name__ != 'SignOnScreen':\n"
        "            await asyncio.sleep(0.001)\n"
        "        await pilot.pause()\n"
        "        print(time.perf_counter()-t0)\n"
        "asyncio.run(main())\n"
    )
    times = []
    for _ in range(runs):
        env = dict(os.environ, D400_HOME=tempfile.mkdtemp(prefix="d400cold"))
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]) * 1000)
    print(f"cold start to sign-on (fresh DB, incl. interpreter imports after start): "
          f"median {statistics.median(times):.0f} ms, max {max(times):.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    print(f"bench_tui {datetime.now():%Y-%m-%d %H:%M}")
    with tempfile.TemporaryDirectory() as d:
        os.environ["D400_HOME"] = d
        os.environ.setdefault("D400_SIMULATOR_LATENCY_MS", "0")
        asyncio.run(bench_f10(args.runs))
    with tempfile.TemporaryDirectory() as d:
        os.environ["D400_HOME"] = d
        asyncio.run(bench_list(args.orders))
    bench_cold_start()


if __name__ == "__main__":
    main()
