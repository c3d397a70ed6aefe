"""Orders shipped in parcels captured by the batched capture run (issues 12.1 and 14.1), SQLite and
PostgreSQL: claims of N instalments taking parcels beside whole instalments, each parcel's capture
row committed before its call; a run twice captures once; two runs at once capture each parcel once;
a kill -9 mid-batch leaves rows the reconciler settles; with `--workers 2` (PostgreSQL) any worker
takes shipped orders, and a lost worker's parcels are sent again under their own keys."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from bench.invariants import check_invariants
from d400tui.domain import model as m
from d400tui.engine import USER_ERRORS
from d400tui.store import shipments as store
from tests.integration.test_capture_batch import _KILL_MID_BATCH as _KILL_WHOLE
from tests.integration.test_capture_workers import _KILLED_CAPTURE_WORKER as _KILLED_WHOLE_WORKER
from tests.integration.test_run_workers import _killed_worker, _wait_lost
from tests.support import cli
from tests.support.demo import OPER, SUPER, card
from tests.support.races import Racer, close, other_engine

ROOT = Path(__file__).resolve().parents[2]
D = Decimal
LINES = [("BON0001", 2), ("GRI0002", 1), ("RID0003", 1)]  # 143.98 + 59.94 + 95.99 = 299.91
FIRST, REST = [("BON0001", 2)], [("GRI0002", 1), ("RID0003", 1)]
PANS = ("4970100000000014", "5130100000000018")  # two cards: their 30-day ceilings hold the orders


async def _shipped(engine, n: int, whole: int = 0, lines=LINES, first=FIRST) -> tuple[list[int], list[int]]:  # type: ignore[no-untyped-def]
    """n orders whose first line shipped (a parcel before the last), `whole` never shipped."""
    shipped, kept = [], []
    for k in range(n + whole):
        r = await engine.place_order(OPER, 100001 + k % 50, lines, card(PANS[k % 2]))
        assert r.approved
        if k < n:
            engine.ship(OPER, r.order.id, first)
            shipped.append(r.order.id)
        else:
            kept.append(r.order.id)
    return shipped, kept


def _caps(engine, oid: int) -> list:  # type: ignore[no-untyped-def]
    with engine.db.uow() as uow:
        return store.captures_of(uow.session, oid)


def _ops(issuer) -> list[tuple[str, str, int]]:  # type: ignore[no-untyped-def]
    """(key, kind, cents) of every capture the issuer performed (a replay is not a new one)."""
    with issuer._lock:
        q = "SELECT key, kind, amount_cents FROM ops WHERE kind IN ('CAPTURE', 'CAPTURE_PART') AND outcome='CAPTURED'"
        return [tuple(r) for r in issuer.db.execute(q)]


def _settled(engine, issuer, oids: list[int]) -> None:  # type: ignore[no-untyped-def]
    """Each order captured for its total exactly, in two parcels under two keys, nothing held."""
    for oid in oids:
        order = engine.get_order(oid)
        assert order.status is m.OrderStatus.INVOICED, (oid, order.status)
        caps = [c for c in _caps(engine, oid) if c.state.value == "CAPTURED"]
        assert sum(c.amount for c in caps) == order.total == order.authorizations[0].captured_amount
        assert not order.authorizations[0].capture_pending
    ops = _ops(issuer)
    assert len(ops) == len({k for k, _, _ in ops}) == 2 * len(oids)
    assert sum(c for _, _, c in ops) == 29991 * len(oids) and issuer.live_holds() == {}
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=True)] == []


async def test_parcels_are_claimed_with_whole_instalments_and_captured_once(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    shipped, whole = await _shipped(engine, 10, whole=4)
    first = await engine.capture(SUPER, engine.today(), concurrency=4)
    assert (first.selected, first.approved, first.refused, first.unavailable) == (14, 14, 0, 0)
    lines = {r.order_id: r for r in engine.run_results(first.id)}
    assert {lines[o].amount for o in shipped} == {D("143.98")} and {lines[o].amount for o in whole} == {D("299.91")}
    for oid in shipped:  # one row, committed with the claim, answered in a batch; the rest still held
        (cap,) = _caps(engine, oid)
        assert (cap.state.value, cap.amount, cap.operation) == ("CAPTURED", D("143.98"), "partial")
        order = engine.get_order(oid)
        assert order.status is m.OrderStatus.VALIDATED and order.authorizations[0].state is m.AuthState.APPROVED
        assert order.authorizations[0].capture_run_id == first.id and not order.instalments[0].auth_pending
    assert sorted(issuer.live_holds().values()) == [15593] * 10

    again = await engine.capture(SUPER, engine.today(), concurrency=4)  # nothing more shipped
    assert again.approved == 0 and all(len(_caps(engine, o)) == 1 for o in shipped)
    assert len(_ops(issuer)) == 14

    for oid in shipped:
        engine.ship(OPER, oid, REST)  # the last parcel
    last = await engine.capture(SUPER, engine.today(), concurrency=4)
    assert last.approved == 10
    rerun = await engine.capture(SUPER, engine.today(), concurrency=4)  # a capture run twice captures once
    assert (rerun.selected, rerun.approved) == (0, 0)
    ops = [o for o in _ops(issuer) if o[1] != "CAPTURE" or o[2] != 29991]  # the whole ones aside
    assert sorted(c for _, _, c in ops) == [14398] * 10 + [15593] * 10
    assert len({k for k, _, _ in _ops(issuer)}) == 24 and issuer.live_holds() == {}
    trail = [r for r in engine.audit_trail(SUPER, limit=200) if r["action"] == "CAPTURE"]
    assert sum('"operation": "partial"' in r["detail"] for r in trail) == 10  # the first parcels
    assert sum('"operation": "final"' in r["detail"] for r in trail) == 10  # nothing left to release
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=True)] == []


async def test_a_short_last_parcel_and_final_alone_release_the_rest_in_a_batch(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    shipped, _ = await _shipped(engine, 4)
    await engine.capture(SUPER, engine.today(), concurrency=2)
    engine.ship(OPER, shipped[0], [("GRI0002", 1)], final=True)  # RID0003 never ships
    engine.ship(OPER, shipped[1], [], final=True)  # nothing more ships
    run = await engine.capture(SUPER, engine.today(), concurrency=2)
    # a release alone captures nothing: counted released, not skipped (issue 12)
    assert (run.approved, run.skipped, run.released, run.selected) == (1, 2, 1, 4)
    assert engine.run_report(SUPER, run.id).outcomes == {"CAPTURED": 1, "RELEASED": 1, "SKIPPED": 2}
    reasons = {r.order_id: r.reason for r in engine.run_results(run.id)}
    assert {reasons[o].key for o in shipped[2:]} == {"engine.ship_nothing_due"}  # nothing more shipped
    assert reasons[shipped[0]].key == "engine.ship_released" and str(reasons[shipped[0]].params["amount"]) == "95.99"
    assert reasons[shipped[1]].key == "engine.ship_released" and str(reasons[shipped[1]].params["amount"]) == "155.93"
    for oid, total in ((shipped[0], D("203.92")), (shipped[1], D("143.98"))):
        order = engine.get_order(oid)
        assert order.status is m.OrderStatus.INVOICED and order.instalments[0].state is m.InstalmentState.CAPTURED
        assert (order.authorizations[0].state, order.authorizations[0].captured_amount) == (m.AuthState.CAPTURED, total)
    assert sorted(issuer.live_holds().values()) == [15593, 15593]  # the two not closed keep their rest
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=False)] == []


async def test_a_parcel_above_what_remains_authorized_is_refused_by_the_claim(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    (oid,), _ = await _shipped(engine, 1)
    with engine.db.uow() as uow:  # the hold shrank elsewhere: what shipped is now above what is left
        o = uow.orders.get(oid)
        o.authorizations[0].captured_amount = D("200.00")
        uow.commit()
    run = await engine.capture(SUPER, engine.today())
    assert (run.approved, run.refused) == (0, 1)
    (line,) = engine.run_results(run.id)
    assert line.reason.key == "engine.capture_over_left" and _caps(engine, oid) == [] and _ops(issuer) == []
    assert [r["order_id"] for r in engine.audit_trail(SUPER, limit=50) if r["action"] == "CAPTURE_REFUSED"] == [oid]


async def test_two_capture_runs_at_once_capture_each_parcel_once(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    shipped, _ = await _shipped(engine, 16)
    for last in (False, True):
        other = other_engine(engine)
        engine.acquirer.latency_s = other.acquirer.latency_s = 0.01  # type: ignore[attr-defined]
        racer = Racer(lambda: other.capture(SUPER, engine.today(), concurrency=3))  # noqa: B023
        try:
            racer.start()
            mine = await engine.capture(SUPER, engine.today(), concurrency=3)
            theirs = racer.outcome()
        finally:
            close(other)
        assert not isinstance(theirs, Exception), theirs
        assert mine.approved + theirs.approved == 16
        if not last:
            for oid in shipped:
                engine.ship(OPER, oid, REST)
    _settled(engine, issuer, shipped)


# the whole-capture tests' scripts, the parcel's call killed instead
_KILL_MID_BATCH = _KILL_WHOLE.replace("e.acquirer.capture", "e.acquirer.capture_partial")


async def test_a_kill_mid_batch_leaves_parcels_the_reconciler_settles(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    shipped, _ = await _shipped(engine, 12)
    r = subprocess.run(
        [sys.executable, "-c", _KILL_MID_BATCH, engine.today().isoformat(), "5"],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    with engine.db.engine.connect() as conn:  # their rows committed with the claim, before any call
        rows = conn.execute(text("SELECT count(*) FROM captures WHERE state = 'REQUESTED'")).scalar()
    assert rows is not None and rows >= 5 and len(_ops(issuer)) >= 5
    found = check_invariants(engine.db, issuer, settled=False)
    assert [v for v in found if v.kind in ("unknown-hold", "over-capture", "double-capture")] == []
    pending = [o for o in shipped if engine.get_order(o).authorizations[0].capture_pending]
    try:
        await engine.cancel_order(OPER, pending[0], "client rappelle")
        raise AssertionError("cancelled while a parcel's capture was in flight")
    except USER_ERRORS:
        pass
    report = await engine.reconcile(SUPER)  # the sender is dead (same machine): settled now
    assert report.still_unknown == [], report.lines
    taken = {k for k, _, _ in _ops(issuer)}
    claimed = 0
    for oid in shipped:  # what the issuer took is recorded once; what it never got is refused
        caps = _caps(engine, oid)
        assert len(caps) <= 1  # one row each, if its claim was committed before the kill
        for cap in caps:
            claimed += 1
            assert cap.state.value == ("CAPTURED" if cap.idempotency_key in taken else "REFUSED")
    assert claimed >= len(taken) >= 5
    rerun = await engine.capture(SUPER, engine.today())
    assert rerun.approved == 12 - len(taken)  # the rest, under new keys; none sent twice
    for oid in shipped:
        engine.ship(OPER, oid, REST)
    await engine.capture(SUPER, engine.today())
    _settled(engine, issuer, shipped)


async def test_two_capture_workers_share_shipped_orders(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    """With --workers 2 (PostgreSQL) shipped orders are claimed by either worker, each once."""
    shipped, whole = await _shipped(engine, 40, 10, [("BON0001", 1), ("GRI0002", 1)], [("BON0001", 1)])
    args = ["capture", "--workers", "2", "--concurrency", "4", "--json"]
    r = cli.run(args, env=dict(cli.signed_on("SUPER1"), D400_SIMULATOR_LATENCY_MS="100"))
    if engine.db.engine.dialect.name != "postgresql":
        assert r.returncode == 2 and r.stdout == "" and "SQLite" in r.stderr
        return
    assert r.returncode == 0, r.stderr
    run_id = json.loads(r.stdout)["run"]["id"]
    results = engine.run_results(run_id)
    assert len(results) == 50 == len({r.order_id for r in results}) and {r.outcome for r in results} == {"CAPTURED"}
    by_worker: dict[str, set[int]] = {}
    for x in results:
        if x.order_id in shipped:
            by_worker.setdefault(x.worker or "", set()).add(x.order_id)
    assert len(by_worker) == 2, by_worker  # both workers captured parcels
    assert all(len(_caps(engine, o)) == 1 for o in shipped)
    assert len(_ops(issuer)) == len({k for k, _, _ in _ops(issuer)}) == 50
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=False)] == []


_KILLED_WORKER = _KILLED_WHOLE_WORKER.replace("e.acquirer.capture", "e.acquirer.capture_partial")


async def test_a_lost_workers_parcels_are_sent_again_under_their_keys(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    shipped, _ = await _shipped(engine, 12)
    run_id = engine.start_capture(SUPER, engine.today(), 4)
    _killed_worker(_KILLED_WORKER, run_id)
    before = {k for k, _, _ in _ops(issuer)}
    assert len(before) >= 3
    _wait_lost(engine, run_id)
    run = await engine.capture(SUPER, None, 4, run_id=run_id, lease_s=2)
    assert run.finished_at is not None and run.approved == 12
    ops = _ops(issuer)
    assert len(ops) == len({k for k, _, _ in ops}) == 12 and before <= {k for k, _, _ in ops}
    assert {c for _, _, c in ops} == {14398}  # each sent again as the parcel it was, never whole
    for oid in shipped:
        (cap,) = _caps(engine, oid)
        assert cap.state.value == "CAPTURED" and cap.amount == D("143.98")
        assert engine.get_order(oid).authorizations[0].captured_amount == D("143.98")
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=False)] == []


async def test_the_batch_and_one_instalment_on_its_own_capture_alike(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    """Twin orders in 3 instalments, shipped alike: one captured by the run, the other by
    capture_shipped — the same rows, amounts, operations and states. What shipped covers the first
    instalment (its last capture: the hold closed), the other two wait for their dates."""
    plan = m.Plan(m.PlanKind.INSTALMENTS, count=3)
    twins = []
    for pan in PANS:
        r = await engine.place_order(OPER, 100001, LINES, card(pan), plan=plan)
        assert r.approved
        engine.ship(OPER, r.order.id, FIRST)  # 143.98 shipped: instalment 1 (99.97) covered
        twins.append(r.order.id)
        if len(twins) == 1:
            run = await engine.capture(SUPER, engine.today())  # the second twin is placed after it
            assert (run.selected, run.approved) == (1, 1)
    alone = await engine.capture_shipped(SUPER, twins[1], 1)
    assert (alone[0], alone[1]) == ("CAPTURED", D("99.97"))

    def seen(oid: int) -> tuple:  # type: ignore[type-arg]
        o = engine.get_order(oid)
        caps = [(c.instalment_seq, c.amount, c.operation, c.state.value, c.release) for c in _caps(engine, oid)]
        auths = [(a.state, a.captured_amount, a.capture_pending) for a in o.authorizations]
        return o.status, [i.state for i in o.instalments], caps, auths

    assert seen(twins[0]) == seen(twins[1])
    status, states, caps, _ = seen(twins[0])
    assert status is m.OrderStatus.VALIDATED and states[0] is m.InstalmentState.CAPTURED
    assert states[1:] == [m.InstalmentState.PENDING] * 2 and caps == [(1, D("99.97"), "final", "CAPTURED", D("0.00"))]
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=False)] == []
