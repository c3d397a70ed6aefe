"""Runs shared by workers (issue 14.2, 14.7): two worker processes on one run ask each instalment
once and one report sums both; a worker killed (SIGKILL) mid-batch loses its claims after its
lease and another worker sends them again under the same keys (never a second hold); SQLite has
one worker, said in one line; the run report's JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bench.invariants import check_invariants
from d400tui.domain import model as m
from d400tui.store import tables as t
from tests.support import cli
from tests.support.demo import OPER, SUPER, card

ROOT = Path(__file__).resolve().parents[2]
A = ("BON0001", 1)
ORDERS = 12  # 12 monthly instalments each, all due at the run date: 144 authorizations


async def _due(engine, orders: int = ORDERS, pans: tuple[str, ...] = ("4970100000000014",)) -> date:  # type: ignore[no-untyped-def]
    for i in range(orders):
        pan = pans[i % len(pans)]
        r = await engine.place_order(OPER, 100001, [A], card(pan), plan=m.Plan(m.PlanKind.INSTALMENTS, count=12))
        assert r.order.id
    return engine.today() + timedelta(days=340)


def _postgres(engine) -> bool:  # type: ignore[no-untyped-def]
    return engine.db.engine.dialect.name == "postgresql"


def _run_auths(engine, run_id: int) -> list[tuple[int, int, str, str]]:  # type: ignore[no-untyped-def]
    """(authorization id, instalment id, key, state) of the run's authorizations."""
    a, i = t.authorizations, t.instalments
    with engine.db.engine.connect() as c:
        return [
            (r[0], r[1], r[2], r[3])
            for r in c.execute(
                select(a.c.id, a.c.instalment_id, a.c.idempotency_key, a.c.state)
                .join(i, i.c.id == a.c.instalment_id)
                .where(i.c.precheck_run_id == run_id, a.c.kind == "AUTHORIZE", a.c.state != "EXPIRED")
                .where(a.c.state != "VOIDED")
            )
        ]


def _killed_worker(script: str, run_id: int) -> None:
    """`script` run as a worker of `run_id` in a process of its own, which SIGKILLs itself."""
    r = subprocess.run(
        [sys.executable, "-c", script, str(run_id)],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]


def _wait_lost(engine, run_id: int) -> None:  # type: ignore[no-untyped-def]
    """Until the run's one worker lost its lease (the 2 s of the scripts)."""
    for _ in range(100):
        if [w.state for w in engine.run_progress(SUPER, run_id).workers] == ["LOST"]:
            return
        time.sleep(0.1)


def _report(run_id: int) -> dict:  # type: ignore[type-arg]
    r = cli.run(["run", "report", str(run_id), "--json"], env=cli.signed_on("SUPER1"))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


async def test_two_worker_processes_share_a_run_and_one_report_sums_both(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    run_date = await _due(engine)
    args = ["precheck", "--workers", "2", "--date", run_date.isoformat(), "--concurrency", "4", "--json"]
    env = dict(cli.signed_on("SUPER1"), D400_SIMULATOR_LATENCY_MS="100")
    r = cli.run(args, env=env)
    if not _postgres(engine):
        # SQLite: one worker per run, said in one line, nothing started
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and "SQLite" in r.stderr and "PostgreSQL" in r.stderr
        assert engine.last_runs("PRECHECK") == []
        return
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run"]["id"]
    auths = _run_auths(engine, run_id)
    # each of the 144 instalments asked once: one authorization row, one key, one live hold
    assert len(auths) == 12 * ORDERS
    assert len({x[1] for x in auths}) == len(auths) and {x[3] for x in auths} == {"APPROVED"}
    assert len(issuer.live_holds()) == 12 * ORDERS
    await engine.reconcile(SUPER, grace_s=0)  # the voids of the expired first holds
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=True)] == []
    rep = _report(run_id)
    assert rep["outcomes"] == {"APPROVED": 12 * ORDERS} and rep["finished_at"]
    workers = rep["workers"]
    assert len(workers) == 2 and all(w["results"] > 0 for w in workers), workers
    assert sum(w["results"] for w in workers) == 12 * ORDERS
    assert abs(sum(w["share"] for w in workers) - 1) < 0.01
    lat = rep["latency_ms"]
    assert lat["p50"] >= 100 and lat["p50"] <= lat["p95"] <= lat["p99"]  # the simulated 100 ms, at least
    prog = engine.run_progress(SUPER, run_id)
    assert prog.finished and prog.done == 12 * ORDERS == prog.planned
    assert [w.state for w in prog.workers] == ["FINISHED", "FINISHED"]


_KILLED_WORKER = """
import asyncio, os, signal, sys
from d400tui.engine import open_engine, owner
from d400tui.domain import model as m

owner.me.cache_clear()
owner.me = lambda: "elsewhere:4242:1"  # another machine: only its lease tells it is gone

async def main() -> None:
    e = open_engine()
    inner, calls = e.acquirer.authorize, [0]

    async def authorize(source, amount, key):
        answer = await inner(source, amount, key)  # the issuer has made its hold...
        calls[0] += 1
        if calls[0] == 10:
            os.kill(os.getpid(), signal.SIGKILL)  # ...and the worker dies mid-batch, nothing written
        return answer

    e.acquirer.authorize = authorize
    await e.precheck(m.Actor("SUPER1", True), None, 4, None, run_id=int(sys.argv[1]), lease_s=2)

asyncio.run(main())
"""


