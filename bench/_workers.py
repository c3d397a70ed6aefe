"""A run shared by 1, 2, 4 … worker processes on PostgreSQL (issue 14.2), pre-check or capture:
the same due orders (and, with `history`, that many more orders of the past: a million in all)
worked once per worker count by real `d400 precheck worker --run ID` / `d400 capture worker --run
ID` processes, each with its own in-process simulator (a copy of the issuer's state: a machine with
its own acquirer link). Every round starts from the same database, a copy of a template loaded once
(CREATE DATABASE … TEMPLATE): the pre-check's template as loaded, the capture's pre-checked at zero
latency so every due instalment holds a live authorization. For each count: operations per second
while the workers worked (first join to last leave, from run_workers), the ratio to workers ×
concurrency ÷ latency, wall time including process start, each worker's peak RSS as it said."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench._workload import bench_home, reference_loop_ms, synthetic_cards, tokens

ROOT = Path(__file__).resolve().parent.parent


def _database(pg_url: str) -> tuple[str, str]:
    """A fresh database on the server of `pg_url`: (its URL, its name)."""
    import psycopg

    name = f"d400bench_workers_{os.getpid()}"
    admin = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}"')
        c.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin)
    return urlunsplit(parts._replace(path=f"/{name}")), name


def bench_env(home: Path, url: str) -> None:
    """What every process of a multi-process bench reads: the synthetic card file in `home`, the
    database, no simulated latency (each process sets its own), the supervisor's sign-on."""
    os.environ.update(
        D400_SIMULATOR_CARDS=str(home / "cards.csv"),
        D400_DB_URL=url,
        D400_SIMULATOR_LATENCY_MS="0",
        D400_OPERATOR="SUPER1",
        D400_PASSWORD="super1-demo",
    )


