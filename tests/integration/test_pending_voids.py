"""Voids that did not get through, on a clock (SQLite and PostgreSQL): with the simulator down a
void stays PENDING and is tried again on the backoff (5 min, 1 h, 1 day …), each try counted on the
row and audited; once the simulator is up the next due try voids the hold. Supervisors see them
oldest hold first (Visa's misuse-of-authorization clock); operators are refused by the engine."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from d400tui.domain import model as m
from d400tui.engine import NotFound, PermissionDenied
from tests.support import cli
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)
VISA = "4970100000000014"
T0 = datetime(2026, 3, 2, 9, 0)


def at(engine, when: datetime) -> None:  # type: ignore[no-untyped-def]
    engine.clock = lambda: when


def void_tries(engine, order_id: int) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    rows = engine.audit_trail(SUPER, limit=1000)
    tries = [json.loads(str(r["detail"])) for r in rows if r["action"] == "VOID" and r["order_id"] == order_id]
    return sorted(tries, key=lambda d: int(d["attempt"]))  # type: ignore[call-overload]


async def _cancelled_while_down(engine, customer: int = 100001) -> int:  # type: ignore[no-untyped-def]
    oid = (await engine.place_order(OPER, customer, [A], card(VISA))).order.id
    engine.acquirer.fault_rate = 1.0
    res = await engine.cancel_order(OPER, oid, "client injoignable")
    assert not res.voids[0].done
    return oid


async def test_a_pending_void_is_retried_on_its_backoff_then_voided(engine, issuer) -> None:
    at(engine, T0)
    oid = await _cancelled_while_down(engine)
    [p] = engine.pending_voids(SUPER)
    assert (p.order_id, p.attempts, p.last_try, p.next_try) == (oid, 1, T0, T0 + timedelta(minutes=5))

    at(engine, T0 + timedelta(minutes=1))  # not due yet: the scheduled retry leaves it alone
    await engine.retry_voids(SUPER)
    assert engine.pending_voids(SUPER)[0].attempts == 1

    steps = [(timedelta(minutes=6), timedelta(hours=1)), (timedelta(hours=1, minutes=7), timedelta(days=1))]
    for n, (when, wait) in enumerate(steps, start=2):
        at(engine, T0 + when)
        report = await engine.retry_voids(SUPER)  # still down
        assert report.still_unknown
        [p] = engine.pending_voids(SUPER)
        assert (p.attempts, p.last_try, p.next_try) == (n, T0 + when, T0 + when + wait)
        assert p.first_try == T0

    at(engine, T0 + timedelta(days=1, hours=1, minutes=8))  # the last wait repeats: 1 day again
    await engine.retry_voids(SUPER)
    assert engine.pending_voids(SUPER)[0].next_try == T0 + timedelta(days=2, hours=1, minutes=8)

    engine.acquirer.fault_rate = 0.0  # the service is back
    at(engine, T0 + timedelta(days=2, hours=2))
    report = await engine.retry_voids(SUPER)
    assert report.settled and not report.still_unknown
    assert engine.pending_voids(SUPER) == []
    a = engine.get_order(oid).authorizations[0]
    assert (a.state, a.void_state, a.void_attempts, a.void_next_at) == (
        m.AuthState.VOIDED,
        m.VoidState.DONE,
        5,
        None,
    )
    assert not issuer.live_holds()
    tries = void_tries(engine, oid)
    assert [(d["attempt"], d["done"]) for d in tries] == [(1, False), (2, False), (3, False), (4, False), (5, True)]


async def test_on_demand_every_pending_void_goes_now(engine) -> None:
    at(engine, T0)
    await _cancelled_while_down(engine)
    engine.acquirer.fault_rate = 0.0
    at(engine, T0 + timedelta(minutes=1))  # well before its next try
    report = await engine.retry_voids(SUPER, every=True)
    assert report.settled and engine.pending_voids(SUPER) == []


async def test_one_void_retried_by_hand_whatever_its_backoff(engine) -> None:
    at(engine, T0)
    oid = await _cancelled_while_down(engine)
    engine.acquirer.fault_rate = 0.0
    [p] = engine.pending_voids(SUPER)
    outcome = await engine.retry_void(SUPER, p.auth_id)
    assert outcome.done and engine.pending_voids(SUPER) == []
    assert engine.get_order(oid).authorizations[0].state is m.AuthState.VOIDED
    with pytest.raises(NotFound):
        await engine.retry_void(SUPER, p.auth_id)  # nothing pending any more


async def test_the_list_follows_the_visa_clock_oldest_hold_first(engine) -> None:
    at(engine, T0 - timedelta(days=3))
    old = (await engine.place_order(OPER, 100001, [A], card(VISA))).order.id
    at(engine, T0)
    young = (await engine.place_order(OPER, 100002, [A], card(VISA))).order.id
    engine.acquirer.fault_rate = 1.0
    await engine.cancel_order(OPER, young, "client injoignable")  # asked first…
    await engine.cancel_order(OPER, old, "client injoignable")  # …but its hold is 3 days older
    rows = engine.pending_voids(SUPER)
    assert [r.order_id for r in rows] == [old, young]
    assert rows[0].held_since == T0 - timedelta(days=3)


async def test_supervisor_rights_are_checked_in_the_engine(engine) -> None:
    at(engine, T0)
    await _cancelled_while_down(engine)
    [p] = engine.pending_voids(SUPER)
    with pytest.raises(PermissionDenied):
        engine.pending_voids(OPER)
    with pytest.raises(PermissionDenied):
        await engine.retry_voids(OPER)
    with pytest.raises(PermissionDenied):
        await engine.retry_void(OPER, p.auth_id)
    assert engine.pending_voids(SUPER)[0].attempts == 1  # nothing was tried for the operator


async def test_the_cli_lists_and_retries(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    oid = await _cancelled_while_down(engine)
    r = cli.run(["voids", "pending", "--json"], "", cli.signed_on("SUPER1"))
    assert r.returncode == 0, r.stderr
    assert [row["order_id"] for row in json.loads(r.stdout)] == [oid]
    refused = cli.run(["voids", "pending"], "", cli.signed_on("OPER1"))
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    assert "superviseurs" in refused.stderr and "Traceback" not in refused.stderr
    monkeypatch.setenv("D400_SIMULATOR_FAULT_RATE", "1")
    down = cli.run(["voids", "retry", "--all"], "", cli.signed_on("SUPER1"))
    assert down.returncode == 4  # still pending
    monkeypatch.setenv("D400_SIMULATOR_FAULT_RATE", "0")
    up = cli.run(["voids", "retry", "--all"], "", cli.signed_on("SUPER1"))
    assert up.returncode == 0, up.stdout + up.stderr
    empty = cli.run(["voids", "pending"], "", cli.signed_on("SUPER1"))
    assert "no void pending" in empty.stdout


async def test_a_hold_at_an_acquirer_no_longer_configured_stays_pending(engine, issuer) -> None:
    """Its void must not go to today's acquirer, whose "unknown authorization" would mark it done
    and forget the hold: it stays PENDING, nothing sent, until that acquirer is set up again."""
    from sqlalchemy import update

    from d400tui.store import tables as t

    oid = (await engine.place_order(OPER, 100001, [A], card(VISA))).order.id
    with engine.db.engine.begin() as conn:  # made under an acquirer the settings no longer name
        conn.execute(update(t.authorizations).where(t.authorizations.c.order_id == oid).values(acquirer="oldbank"))
    res = await engine.cancel_order(OPER, oid, "client injoignable")
    assert not res.voids[0].done
    [a] = engine.get_order(oid).authorizations
    assert (a.state, a.void_state) == (m.AuthState.APPROVED, m.VoidState.PENDING)
    assert len(issuer.live_holds()) == 1  # nothing asked of the simulator: the hold is not its to void
    report = await engine.reconcile(SUPER)
    assert report.settled == [] and len(report.still_unknown) == 1
    assert engine.get_order(oid).authorizations[0].void_state is m.VoidState.PENDING
