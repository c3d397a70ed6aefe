"""The pre-check shared by 1, 2, 4 … worker processes on PostgreSQL (issue 14.2): the same due
orders pre-checked once per worker count through the real `d400 precheck --workers N`, each
worker with its own in-process simulator (the issuer's state file shared), and for each count the
authorizations per second while the workers worked (first join to last leave, from run_workers),
the ratio to workers × concurrency ÷ latency, wall time including process start, and each
worker's peak RSS as it reported it."""

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


async def _load(n: int, pans: list[str], concurrency: int) -> None:
    from d400tui.config import Settings
    from d400tui.engine import open_engine
    from d400tui.engine.bootstrap import open_database
    from d400tui.engine.demo import generate_orders, seed_demo_operators

    db = open_database(Settings())
    seed_demo_operators(db)
    engine = open_engine(Settings(), db=db)
    generate_orders(engine.db, n, await tokens(engine.acquirer, pans, concurrency), date.today(), all_due=True)
    await engine.close()


def _reset() -> None:
    """Every due instalment back to needing an authorization, statistics fresh (the same work per round)."""
    from sqlalchemy import text

    from d400tui.config import Settings
    from d400tui.engine.bootstrap import open_database

    db = open_database(Settings(), migrate=False)
    with db.engine.begin() as c:
        c.execute(text("UPDATE instalments SET authorized_until = NULL, auth_pending = false, precheck_run_id = NULL"))
        c.execute(text("ANALYZE"))
    db.dispose()


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


def _start_run(concurrency: int) -> int:
    from d400tui.config import Settings
    from d400tui.domain import model as m
    from d400tui.engine import open_engine

    engine = open_engine(Settings())
    try:
        return int(engine.start_precheck(m.Actor("SUPER1", True), date.today(), concurrency))
    finally:
        asyncio.run(engine.close())


def precheck_workers(n: int, latency_ms: float, concurrency: int, counts: list[int], pg_url: str) -> None:
    """Workers started here as `d400 precheck worker --run ID` (what `--workers N` starts), each
    with its own copy of the simulated issuer's state (a machine with its own acquirer link): one
    SQLite state file written by every worker measured the file's lock, not the run."""
    from d400tui.config import Settings

    home = bench_home("workers")
    pans = synthetic_cards(home / "cards.csv", min(n, 20000))
    url, name = _database(pg_url)
    bench_env(home, url)
    try:
        t0 = time.perf_counter()
        asyncio.run(_load(n, pans, 64))
        issuer = Settings().simulator_path
        print(f"pre-check with workers, PostgreSQL: {n} due orders loaded in {time.perf_counter() - t0:.1f} s")
        print(f"  latency {latency_ms:g} ms, concurrency {concurrency} per worker, in-process simulator each")
        base: float | None = None
        for k in counts:
            _reset()
            ref = reference_loop_ms()
            run_id = _start_run(concurrency)
            argv = [sys.executable, "-m", "d400tui", "precheck", "worker", "--run", str(run_id)]
            argv += ["--concurrency", str(concurrency), "--json"]
            procs = []
            t0 = time.perf_counter()
            for i in range(k):
                own = home / f"issuer-{k}-{i}.db"
                shutil.copyfile(issuer, own)
                env = dict(os.environ, D400_SIMULATOR_LATENCY_MS=str(latency_ms), PYTHONPATH=str(ROOT))
                env["D400_SIMULATOR_DB"] = str(own)
                procs.append(
                    subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                )
            failed = [p.stderr.read().decode()[-300:] for p in procs if p.wait() and p.stderr]  # type: ignore[union-attr]
            wall = time.perf_counter() - t0
            if failed:
                print(f"  {k} worker(s): failed: {failed}")
                continue
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
                f"  {k} worker(s): {done} authorizations, {rate:7.0f}/s while working (wall {wall:.1f} s with"
                f" start-up), limit {limit:.0f}/s, ratio {rate / limit:.3f}, {rate / base:.2f}x one worker"
            )
            print(
                f"      shares [{shares}], max RSS per worker [{rss}] MB, latency p50 {lat.get('p50', 0):.1f}"
                f" p99 {lat.get('p99', 0):.1f} ms, reference loop {ref:.0f} ms"
            )
    finally:
        _drop(pg_url, name)
        shutil.rmtree(home, ignore_errors=True)
