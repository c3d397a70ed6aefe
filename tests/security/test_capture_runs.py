"""Issue 9 point 6: two capture runs at once. Before this branch, on SQLite, a run that read an
order another run then wrote lost the race with an exception that ended the whole run: exit 2,
run record never finished. Now each instalment is decided under its order's lock, a race lost on
one order is counted on that order, the run always records its end and counts, and the second
run lists what it skipped and why."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from sqlalchemy.exc import OperationalError

from d400tui.domain import model as m
from d400tui.engine import ConcurrentChange
from d400tui.engine.capture import Capture
from tests.support.demo import OPER, SUPER, card
from tests.support.races import Racer, close, other_engine, race_inside

A = ("BON0001", 1)


async def _orders(engine, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    return [(await engine.place_order(OPER, 100001 + k, [A], card("4970100000000014"))).order.id for k in range(n)]


def _captured_once(engine, issuer, oids: list[int]) -> None:  # type: ignore[no-untyped-def]
    assert [h[1] for h in issuer.holds()].count("CAPTURED") == len(oids)
    assert {engine.get_order(o).status for o in oids} == {m.OrderStatus.INVOICED}


async def test_a_second_run_during_the_first_skips_what_is_in_flight(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    oids = await _orders(engine, 2)
    other = other_engine(engine)
    inner, second = engine.acquirer.capture, []

    async def capture(reference, amount, key):  # type: ignore[no-untyped-def]
        if not second:  # run 1's first capture is in flight: run 2 starts and ends meanwhile
            second.append(Racer(lambda: other.capture(SUPER, engine.today())))
            second[0].start()
            await asyncio.to_thread(second[0].join, 60)
        return await inner(reference, amount, key)

    engine.acquirer.capture = capture
    try:
        run1 = await engine.capture(SUPER, engine.today(), concurrency=1)
        run2 = second[0].outcome()
    finally:
        close(other)
    assert not isinstance(run2, Exception), run2
    assert run1.finished_at and run2.finished_at
    assert (run1.approved, run2.approved, run2.skipped) == (1, 1, 1)
    skipped = engine.run_results(run2.id, outcome="SKIPPED")
    assert [(r.order_id, str(r.reason)) for r in skipped] == [  # the reference (French) wording
        (oids[0], "remise déjà en cours (autre traitement ou rapprochement)")
    ]
    _captured_once(engine, issuer, oids)


async def test_a_run_that_reads_an_order_another_run_writes(engine, issuer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Run 2 is started while run 1 has read the first order and not yet written its decision
    (the batched run decides a claim's instalments with the domain's capture rule: the hook)."""
    oids = await _orders(engine, 2)
    other = other_engine(engine)
    check, racers = m.check_capture, []

    def checking(state, authorized, expires_at, amount, now):  # type: ignore[no-untyped-def]
        if not racers:  # concurrency 1: run 1's first claim is the first order alone
            racers.append(race_inside(engine, oids[0], lambda: other.capture(SUPER, engine.today())))
        return check(state, authorized, expires_at, amount, now)

    monkeypatch.setattr(m, "check_capture", checking)
    try:
        try:
            run1 = await engine.capture(SUPER, engine.today(), concurrency=1)
        except Exception as exc:  # noqa: BLE001 - the bug: the run dies with the lost race
            run1 = exc
        run2 = racers[0].outcome()
    finally:
        close(other)
    assert not isinstance(run1, Exception) and not isinstance(run2, Exception), (run1, run2)
    assert run1.finished_at and run2.finished_at
    assert run1.approved + run2.approved == 2
    for run in (run1, run2):  # every instalment a run selected is accounted for in its counts
        assert run.selected == run.approved + run.refused + run.unavailable + run.skipped
        assert len(engine.run_results(run.id)) == run.selected
    _captured_once(engine, issuer, oids)


async def test_a_race_lost_on_one_order_is_counted_there_and_the_run_finishes(engine, issuer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The batched run (issue 14.1) loses each instalment on its own path, claimed to answered:
    the failures are injected there (before: in the per-instalment `capture_one` the run called)."""
    oids = await _orders(engine, 3)
    send = Capture._send
    lost = {
        oids[0]: ConcurrentChange("Commande modifiée sur un autre poste — F5 pour recharger"),
        oids[1]: OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked")),
    }

    async def one_path(self, sent):  # type: ignore[no-untyped-def]
        if sent.cand.order_id in lost:
            raise lost[sent.cand.order_id]
        return await send(self, sent)

    monkeypatch.setattr(Capture, "_send", one_path)
    run = await engine.capture(SUPER, engine.today())
    assert run.finished_at is not None
    assert (run.selected, run.approved, run.skipped) == (3, 1, 2)
    stored = engine.last_runs("CAPTURE", 1)[0]
    assert (stored.finished_at, stored.approved, stored.skipped) == (run.finished_at, 1, 2)
    reasons = {r.order_id: str(r.reason) for r in engine.run_results(run.id, outcome="SKIPPED")}
    assert reasons == {
        oids[0]: "Commande modifiée sur un autre poste — F5 pour recharger",
        oids[1]: "base de données occupée : relancer la remise",
    }
    assert [r["action"] for r in engine.audit_trail(m.Actor("SUPER1", True), limit=1)] == ["CAPTURE_END"]


async def test_two_d400_capture_commands_at_once(engine, issuer, settings) -> None:  # type: ignore[no-untyped-def]
    """The real commands, two processes started together: both end 0 with their run finished."""
    oids = await _orders(engine, 12)
    env = {k: v for k, v in os.environ.items()}
    env.update(D400_OPERATOR="SUPER1", D400_PASSWORD="super1-demo", COLUMNS="200")
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "d400tui", "capture", "--concurrency", "4"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    runs = engine.last_runs("CAPTURE", 2)
    assert len(runs) == 2 and all(r.finished_at is not None for r in runs)
    assert sum(r.approved for r in runs) == 12
    assert all(r.selected == r.approved + r.skipped == len(engine.run_results(r.id)) for r in runs)
    _captured_once(engine, issuer, oids)
