"""Issue 14 point 1: the capture run in batches — claims of N instalments, calls in flight, answers
written in batches — keeps the rules of the one-at-a-time run: never above the authorization, never
twice (a rerun, two runs at once), and a kill -9 mid-batch leaves rows the reconciler settles."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from bench.invariants import check_invariants
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.engine.capture import Capture, capture_window
from d400tui.store import capture_batch
from tests.support.demo import OPER, SUPER, card
from tests.support.races import Racer, close, other_engine

ROOT = Path(__file__).resolve().parents[2]
A = ("BON0001", 1)


async def _orders(engine, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    out = []
    for k in range(n):
        r = await engine.place_order(OPER, 100001 + k % 50, [A], card("4970100000000014"))
        assert r.approved
        out.append(r.order.id)
    return out


def _captured(issuer) -> list[tuple[str, str, int, int]]:  # type: ignore[no-untyped-def]
    return [h for h in issuer.holds() if h[1] == "CAPTURED"]


def _capture_ops(issuer) -> list[str]:  # type: ignore[no-untyped-def]
    """Keys of the captures the issuer performed (a retry under the same key is not a new one)."""
    with issuer._lock:
        return [r[0] for r in issuer.db.execute("SELECT key FROM ops WHERE kind='CAPTURE' AND outcome='CAPTURED'")]


async def test_a_batch_is_captured_each_once_with_its_run_and_sender_recorded(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    oids = await _orders(engine, 30)
    seen: list[tuple[int, int]] = []
    run = await Capture(engine).run(
        SUPER, engine.today(), concurrency=4, progress=lambda d, t: seen.append((d, t)), claim_size=8
    )
    assert (run.selected, run.approved, run.skipped, run.refused) == (30, 30, 0, 0)
    assert seen[-1] == (30, 30) and all(d <= t for d, t in seen)
    results = engine.run_results(run.id)
    assert sorted(r.order_id for r in results) == oids and {r.outcome for r in results} == {"CAPTURED"}
    for oid in oids:
        order = engine.get_order(oid)
        (auth,) = order.authorizations
        assert order.status is m.OrderStatus.INVOICED
        assert (auth.state, auth.capture_pending, auth.owner) == (m.AuthState.CAPTURED, False, None)
        assert auth.captured_amount == order.total and auth.capture_run_id == run.id
        assert order.instalments[0].capture_run_id == run.id and not order.instalments[0].auth_pending
    assert len(_captured(issuer)) == 30 and len(set(_capture_ops(issuer))) == 30
    trail = [r for r in engine.audit_trail(m.Actor("SUPER1", True), limit=100) if r["action"] == "CAPTURE"]
    assert len(trail) == 30 and all('"order_status": "INVOICED"' in r["detail"] for r in trail)


async def test_a_capture_run_twice_captures_once(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    await _orders(engine, 6)
    first = await engine.capture(SUPER, engine.today(), concurrency=2)
    again = await engine.capture(SUPER, engine.today(), concurrency=2)
    assert (first.approved, again.selected, again.approved) == (6, 0, 0)
    assert len(_captured(issuer)) == 6 and len(_capture_ops(issuer)) == 6


async def test_two_capture_runs_at_once_capture_each_instalment_once(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    oids = await _orders(engine, 24)
    other = other_engine(engine)
    engine.acquirer.latency_s = other.acquirer.latency_s = 0.01  # type: ignore[attr-defined]
    racer = Racer(lambda: other.capture(SUPER, engine.today(), concurrency=3))
    try:
        racer.start()
        mine = await engine.capture(SUPER, engine.today(), concurrency=3)
        theirs = racer.outcome()
    finally:
        close(other)
    assert not isinstance(theirs, Exception), theirs
    assert mine.approved + theirs.approved == 24
    for run in (mine, theirs):
        assert run.finished_at and run.selected == run.approved + run.skipped + run.refused + run.unavailable
        assert len(engine.run_results(run.id)) == run.selected
    assert len(_captured(issuer)) == 24 and len(set(_capture_ops(issuer))) == len(_capture_ops(issuer)) == 24
    assert {engine.get_order(o).status for o in oids} == {m.OrderStatus.INVOICED}


async def test_a_capture_is_never_above_the_authorization(engine, issuer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Whatever the amount store says (shipments will compute it), the domain's rule refuses more
    than the authorization holds: refused, audited, never sent."""
    oids = await _orders(engine, 3)
    amounts = capture_batch.capturable_amounts

    def too_much(session, inst_ids, *read):  # type: ignore[no-untyped-def]
        got = amounts(session, inst_ids, *read)
        first = engine.get_order(oids[0]).instalments[0].id
        return {k: v + Decimal("0.01") if k == first else v for k, v in got.items()}

    monkeypatch.setattr(capture_batch, "capturable_amounts", too_much)
    run = await engine.capture(SUPER, engine.today())
    assert (run.approved, run.refused) == (2, 1)
    (refused,) = engine.run_results(run.id, outcome="REFUSED")
    assert refused.order_id == oids[0] and "supérieure" in str(refused.reason)
    order = engine.get_order(oids[0])
    assert order.status is m.OrderStatus.VALIDATED and order.authorizations[0].state is m.AuthState.APPROVED
    assert not order.authorizations[0].capture_pending and order.authorizations[0].captured_amount == 0
    assert len(issuer.live_holds()) == 1 and len(_captured(issuer)) == 2
    trail = engine.audit_trail(m.Actor("SUPER1", True), limit=50)
    assert [r["order_id"] for r in trail if r["action"] == "CAPTURE_REFUSED"] == [oids[0]]


