"""Failover under kill -9 (issue 13.5 acceptance): the crash harness with two acquirers finds 0
double holds.

A second simulated acquirer server with an issuer of its own; the driver presses S (failover)
wherever the engine offers it — the first acquirer killed mid-run, an answered 91 — and now and
then where it does not (a time-out, a refusal: the engine must refuse). The invariants are checked
over both issuers after every cycle and once more past the reconciler's grace."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.crash import Harness
from bench.invariants import INFLIGHT, check_invariants


@pytest.mark.xdist_group("crash-harness")  # 4 processes each: two harnesses at once halve their traffic
@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_crash_harness_with_two_acquirers_finds_no_double_hold(
    tmp_path: Path, db: str, request: pytest.FixtureRequest
) -> None:
    pg_url = request.getfixturevalue("pg_url") if db == "postgres" else None  # skip; fail under CI=true
    h = Harness(tmp_path, pg_url, seed=20261201, cli_reconcile=False, secondary=True)
    report = h.run(kills=5, server_kills=1, min_s=0.3, max_s=1.2, min_ops=21)
    print("\n".join(report.lines()))
    assert report.kills >= 5 and report.server_kills == 1
    assert report.outcomes["approved"] > 0
    # orders went through the secondary, some of them while the first acquirer was killed, and it held
    assert report.failovers >= 1 and report.failovers_while_down >= 1, report.lines()
    assert report.failover_holds >= 1, report.lines()
    # an S the engine did not offer was never sent (journaled as an engine error if it was)
    assert report.errors == []
    found = [*report.violations, *report.final_violations]
    assert [str(v) for v in found if v.kind == "double-hold"] == []
    assert report.unexplained == [], [str(v) for v in report.unexplained]
    assert {v.bug for v in report.violations} <= {INFLIGHT}
    assert [str(v) for v in report.final_violations] == []


async def test_the_checker_sees_a_hold_on_each_acquirer_as_a_double_hold(engine, issuer, tmp_path: Path) -> None:
    """What the harness relies on: a failover that re-sent a key the first acquirer may have held
    (a time-out taken for "not sent") leaves one hold on each issuer for one instalment. Checked
    over the first issuer alone it is invisible; over both it is a double hold, and the second
    hold sits on an issuer its row does not name (its void would go to the other one)."""
    from d400tui.acquirers.base import PaymentSource
    from d400tui.simulator.issuer import Issuer
    from tests.support.demo import OPER, card

    r = await engine.place_order(OPER, 100001, [("BON0001", 1)], card("4970100000000014"))
    assert r.approved
    (auth,) = engine.get_order(r.order.id).authorizations
    second = Issuer(tmp_path / "issuer-2.db")
    try:
        both = {engine.acquirer.name: issuer, f"{engine.acquirer.name}-2": second}
        assert check_invariants(engine.db, both) == []
        second.authorize(PaymentSource(card=card("4970100000000014")), auth.amount, auth.idempotency_key)
        assert [v.kind for v in check_invariants(engine.db, issuer)] == []  # blind to the second issuer
        kinds = sorted(v.kind for v in check_invariants(engine.db, both))
        assert kinds == ["double-hold", "misplaced-hold"], kinds
    finally:
        second.close()