def _drop(pg_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _copy(pg_url: str, template: str, name: str) -> str:
    """A fresh database `name`, a copy of `template` (its rows, indexes, statistics, visibility
    map): every round starts from the same data. Returns its URL."""
    import psycopg

    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        try:  # PostgreSQL 15: the files copied (the default writes all of them to the WAL: slower)
            c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        except psycopg.errors.SyntaxError:
            c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    parts = urlsplit(pg_url.replace("postgresql+psycopg://", "postgresql://"))
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _load(n: int, pans: list[str], concurrency: int, history: int = 0, precheck: bool = False) -> None:
    """`n` due orders (after `history` mixed orders of the past, invoiced), the tables vacuumed and analyzed
    as a database at rest; `precheck`: then pre-checked at zero latency (live holds to capture)."""
    from sqlalchemy import text

    from d400tui.config import Settings
    from d400tui.domain import model as m
    from d400tui.engine import open_engine
    from d400tui.engine.bootstrap import open_database
    from d400tui.engine.demo import generate_orders, seed_demo_operators

    db = open_database(Settings())
    seed_demo_operators(db)
    engine = open_engine(Settings(), db=db)
    cards = await tokens(engine.acquirer, pans, concurrency)
    if history:
        generate_orders(engine.db, history, cards, date.today(), seed=1)
        with engine.db.engine.begin() as c:  # the past is invoiced: tonight's due are the n below
            c.execute(text("UPDATE instalments SET state = 'CAPTURED' WHERE state = 'PENDING'"))
            c.execute(text("UPDATE orders SET status = 'INVOICED' WHERE status = 'VALIDATED'"))
    generate_orders(engine.db, n, cards, date.today(), seed=2, all_due=True)
    if precheck:
        run = await engine.precheck(m.Actor("SUPER1", True), date.today(), concurrency)
        assert run.approved == n, (run.approved, run.refused, run.unavailable, run.skipped)
    await engine.close()
    if engine.db.dialect == "postgresql":
        with engine.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM (ANALYZE)")
    engine.db.dispose()


def _figures(run_id: int) -> dict[str, object]:
    from d400tui.config import Settings
    from d400tui.domain import model as m
    from d400tui.engine import open_engine

    engine = open_engine(Settings())
    sup = m.Actor("SUPER1", True)
    try:
        p = engine.run_progress(sup, run_id)
        r = engine.run_report(sup, run_id)
    finally:
        asyncio.run(engine.close())
    return {"progress": p, "report": r}


def _start_run(kind: str, concurrency: int) -> int:
    from d400tui.config import Settings
    from d400tui.domain import model as m
    from d400tui.engine import open_engine

    engine = open_engine(Settings())
    sup = m.Actor("SUPER1", True)
    try:
        start = engine.start_capture if kind == "capture" else engine.start_precheck
        return int(start(sup, date.today(), concurrency))
    finally:
        asyncio.run(engine.close())


def run_workers(
    kind: str,
    n: int,
    latency_ms: float,
    concurrency: int,
    counts: list[int],
    pg_url: str,
    history: int = 0,
    naive_s: float = 0.0,
) -> None:
    """Rounds of `kind` (precheck, capture) by k = each of `counts` workers started here as
    `d400 <kind> worker --run ID` (what `--workers N` starts); with `naive_s`, first the naive
    baseline for that many seconds."""
    from d400tui.config import Settings

    home = bench_home(f"workers-{kind}")
    pans = synthetic_cards(home / "cards.csv", min(n, 20000))
    url, template = _database(pg_url)
    bench_env(home, url)
    what = "authorizations" if kind == "precheck" else "captures"
    try:
        t0 = time.perf_counter()
        asyncio.run(_load(n, pans, 64, history, precheck=kind == "capture"))
        issuer = Settings().simulator_path
        print(
            f"{kind} with workers, PostgreSQL: {n} due orders + {history} of history loaded"
            f"{' and pre-checked' if kind == 'capture' else ''} in {time.perf_counter() - t0:.1f} s"
        )
        print(f"  latency {latency_ms:g} ms, concurrency {concurrency} per worker, in-process simulator each")
        if naive_s:
            round_db = f"{template}_naive"
            os.environ["D400_DB_URL"] = _copy(pg_url, template, round_db)
            try:
                _naive(kind, home, issuer, latency_ms, naive_s, what)
            finally:
                os.environ["D400_DB_URL"] = url
                _drop(pg_url, round_db)
        base: float | None = None
        for k in counts:
            round_db = f"{template}_r{k}"
            os.environ["D400_DB_URL"] = _copy(pg_url, template, round_db)
            try:
                base = _round(kind, k, home, issuer, latency_ms, concurrency, what, base)
            finally:
                os.environ["D400_DB_URL"] = url
                _drop(pg_url, round_db)
    finally:
        _drop(pg_url, template)
        shutil.rmtree(home, ignore_errors=True)


def _naive(kind: str, home: Path, issuer: Path, latency_ms: float, seconds: float, what: str) -> None:
    """The classic batch program's pace: one order at a time, one acquirer call after the other
    (here the run at concurrency 1: its answers still written 32 at a time, so a program that
    commits each answer is slower yet). Stopped after `seconds` (at 50 ms a call, 100,000 orders
    would take 1 h 25 min); its rate from what it wrote meanwhile."""
    run_id = _start_run(kind, 1)
    argv = [sys.executable, "-m", "d400tui", kind, "worker", "--run", str(run_id), "--concurrency", "1"]
    own = home / "issuer-naive.db"
    shutil.copyfile(issuer, own)
    env = dict(os.environ, D400_SIMULATOR_LATENCY_MS=str(latency_ms), PYTHONPATH=str(ROOT))
    env["D400_SIMULATOR_DB"] = str(own)
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    proc.kill()
    proc.wait()
    p = _figures(run_id)["progress"]
    done, elapsed = p.done, p.elapsed_s  # type: ignore[attr-defined]
    rate = done / elapsed if elapsed else 0.0
    limit = 1 / (latency_ms / 1000)
    print(
        f"  naive (one at a time): {done} {what} in {elapsed:.1f} s, {rate:7.1f}/s, limit {limit:.0f}/s,"
        f" ratio {rate / limit:.3f} (stopped after {seconds:g} s)"
    )


def _round(
    kind: str, k: int, home: Path, issuer: Path, latency_ms: float, concurrency: int, what: str, base: float | None
) -> float | None:
    ref = reference_loop_ms()
    run_id = _start_run(kind, concurrency)
    argv = [sys.executable, "-m", "d400tui", kind, "worker", "--run", str(run_id)]
    argv += ["--concurrency", str(concurrency), "--json"]
    procs = []
    t0 = time.perf_counter()
    for i in range(k):
        own = home / f"issuer-{k}-{i}.db"
        shutil.copyfile(issuer, own)
        env = dict(os.environ, D400_SIMULATOR_LATENCY_MS=str(latency_ms), PYTHONPATH=str(ROOT))
        env["D400_SIMULATOR_DB"] = str(own)
        procs.append(subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    failed = [p.stderr.read().decode()[-300:] for p in procs if p.wait() and p.stderr]  # type: ignore[union-attr]
    wall = time.perf_counter() - t0
    if failed:
        print(f"  {k} worker(s): failed: {failed}")
        return base
    f = _figures(run_id)
    p, rep = f["progress"], f["report"]
    done = p.done  # type: ignore[attr-defined]
    rate = p.rate  # type: ignore[attr-defined]
    limit = k * concurrency / (latency_ms / 1000)
    base = base or rate
    rss = ", ".join(f"{(w[4] or 0) / 1024:.0f}" for w in rep.workers)  # type: ignore[attr-defined]
    shares = ", ".join(f"{w[1]} at {w[3]:.0f}/s" for w in rep.workers)  # type: ignore[attr-defined]
    lat = rep.latency_ms  # type: ignore[attr-defined]
    print(
        f"  {k} worker(s): {done} {what}, {rate:7.0f}/s while working (wall {wall:.1f} s with"
        f" start-up), limit {limit:.0f}/s, ratio {rate / limit:.3f}, {rate / base:.2f}x one worker"
    )
    print(
        f"      shares [{shares}], max RSS per worker [{rss}] MB, latency p50 {lat.get('p50', 0):.1f}"
        f" p99 {lat.get('p99', 0):.1f} ms, reference loop {ref:.0f} ms, load {os.getloadavg()[0]:.1f}"
    )
    return base