async def test_a_path_that_fails_is_left_to_the_reconciler_then_captured_once(engine, issuer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    oids = await _orders(engine, 3)
    send = Capture._send

    async def failing(self, sent):  # type: ignore[no-untyped-def]
        if sent.cand.order_id == oids[1]:
            raise m.DomainError("engine.capture_zero")
        return await send(self, sent)

    monkeypatch.setattr(Capture, "_send", failing)
    run = await engine.capture(SUPER, engine.today())
    assert (run.approved, run.skipped) == (2, 1)
    (auth,) = engine.get_order(oids[1]).authorizations
    assert auth.capture_pending and auth.owner is None  # the reconciler need not wait for this process
    monkeypatch.undo()
    report = await engine.reconcile(SUPER)
    assert report.still_unknown == [], report.lines
    assert not engine.get_order(oids[1]).authorizations[0].capture_pending
    again = await engine.capture(SUPER, engine.today())
    assert again.approved == 1
    assert len(_captured(issuer)) == 3 and len(_capture_ops(issuer)) == 3


_KILL_MID_BATCH = """
import asyncio, os, signal, sys
from datetime import date
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.engine import open_engine

async def main() -> None:
    e = open_engine()
    inner, n = e.acquirer.capture, [0]

    async def capture(reference, amount, key):
        resp = await inner(reference, amount, key)   # the issuer has captured...
        n[0] += 1
        if n[0] == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)     # ...and the run dies mid-batch, answers unwritten
        return resp

    e.acquirer.capture = capture
    await e.capture(m.Actor("SUPER1", True), date.fromisoformat(sys.argv[1]), concurrency=4)

asyncio.run(main())
"""


async def test_a_kill_mid_batch_leaves_rows_the_reconciler_settles(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    oids = await _orders(engine, 12)
    r = subprocess.run(
        [sys.executable, "-c", _KILL_MID_BATCH, engine.today().isoformat(), "5"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    with engine.db.engine.connect() as conn:  # claimed and marked in flight before any call
        pending = conn.execute(text("SELECT count(*) FROM authorizations WHERE capture_pending = :t"), {"t": True})
        assert pending.scalar() >= 5
    assert len(_captured(issuer)) >= 5
    found = check_invariants(engine.db, issuer, settled=False)
    assert [v for v in found if v.kind in ("unknown-hold", "over-capture", "double-capture")] == []
    with_open = [o for o in oids if engine.get_order(o).status is m.OrderStatus.VALIDATED]
    for oid in with_open[:1]:  # an order in flight cannot be cancelled before the reconciler ran
        order = engine.get_order(oid)
        if order.authorizations[0].capture_pending:
            try:
                await engine.cancel_order(OPER, oid, "client rappelle")
                raise AssertionError("cancelled while a capture was in flight")
            except m.DomainError as exc:
                assert "remise en paiement en cours" in str(exc)
    report = await engine.reconcile(SUPER)  # the sender is dead (same machine): settled now
    assert report.still_unknown == [], report.lines
    await engine.capture(SUPER, engine.today())
    assert {engine.get_order(o).status for o in oids} == {m.OrderStatus.INVOICED}
    assert len(_captured(issuer)) == 12 and len(set(_capture_ops(issuer))) == len(_capture_ops(issuer)) == 12
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=True)] == []


async def test_claims_stay_within_the_window(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    """Never more claimed and unanswered than concurrency + half of it: a run started beside
    finds the rest free, and memory does not grow with what is due."""
    await _orders(engine, 30)
    inner, live, most = engine.acquirer.capture, [0], [0]

    async def capture(reference, amount, key):  # type: ignore[no-untyped-def]
        with engine.db.engine.connect() as conn:
            live[0] = conn.execute(
                text("SELECT count(*) FROM authorizations WHERE capture_pending = :t"), {"t": True}
            ).scalar()
        most[0] = max(most[0], live[0])
        await asyncio.sleep(0.005)
        return await inner(reference, amount, key)

    engine.acquirer.capture = capture
    run = await engine.capture(SUPER, engine.today(), concurrency=4)
    assert run.approved == 30
    window, _ = capture_window(4, 256, engine.db.dialect == "postgresql")
    # in flight + claimed ahead (SQLite 4 + 2; PostgreSQL, claims beside writes, 4 + 4) + answered, not
    # yet written (four claims' worth): 14 and 24 — the bound, whatever the machine's load
    assert (window.size + window.backlog) == (14 if engine.db.dialect == "sqlite" else 24)
    assert 0 < most[0] <= window.size + window.backlog


async def test_answers_lost_mid_batch_are_settled_by_the_reconciler_never_twice(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    """Every answer lost (some captures made at the issuer, some never sent once the breaker
    opened): counted unavailable, left in flight for the reconciler, which records what the issuer
    did; a second run captures the rest, and nothing is captured twice."""
    oids = await _orders(engine, 8)
    engine.acquirer.lost_answer_rate = 1.0  # type: ignore[attr-defined]
    run = await engine.capture(SUPER, engine.today(), concurrency=4)
    engine.acquirer.lost_answer_rate = 0.0  # type: ignore[attr-defined]
    assert (run.selected, run.unavailable) == (8, 8)
    for oid in oids:
        (auth,) = engine.get_order(oid).authorizations
        assert auth.capture_pending and auth.owner is None
    report = await engine.reconcile(SUPER)
    assert report.still_unknown == [], report.lines
    await engine.capture(SUPER, engine.today())
    assert {engine.get_order(o).status for o in oids} == {m.OrderStatus.INVOICED}
    assert len(_captured(issuer)) == 8 and len(set(_capture_ops(issuer))) == len(_capture_ops(issuer)) == 8
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=True)] == []


async def test_the_dry_run_asks_the_amounts_in_chunks_and_loses_none(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A million-order night's dry run bound 479,821 ids in one statement (SQLite refuses past
    32,766): the amounts are asked AMOUNTS_CHUNK ids at a time, the worklist the same."""
    for _ in range(7):
        await engine.place_order(OPER, 100001, [("BON0001", 1)], card("4970100000000014"))
    whole = Capture(engine).selection(engine.today())
    monkeypatch.setattr(capture_batch, "AMOUNTS_CHUNK", 3)
    assert Capture(engine).selection(engine.today()) == whole and len(whole) == 7


async def test_the_dry_run_gives_a_shipped_order_what_its_parcels_took(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The worklist reads the whole instalment with its row and asks by id only for orders that
    ship in parcels: its amounts are capturable_amounts' for every row, chunked or not."""
    lines = [("BON0001", 2), ("GRI0002", 1), ("RID0003", 1)]
    oids = [(await engine.place_order(OPER, 100001, lines, card("4970100000000014"))).order.id for _ in range(4)]
    engine.ship(OPER, oids[1], [("BON0001", 2), ("GRI0002", 1)])
    engine.ship(OPER, oids[3], [("RID0003", 1)])
    got = Capture(engine).selection(engine.today())
    with engine.db.sessions() as session:
        insts = {(o, i.seq): i.id for o in oids for i in engine.get_order(o).instalments}
        want = capture_batch.capturable_amounts(session, list(insts.values()))
    assert [(o, q, a) for o, q, a in got] == [(o, q, want[insts[(o, q)]]) for o, q, _ in got]
    assert {o for o, _, _ in got} == set(oids) and got[1][2] != got[0][2]  # a parcel's, not the whole
    monkeypatch.setattr(capture_batch, "AMOUNTS_CHUNK", 1)
    assert Capture(engine).selection(engine.today()) == got


async def test_the_workers_count_is_every_instalment_the_run_took(engine, issuer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Claims decided without a call (refused above the authorization) count on the worker's
    lease as the captures do — on PostgreSQL with the next write, or after the last one."""
    oids = await _orders(engine, 9)
    amounts = capture_batch.capturable_amounts
    firsts = {engine.get_order(o).instalments[0].id for o in oids[::3]}

    def too_much(session, inst_ids, *read):  # type: ignore[no-untyped-def]
        return {k: v + Decimal("0.01") if k in firsts else v for k, v in amounts(session, inst_ids, *read).items()}

    monkeypatch.setattr(capture_batch, "capturable_amounts", too_much)
    run = await Capture(engine).run(SUPER, engine.today(), concurrency=2, claim_size=2)
    assert (run.selected, run.approved, run.refused) == (9, 6, 3)
    prog = engine.run_progress(SUPER, run.id)
    assert prog.done == 9 and [w.done for w in prog.workers] == [9]


async def test_answers_not_written_are_skipped_by_their_worker(engine, issuer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The database refuses a batch of answers: its instalments are counted skipped for the
    reconciler, each result naming the worker that had them (the run report's shares had a
    worker with no name) and why."""
    from d400tui.engine import capture
    from d400tui.store.batch_writes import DatabaseBusy

    await _orders(engine, 4)
    record = capture.Capture._record_capture

    def refused(self, *args, **kw):  # type: ignore[no-untyped-def]
        raise DatabaseBusy("database is locked")

    monkeypatch.setattr(capture.Capture, "_record_capture", refused)
    run = await engine.capture(SUPER, engine.today(), concurrency=2)
    monkeypatch.setattr(capture.Capture, "_record_capture", record)
    skipped = [r for r in engine.run_results(run.id) if r.outcome == "SKIPPED"]
    assert len(skipped) == run.skipped == 4
    assert all(r.worker and r.reason == Message("engine.skip_db_busy") for r in skipped)
    assert "" not in {w for w, *_ in engine.run_report(SUPER, run.id).workers}
