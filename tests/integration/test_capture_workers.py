"""Capture runs shared by workers (issue 14.2 on the capture of 14.1): two worker processes on one
run capture each instalment once and one report sums both; a worker killed (SIGKILL) with captures
made at the issuer and none written loses them after its lease, and another sends them again
under the same keys: captured once each."""

from __future__ import annotations

import json
from pathlib import Path

from bench.invariants import check_invariants
from d400tui.domain import model as m
from tests.integration.test_capture_batch import _capture_ops, _orders
from tests.integration.test_run_workers import _killed_worker, _wait_lost
from tests.support import cli
from tests.support.demo import SUPER

ROOT = Path(__file__).resolve().parents[2]
A = ("BON0001", 1)


def _invoiced(engine, oids: list[int]) -> bool:  # type: ignore[no-untyped-def]
    return {engine.get_order(o).status for o in oids} == {m.OrderStatus.INVOICED}


async def test_two_capture_workers_capture_each_once_and_one_report_sums_both(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    oids = await _orders(engine, 60)
    args = ["capture", "--workers", "2", "--concurrency", "4", "--json"]
    r = cli.run(args, env=dict(cli.signed_on("SUPER1"), D400_SIMULATOR_LATENCY_MS="100"))
    if engine.db.engine.dialect.name != "postgresql":
        assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and "SQLite" in r.stderr
        return
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run"]["id"]
    ops = _capture_ops(issuer)
    assert len(ops) == len(set(ops)) == 60 and _invoiced(engine, oids)
    rep = cli.run(["run", "report", str(run_id), "--json"], env=cli.signed_on("SUPER1"))
    d = json.loads(rep.stdout)
    assert d["kind"] == "CAPTURE" and d["outcomes"] == {"CAPTURED": 60} and d["finished_at"]
    assert len(d["workers"]) == 2 and all(w["results"] > 0 for w in d["workers"]), d["workers"]
    assert sum(w["results"] for w in d["workers"]) == 60
    assert d["latency_ms"]["p50"] >= 100  # the simulated latency, at least
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=True)] == []


_KILLED_CAPTURE_WORKER = """
import asyncio, os, signal, sys
from d400tui.engine import open_engine, owner
from d400tui.domain import model as m

owner.me.cache_clear()
owner.me = lambda: "elsewhere:4444:1"  # another machine: only its lease tells it is gone

async def main() -> None:
    e = open_engine()
    inner, calls = e.acquirer.capture, [0]

    async def capture(reference, amount, key):
        answer = await inner(reference, amount, key)  # the issuer has captured...
        calls[0] += 1
        if calls[0] == 3:
            os.kill(os.getpid(), signal.SIGKILL)  # ...and the worker dies, nothing written
        return answer

    e.acquirer.capture = capture
    await e.capture(m.Actor("SUPER1", True), None, 4, None, run_id=int(sys.argv[1]), lease_s=2)

asyncio.run(main())
"""


async def test_a_capture_worker_killed_mid_batch_is_taken_over_after_its_lease(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    oids = await _orders(engine, 12)
    run_id = engine.start_capture(SUPER, engine.today(), 4)
    _killed_worker(_KILLED_CAPTURE_WORKER, run_id)
    in_flight = {a.id for o in oids for a in engine.get_order(o).authorizations if a.capture_pending}
    before = set(_capture_ops(issuer))
    assert in_flight and len(before) >= 3
    _wait_lost(engine, run_id)  # SQLite: one worker at a time
    run = await engine.capture(SUPER, None, 4, run_id=run_id, lease_s=2)
    assert run.finished_at is not None and run.approved == 12
    ops = _capture_ops(issuer)
    assert len(ops) == len(set(ops)) == 12 and before <= set(ops)  # the replays made no new capture
    assert _invoiced(engine, oids)
    assert all(not a.capture_pending for o in oids for a in engine.get_order(o).authorizations)
    results = engine.run_results(run_id)
    assert len(results) == 12 == len({r.order_id for r in results}) and {r.outcome for r in results} == {"CAPTURED"}
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=True)] == []
    assert [w.state for w in engine.run_progress(SUPER, run_id).workers] == ["LOST", "FINISHED"]