async def test_a_worker_killed_mid_batch_loses_its_claims_after_its_lease(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    run_date = await _due(engine)
    run_id = engine.start_precheck(SUPER, run_date, 4)
    _killed_worker(_KILLED_WORKER, run_id)
    claimed = {x[0]: x[2] for x in _run_auths(engine, run_id)}
    assert claimed and {x[3] for x in _run_auths(engine, run_id)} == {"REQUESTED"}
    held_before = issuer.hold_keys()
    assert 10 <= len(held_before) < 12 * ORDERS + ORDERS
    if not _postgres(engine):
        # SQLite: one worker at a time, and the dead one's lease still runs
        with pytest.raises(Exception, match="SQLite"):
            await engine.precheck(SUPER, None, 4, run_id=run_id, lease_s=2)
        _wait_lost(engine, run_id)
    run = await engine.precheck(SUPER, None, 4, run_id=run_id, lease_s=2)
    assert run.finished_at is not None and run.approved == 12 * ORDERS
    after = _run_auths(engine, run_id)
    # the dead worker's rows sent again under their keys, the rest claimed afresh: one row and one
    # hold per instalment, the issuer replaying the answers it had given before the kill
    keys = {x[0]: x[2] for x in after}
    assert {k: keys.get(k) for k in claimed} == claimed and {x[3] for x in after} == {"APPROVED"}
    assert len(after) == len({x[1] for x in after}) == 12 * ORDERS
    assert len(issuer.live_holds()) == 12 * ORDERS
    await engine.reconcile(SUPER, grace_s=0)
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=True)] == []
    assert [v for v in check_invariants(engine.db, issuer) if v.kind == "double-hold"] == []
    prog = engine.run_progress(SUPER, run_id)
    assert [w.state for w in prog.workers] == ["LOST", "FINISHED"]
    rep = _report(run_id)
    assert rep["outcomes"] == {"APPROVED": 12 * ORDERS}
    (mine,) = [w for w in rep["workers"] if w["results"]]
    assert mine["results"] == 12 * ORDERS and mine["worker"] != "elsewhere:4242:1"


