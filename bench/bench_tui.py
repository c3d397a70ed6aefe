"""TUI bench: prints figures, asserts nothing.

- F10 keypress → decision panel on screen (simulator at zero latency): median and p95;
- work with orders over N orders (default 100,000): first page and per PageDown;
- cold start to the sign-on screen (a fresh process, from its launch).

Times run from the moment the key event is handed to the driver (as a terminal would) to the
first frame the compositor paints with the awaited content. No Pilot pauses are counted: Pilot's
`press`/`pause` wait for CPU idle in 20 ms steps, which is harness time, not the operator's.

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
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def timed_app(settings: Any, engine: Any) -> Any:
    """The application with a hook on every frame it paints (headless: the frame is composed, not written)."""
    from d400tui.app import D400App

    class TimedApp(D400App):
        CSS_PATH = str(Path(sys.modules[D400App.__module__].__file__ or "").with_name("d400.tcss"))
        waiters: list[tuple[Callable[[], bool], asyncio.Future[float]]] = []

        def post_display_hook(self) -> None:
            now = time.perf_counter()
            for cond, fut in list(self.waiters):
                if not fut.done() and cond():
                    fut.set_result(now)
                    self.waiters.remove((cond, fut))

    return TimedApp(settings, engine=engine)


async def key_to_paint(app: Any, key: str, cond: Callable[[], bool], timeout: float = 10.0) -> float:
    """ms from handing `key` to the driver to the first painted frame where `cond()` holds."""
    from textual import events

    fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    app.waiters.append((cond, fut))
    t0 = time.perf_counter()
    if key:
        ev = events.Key(key, None)
        ev.set_sender(app)
        app._driver.send_message(ev)  # noqa: SLF001 - what a terminal's input thread does
    return (await asyncio.wait_for(fut, timeout) - t0) * 1000


def shown(app: Any, screen: str) -> bool:
    scr = app.screen
    return type(scr).__name__ == screen and scr.is_mounted and bool(scr.children) and scr.children[0].region.area > 0


async def settle(app: Any) -> None:
    while app.workers._workers:  # noqa: SLF001
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.03)


async def sign_on(pilot: Any) -> None:
    await pilot.press(*"OPER1", "tab", *"oper1-demo", "enter")
    while type(pilot.app.screen).__name__ != "MenuScreen":
        await asyncio.sleep(0.005)
    await pilot.pause()


async def bench_f10(runs: int) -> None:
    from d400tui.config import Settings
    from d400tui.engine import open_engine
    from d400tui.engine.demo import seed_demo_operators

    settings = Settings()
    engine = open_engine(settings)
    seed_demo_operators(engine.db)  # signs on as OPER1
    app = timed_app(settings, engine)
    times: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_on(pilot)
        await pilot.press("1", "enter")
        await pilot.pause()
        for _ in range(runs):
            scr = app.screen
            for wid, val in (
                ("customer", "100001"),
                ("art-0", "BON0001"),
                ("qty-0", "1"),
                ("card", "4970100000000048"),
                ("expiry", "12/30"),
                ("cvv", "123"),
            ):
                w = scr.query_one(f"#{wid}")
                w.focus()
                w.value = val
            scr.query_one("#customer").focus()
            await pilot.pause()
            times.append(await key_to_paint(app, "f10", lambda: shown(app, "DecisionScreen")))
            await pilot.press("f12")
            while type(app.screen).__name__ != "OrderEntryScreen" or app.workers._workers:  # noqa: SLF001
                await asyncio.sleep(0.001)
            await pilot.pause()
    await engine.close()
    print(
        f"F10 -> decision panel painted ({runs} runs): median {statistics.median(times):.1f} ms, "
        f"p95 {pct(times, 95):.1f} ms"
    )


async def bench_list(n: int, sessions: int = 5) -> None:
    from d400tui.config import Settings
    from d400tui.engine import open_engine
    from d400tui.engine.demo import generate_orders, seed_demo_operators

    settings = Settings()
    engine = open_engine(settings)
    seed_demo_operators(engine.db)  # signs on as OPER1
    t0 = time.perf_counter()
    generate_orders(engine.db, n, [("tok", "VISA", "497010", "0014", "12/30")])
    print(f"generated {n} orders in {time.perf_counter() - t0:.1f} s")
    firsts: list[float] = []
    again: list[float] = []
    pages: list[float] = []
    filt: list[float] = []
    for _ in range(sessions):  # each session: sign on, a moment at the menu, then "2"
        app = timed_app(settings, engine)

        def page_shown(before: list[object], app: Any = app) -> Callable[[], bool]:
            def cond() -> bool:
                if not shown(app, "WorkOrdersScreen"):
                    return False
                keys = app.screen.query_one("Subfile").keys
                return bool(keys) and keys != before

            return cond

        async with app.run_test(size=(80, 24)) as pilot:
            await sign_on(pilot)
            await pilot.press("2")
            await asyncio.sleep(0.3)
            firsts.append(await key_to_paint(app, "enter", page_shown([])))
            await settle(app)
            for _ in range(20):
                before = list(app.screen.query_one("Subfile").keys)
                pages.append(await key_to_paint(app, "pagedown", page_shown(before)))
                await settle(app)
            # a filtered list far from the newest rows
            scr = app.screen
            scr.query_one("#f-status").value = "ANNULEE"
            scr.query_one("#f-hold").focus()
            await pilot.pause()
            before = list(scr.query_one("Subfile").keys)
            filt.append(await key_to_paint(app, "enter", page_shown(before)))
            await settle(app)
            for _ in range(4):  # leave and open again
                await pilot.press("f12")
                while type(app.screen).__name__ != "MenuScreen":
                    await asyncio.sleep(0.002)
                await pilot.press("2")
                await pilot.pause()
                again.append(await key_to_paint(app, "enter", page_shown([])))
                await settle(app)
    await engine.close()
    print(
        f"work with orders over {n}: first page of a session median {statistics.median(firsts):.1f} ms "
        f"(max {max(firsts):.1f}, {sessions} sessions), opened again median {statistics.median(again):.1f} ms "
        f"(p95 {pct(again, 95):.1f}); PageDown median {statistics.median(pages):.1f} ms, "
        f"p95 {pct(pages, 95):.1f} ms; filter status=ANNULEE median {statistics.median(filt):.1f} ms"
    )


COLD = """
import time, sys, asyncio
from pathlib import Path
from d400tui.app import D400App

