"""Concurrent terminals (issue 5, point 3): 8 processes on the same 200 orders on PostgreSQL, and the
race of a cancellation with an in-flight pre-check authorization, replayed deterministically."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bench.crash import KNOWN_BUG, check_invariants
from d400tui.domain import model as m
from tests.conftest import OPER, PG_URL, SUPER, card

A = ("BON0001", 1)


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="PostgreSQL tests need D400_TEST_PG_URL")
def test_eight_terminals_on_the_same_200_orders(tmp_path: Path) -> None:
    from bench.concurrency import KNOWN_BUG_CANCEL_RACE, run

    rep = run(PG_URL, tmp_path, processes=8, orders=200, ops=30, seed=11)  # type: ignore[arg-type]
    print("\n".join(rep.lines()))
    assert rep.processes == 8 and rep.operations >= 8 * 30
    assert rep.outcomes["ok"] > 50
    # no lost update, no instalment asked twice by the two simultaneous pre-checks
    assert [str(v) for v in rep.violations if v.kind in ("lost-update", "double-precheck")] == []
    assert rep.concurrent_precheck_approved > 0
    # what remains can only be the engine bugs tested (xfail) elsewhere
    assert rep.unexplained == [], [str(v) for v in rep.unexplained]
    assert {v.bug for v in rep.violations} <= {KNOWN_BUG, KNOWN_BUG_CANCEL_RACE}
    assert rep.unexplained_errors == []


CANCEL_RACE_BUG = (
    "engine bug: a cancellation racing an in-flight pre-check authorization leaks the hold — "
    "Engine._close_order (engine/service.py) voids only Order.live_authorizations() (APPROVED/UNKNOWN), not "
    "the REQUESTED row the pre-check committed, and Batches._flush (engine/batch.py) then records it APPROVED "
    "without checking that the order is still open; same for delete_order and change_payment_method"
)


@pytest.mark.xfail(strict=True, reason=CANCEL_RACE_BUG)
@pytest.mark.parametrize("how", ["cancel", "delete", "cheque"])
async def test_order_closed_during_a_precheck_call_keeps_no_hold(engine, issuer, how: str) -> None:
    due = engine.today() + timedelta(days=20)
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"),
                                 plan=m.Plan(m.PlanKind.DEFERRED, deferred_to=due))
    oid = r.order.id
    inner = engine.acquirer.authorize

    async def authorize(source, amount, key):  # type: ignore[no-untyped-def]
        resp = await inner(source, amount, key)
        # another terminal acts on the order while the pre-check's answer is on its way
        if how == "cancel":
            await engine.cancel_order(OPER, oid, "client rappelle")
        elif how == "delete":
            await engine.delete_order(OPER, oid)
        else:
            await engine.change_payment_method(OPER, oid, m.PaymentMethod.CHEQUE)
        return resp

    engine.acquirer.authorize = authorize
    await engine.precheck(SUPER, due, concurrency=1)
    engine.acquirer.authorize = inner
    await engine.reconcile(SUPER)
    assert issuer.live_holds() == {}
    assert [str(v) for v in check_invariants(engine.db, issuer)] == []