async def test_run_report_json_and_csv(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    # approved, refused 51 (insufficient funds), refused 05 (do not honour): 12 instalments each
    run_date = await _due(engine, 3, ("4970100000000014", "4970100000000055", "4970100000000063"))
    r = cli.run(["precheck", "--date", run_date.isoformat(), "--concurrency", "4"], env=cli.signed_on("SUPER1"))
    assert r.returncode == 0, r.stderr
    (run,) = engine.last_runs("PRECHECK")
    rep = _report(run.id)
    assert rep["run"] == run.id and rep["kind"] == "PRECHECK" and rep["run_date"] == run_date.isoformat()
    outcomes = rep["outcomes"]
    assert sum(outcomes.values()) == 36 and outcomes["APPROVED"] >= 12
    refusals = {(x["category"], x["code"]): x["count"] for x in rep["refusals"]}
    assert sum(refusals.values()) == 36 - outcomes["APPROVED"]
    assert refusals.get(("CEILING", "51")) == 12 and any(code == "05" for _, code in refusals)
    assert set(rep["latency_ms"]) == {"p50", "p95", "p99"}
    assert rep["duration_s"] >= 0 and rep["planned"] == 36
    (w,) = rep["workers"]
    assert w["results"] == 36 and w["share"] == 1.0
    c = cli.run(["run", "report", str(run.id), "--csv"], env=cli.signed_on("SUPER1"))
    assert c.returncode == 0, c.stderr
    rows = list(csv.reader(io.StringIO(c.stdout)))
    assert rows[0] == ["section", "key", "value"]
    got = Counter()
    for section, key, value in rows[1:]:
        got[section] += 1
        if section == "outcome":
            assert int(value) == outcomes[key]
        if section == "refusal":
            _, category, code = key.split("/")
            assert int(value) == refusals[(category, code)]
    assert got["outcome"] == len(outcomes) and got["latency_ms"] == 3 and got["worker_share"] == 1
    text = cli.run(["run", "report", str(run.id)], env=cli.signed_on("SUPER1"))
    assert "p95" in text.stdout and "CEILING 51: 12" in text.stdout
    both = cli.run(["run", "report", str(run.id), "--json", "--csv"], env=cli.signed_on("SUPER1"))
    assert both.returncode == 2 and both.stderr.count("\n") == 1
    unknown = cli.run(["run", "report", "999999"], env=cli.signed_on("SUPER1"))
    assert unknown.returncode == 2 and "999999" in unknown.stderr and unknown.stderr.count("\n") == 1
    oper = cli.run(["run", "report", str(run.id)], env=cli.signed_on("OPER1"))
    assert oper.returncode == 2 and "supervis" in oper.stderr


async def test_a_worker_back_after_losing_its_lease_writes_nothing_twice(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    """A worker paused (SIGSTOP: a frozen VM, a lost network) past its lease: another takes its
    claims over; resumed, its answers for those rows are dropped — one result per instalment.
    PostgreSQL: on SQLite a frozen process may hold the one write lock, and every writer waits."""
    if not _postgres(engine):
        pytest.skip("a worker on another machine coming back: PostgreSQL (SQLite has one worker)")
    run_date = await _due(engine, 4)
    run_id = engine.start_precheck(SUPER, run_date, 4)
    script = _KILLED_WORKER.replace("signal.SIGKILL", "signal.SIGSTOP")
    # Frozen inside a claim's transaction, it would hold those orders' locks for as long as it is
    # stopped: the server ends such a session after D400_DB_IDLE_TRANSACTION_TIMEOUT_S (60 s by
    # default; 3 s here), and the worker, resumed, claims again on a new connection.
    env = dict(os.environ, D400_DB_IDLE_TRANSACTION_TIMEOUT_S="3")
    paused = subprocess.Popen([sys.executable, "-c", script, str(run_id)], cwd=ROOT, env=env)
    try:
        for _ in range(600):  # until it stopped itself, holds made and nothing written
            with open(f"/proc/{paused.pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "T":
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("the worker never paused")
        _wait_lost(engine, run_id)
        run = await engine.precheck(SUPER, None, 4, run_id=run_id, lease_s=2)
        assert run.finished_at is not None
        paused.send_signal(signal.SIGCONT)
        assert paused.wait(timeout=60) == 0
    finally:
        if paused.poll() is None:
            paused.kill()
    results = engine.run_results(run_id)
    assert len(results) == 48 == len({(r.order_id, r.instalment_seq) for r in results})
    assert {r.outcome for r in results} == {"APPROVED"}
    assert len(issuer.live_holds()) == 48
    await engine.reconcile(SUPER, grace_s=0)
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=True)] == []
    rep = _report(run_id)
    assert rep["outcomes"] == {"APPROVED": 48} and sum(w["results"] for w in rep["workers"]) == 48


_DIES_AFTER_A_BATCH = """
import asyncio, os, signal, sys
from d400tui.engine import open_engine, owner, precheck
from d400tui.domain import model as m

owner.me.cache_clear()
owner.me = lambda: "elsewhere:4343:1"
flush = precheck.Precheck._flush

written = [0]

def flush_then_die(self, run_id, batch, *args, **kw):
    flush(self, run_id, batch, *args, **kw)  # batches of answers committed...
    written[0] += len(batch)
    if written[0] >= 32:  # (a loaded machine flushes smaller batches: 16 seen)
        os.kill(os.getpid(), signal.SIGKILL)  # ...and the worker's machine is gone

precheck.Precheck._flush = flush_then_die

async def main() -> None:
    e = open_engine()
    await e.precheck(m.Actor("SUPER1", True), None, 4, None, run_id=int(sys.argv[1]), lease_s=2)

asyncio.run(main())
"""


async def test_a_run_whose_workers_all_lost_their_lease_frees_what_it_tried(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    """A run never ended whose every worker lost its lease is dead: a new run asks again what it
    was refused, without waiting the 2 hours an unfinished run without workers is given."""
    run_date = await _due(engine, 4, ("4970100000000055",))  # insufficient funds: refused 51
    dead = engine.start_precheck(SUPER, run_date, 4)
    _killed_worker(_DIES_AFTER_A_BATCH, dead)
    tried = {(x.order_id, x.instalment_seq) for x in engine.run_results(dead) if x.outcome == "REFUSED"}
    assert len(tried) >= 32
    _wait_lost(engine, dead)
    # said stopped, its time no longer growing (it read "unfinished, 237 s … 247 s" forever)
    first = engine.run_report(SUPER, dead)
    time.sleep(1.1)
    again = engine.run_report(SUPER, dead)
    assert first.stopped and again.stopped and again.duration_s == first.duration_s
    assert engine.run_progress(SUPER, dead).eta_s is None
    run = await engine.precheck(SUPER, run_date, 4)
    again = {(x.order_id, x.instalment_seq) for x in engine.run_results(run.id)}
    assert tried <= again  # asked again: the dead run holds nothing any more
    assert engine.last_runs("PRECHECK")[1].finished_at is None  # the dead run stays as it died


async def test_a_batch_write_that_fails_fails_the_run(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A written batch is let go as the run goes on (memory flat whatever is due), a failed one
    is kept: the run ends with its error, never as if the batch had been written."""
    from d400tui.engine import precheck

    run_date = await _due(engine, 40)
    flush, calls = precheck.Precheck._flush, [0]

    def first_fails(self, *args, **kw):  # type: ignore[no-untyped-def]
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("disk gone")
        return flush(self, *args, **kw)

    monkeypatch.setattr(precheck.Precheck, "_flush", first_fails)
    with pytest.raises(RuntimeError, match="disk gone"):
        await engine.precheck(SUPER, run_date, 4)
    assert calls[0] >= 2  # the other batches were written meanwhile
