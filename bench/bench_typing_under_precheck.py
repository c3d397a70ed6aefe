"""Operators validating orders while a pre-check runs (issue 14's bench): the validation latency
at the terminals with and without a running pre-check, and the ratio of the two p95 (goal: the
p95 grows by less than 50 %, ratio < 1.5).

What is timed is what F10 makes the terminal wait for: `Engine.place_order` (the order written,
the card authorized through the acquirer, the answer written), from T terminal tasks in a process
of their own, each validating one order after another with a short pause. The screen's own
drawing is left out (bench_tui.py times it). The pre-check is the real `d400 precheck` in another
process on N due orders (latency L ms, concurrency 64), started before the second phase and
killed after it. Every process has its own in-process simulated issuer (a copy of the state
file, as machines with their own acquirer link), so what the two share is the database.

usage: python bench/bench_typing_under_precheck.py [--due N] [--seconds S] [--terminals T]
       [--only postgresql|sqlite] [--quick]
PostgreSQL: a database is made (and dropped) on $D400_BENCH_PG_URL or $D400_TEST_PG_URL."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._workers import _database, _drop, _load, bench_env  # noqa: E402
from bench._workload import bench_home, reference_loop_ms, synthetic_cards  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
GOAL = 1.5


async def _terminals(seconds: float, terminals: int, pans: list[str]) -> list[float]:
    """Validation latencies (ms) of `terminals` operators validating orders for `seconds`."""
    from d400tui.config import Settings
    from d400tui.domain import model as m
    from d400tui.domain.cards import CardData, parse_expiry
    from d400tui.engine import open_engine

    engine = open_engine(Settings())
    oper, exp, out = m.Actor("OPER1", False), parse_expiry("12/30"), []
    end = time.perf_counter() + seconds

    async def operator(k: int) -> None:
        n = 0
        while time.perf_counter() < end:
            pan = pans[(k * 7919 + n) % len(pans)]
            t0 = time.perf_counter()
            r = await engine.place_order(oper, 100001 + (k + n) % 150, [("BON0001", 1)], CardData(pan, exp))
            out.append((time.perf_counter() - t0) * 1000)
            assert r.order.id, r
            n += 1
            await asyncio.sleep(0.05)  # the next order being typed

    try:
        await asyncio.gather(*(operator(k) for k in range(terminals)))
    finally:
        await engine.close()
    return out


def _phase(home: Path, issuer: Path, name: str, seconds: float, terminals: int, latency_ms: float) -> list[float]:
    own = home / f"issuer-terminals-{name}.db"
    shutil.copyfile(issuer, own)
    env = dict(os.environ, D400_SIMULATOR_DB=str(own), D400_SIMULATOR_LATENCY_MS=str(latency_ms))
    env["PYTHONPATH"] = str(ROOT)
    argv = [sys.executable, __file__, "--terminals-only", str(seconds), str(terminals)]
    r = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120)
    if r.returncode:
        raise SystemExit(f"terminals failed: {r.stderr[-800:]}")
    return json.loads(r.stdout.splitlines()[-1])


def _figures(ms: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return statistics.median(ms), q[94], q[98]


def _precheck_done(url: str) -> int:
    from sqlalchemy import create_engine, text

    eng = create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql") else url
    )
    try:
        with eng.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM authorizations WHERE initiator = 'MIT'")).scalar() or 0)
    finally:
        eng.dispose()


def run(kind: str, due: int, seconds: float, terminals: int, latency_ms: float, pg_url: str | None) -> None:
    home = bench_home(f"typing-{kind}")
    pans = synthetic_cards(home / "cards.csv", min(due, 20000) + 200)
    name = None
    if kind == "postgresql":
        assert pg_url
        url, name = _database(pg_url)
    else:
        url = f"sqlite:///{home / 'd400.db'}"
    bench_env(home, url)
    try:
        from d400tui.config import Settings

        t0 = time.perf_counter()
        asyncio.run(_load(due, pans[:-200], 64))
        issuer = Settings().simulator_path
        ref = reference_loop_ms()
        print(f"{kind}: {due} due orders loaded in {time.perf_counter() - t0:.1f} s; reference loop {ref:.0f} ms")
        alone = _phase(home, issuer, "alone", seconds, terminals, latency_ms)
        own = home / "issuer-precheck.db"
        shutil.copyfile(issuer, own)
        env = dict(os.environ, D400_SIMULATOR_DB=str(own), D400_SIMULATOR_LATENCY_MS=str(latency_ms))
        env["PYTHONPATH"] = str(ROOT)
        argv = [sys.executable, "-m", "d400tui", "precheck", "--concurrency", "64"]
        pre = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for _ in range(600):  # until it is authorizing
                if _precheck_done(url) > 0 or pre.poll() is not None:
                    break
                time.sleep(0.1)
            before = _precheck_done(url)
            beside = _phase(home, issuer, "beside", seconds, terminals, latency_ms)
            during = _precheck_done(url) - before
            still = pre.poll() is None
        finally:
            if pre.poll() is None:
                os.kill(pre.pid, signal.SIGKILL)
            pre.wait()
        a, b = _figures(alone), _figures(beside)
        print(f"  {terminals} terminals, {seconds:g} s a phase, acquirer latency {latency_ms:g} ms")
        for label, ms, f in (("alone", alone, a), ("beside pre-check", beside, b)):
            print(f"  {label:17s} {len(ms):5d} validations, p50 {f[0]:6.1f} ms, p95 {f[1]:6.1f} ms, p99 {f[2]:6.1f} ms")
        print(
            f"  pre-check meanwhile: {during} authorizations ({during / seconds:.0f}/s)"
            f"{'' if still else ' — it ended during the phase: give it more --due'}"
        )
        ratio = b[1] / a[1]
        print(f"  p95 ratio {ratio:.2f} (goal < {GOAL}: {'met' if ratio < GOAL else 'NOT met'})")
    finally:
        if name and pg_url:
            _drop(pg_url, name)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    if sys.argv[1:2] == ["--terminals-only"]:
        pans = [r.split(",")[0] for r in Path(os.environ["D400_SIMULATOR_CARDS"]).read_text().splitlines()[1:]]
        ms = asyncio.run(_terminals(float(sys.argv[2]), int(sys.argv[3]), pans[-200:]))
        print(json.dumps(ms))
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--due", type=int, default=100_000, help="due orders for the pre-check (default 100,000)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of each phase (default 20 s)")
    p.add_argument("--terminals", type=int, default=8)
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--only", choices=["postgresql", "sqlite"])
    p.add_argument("--quick", action="store_true", help="2,000 due, 4 s phases, 4 terminals")
    a = p.parse_args()
    if a.quick:
        a.due, a.seconds, a.terminals = 2000, 4.0, 4
    pg_url = os.environ.get("D400_BENCH_PG_URL") or os.environ.get("D400_TEST_PG_URL")
    for kind in ("postgresql", "sqlite"):
        if a.only and kind != a.only:
            continue
        if kind == "postgresql" and not pg_url:
            print("postgresql: skipped (no D400_BENCH_PG_URL or D400_TEST_PG_URL)")
            continue
        run(kind, a.due, a.seconds, a.terminals, a.latency_ms, pg_url)


if __name__ == "__main__":
    main()