class Timed(D400App):
    CSS_PATH = str(Path(sys.modules[D400App.__module__].__file__).with_name("d400.tcss"))

    def post_display_hook(self):
        scr = self.screen
        if (type(scr).__name__ == "SignOnScreen" and scr.is_mounted and scr.children
                and scr.children[0].region.area > 0 and not getattr(self, "_t", None)):
            self._t = time.time()

async def main():
    app = Timed()
    async with app.run_test(size=(80, 24)) as pilot:
        while not getattr(app, "_t", None):
            await asyncio.sleep(0.001)
        print(app._t)
        await pilot.pause(0.5)  # let the engine finish opening, as it would while the operator types

asyncio.run(main())
"""


def bench_cold_start(runs: int = 5, fresh: bool = True) -> None:
    times = []
    home = tempfile.mkdtemp(prefix="d400cold")
    for _ in range(runs):
        if fresh:
            home = tempfile.mkdtemp(prefix="d400cold")
        env = dict(os.environ, D400_HOME=home)
        t0 = time.time()
        out = subprocess.run([sys.executable, "-c", COLD], env=env, capture_output=True, text=True, check=True)
        times.append((float(out.stdout.strip().splitlines()[-1]) - t0) * 1000)
    what = "fresh DB each run" if fresh else "existing DB"
    print(
        f"cold start to sign-on painted ({what}, from process launch): "
        f"median {statistics.median(times):.0f} ms, max {max(times):.0f} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--only", choices=("f10", "list", "cold"), default=None)
    args = ap.parse_args()
    print(f"bench_tui {datetime.now():%Y-%m-%d %H:%M}")
    if args.only in (None, "f10"):
        with tempfile.TemporaryDirectory() as d:
            os.environ["D400_HOME"] = d
            os.environ.setdefault("D400_SIMULATOR_LATENCY_MS", "0")
            asyncio.run(bench_f10(args.runs))
    if args.only in (None, "list"):
        with tempfile.TemporaryDirectory() as d:
            os.environ["D400_HOME"] = d
            asyncio.run(bench_list(args.orders))
    if args.only in (None, "cold"):
        bench_cold_start(fresh=True)
        bench_cold_start(fresh=False)


if __name__ == "__main__":
    main()
