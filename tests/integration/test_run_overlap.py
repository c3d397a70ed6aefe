"""Issue 14 point 5: a pre-check's end-of-run counts are about its own claims. A run that starts
and ends while another has calls in flight once counted that run's instalments as its own skipped
(awaiting reconcile); an unknown answer was counted twice (unavailable, then skipped again)."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

from d400tui.acquirers.base import AcquirerUnavailable
from tests.support.demo import OPER, SUPER, card
from tests.support.races import Racer, close, other_engine


async def _approved(engine, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    return [
        (await engine.place_order(OPER, 100001 + k, [("BON0001", 1)], card("4970100000000014"))).order.id
        for k in range(n)
    ]


def _end(engine, run_id: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    trail = engine.audit_trail(SUPER, limit=50)
    ends = [json.loads(str(r["detail"])) for r in trail if r["action"] == "PRECHECK_END"]
    return next(d for d in ends if d["run"] == run_id)


async def test_a_run_inside_another_counts_only_its_own_claims(engine, today: date) -> None:  # type: ignore[no-untyped-def]
    oids = await _approved(engine, 6)
    run_date = today + timedelta(days=8)  # the entry holds lapse: all six are due again
    other = other_engine(engine)
    inner, second = engine.acquirer.authorize, []

    async def authorize(source, amount, key):  # type: ignore[no-untyped-def]
        if not second:  # run 1 has claimed all six and has its first call in flight
            second.append(Racer(lambda: other.precheck(SUPER, run_date, concurrency=2)))
            second[0].start()
            await asyncio.to_thread(second[0].join, 60)
        return await inner(source, amount, key)

    engine.acquirer.authorize = authorize
    try:
        run1 = await engine.precheck(SUPER, run_date, concurrency=2)
        run2 = second[0].outcome()
    finally:
        close(other)
    assert not isinstance(run2, Exception), run2
    assert (run1.selected, run1.approved, run1.skipped) == (6, 6, 0)
    # nothing was left for run 2: run 1's claims in flight are not run 2's skipped
    assert (run2.selected, run2.approved, run2.skipped, run2.unavailable) == (0, 0, 0, 0)
    assert _end(engine, run2.id)["awaiting_reconcile"] == 0
    assert len(engine.run_results(run1.id)) == 6 and engine.run_results(run2.id) == []
    assert all(len(engine.get_order(o).authorizations) == 2 for o in oids)


async def test_an_unknown_answer_is_counted_once(engine, today: date) -> None:  # type: ignore[no-untyped-def]
    await _approved(engine, 3)
    inner, calls = engine.acquirer.authorize, []

    async def authorize(source, amount, key):  # type: ignore[no-untyped-def]
        calls.append(key)
        if len(calls) == 1:  # the first call gets no answer: unknown, the hold may exist
            raise AcquirerUnavailable("timeout")
        return await inner(source, amount, key)

    engine.acquirer.authorize = authorize
    run = await engine.precheck(SUPER, today + timedelta(days=8), concurrency=1)
    assert (run.approved, run.unavailable, run.skipped) == (2, 1, 0)
    assert run.selected == len(engine.run_results(run.id)) == 3
    assert _end(engine, run.id)["awaiting_reconcile"] == 1  # the unknown one, for the reconciler
