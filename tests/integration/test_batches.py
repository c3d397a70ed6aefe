"""Invoicing pre-check and capture: exact selection, idempotent reruns, never above authorized."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from d400tui.domain import model as m
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)


async def _order(engine, pan="4970100000000014", **kw) -> int:  # type: ignore[no-untyped-def]
    r = await engine.place_order(OPER, kw.pop("customer", 100001), [A], card(pan) if pan else None, **kw)
    return r.order.id


async def test_precheck_selects_exactly_what_needs_an_authorization(engine, issuer, today: date) -> None:
    later = today + timedelta(days=20)  # beyond the 7-day window: only verified at entry
    # 1. validated phone card order, deferred and now due at the run date → selected
    deferred = await _order(engine, plan=m.Plan(m.PlanKind.DEFERRED, deferred_to=later))
    # 2. instalments: the 2nd falls due within the run window (monthly) → selected; 3rd not yet due
    n3 = await _order(engine, "5130100000000018", plan=m.Plan(m.PlanKind.INSTALMENTS, count=3))
    # 3. approved today: its authorization reaches its 7-day limit before the run date → re-authorized
    approved = await _order(engine)
    # 4. refused at entry then released: validated without authorization → selected
    released = await _order(engine, "4970100000000063")
    await engine.decide(OPER, released, m.DecisionKind.RELEASE)
    # Not selected: other channel, cheque, cancelled, captured, deferred not yet due
    mail = engine.create_order(OPER, 100001, [A], channel=m.Channel.MAIL)
    await engine.validate_order(OPER, mail.id, None)
    await _order(engine, None, payment_method=m.PaymentMethod.CHEQUE)
    cancelled = await _order(engine)
    await engine.cancel_order(OPER, cancelled, "test")
    captured = await _order(engine)
    await engine.capture(SUPER, today)
    far = await _order(engine, plan=m.Plan(m.PlanKind.DEFERRED, deferred_to=today + timedelta(days=300)))
    draft = engine.create_order(OPER, 100001, [A])

    run_date = today + timedelta(days=31)
    selection = engine.precheck_selection(run_date)
    second_due = m.add_months(today, 1) <= run_date
    expected = {(deferred, 1), (approved, 1), (released, 1)} | ({(n3, 2)} if second_due else set())
    # the approved order was captured by the capture run above: it is not due any more
    expected.discard((approved, 1))
    assert set(selection) == expected, (selection, expected)
    for excluded in (mail.id, cancelled, captured, far, draft.id):
        assert all(o != excluded for o, _ in selection)

    engine.clock = lambda: datetime.combine(run_date, datetime.min.time()) + timedelta(hours=9)  # a month later
    run = await engine.precheck(SUPER, run_date, concurrency=4)
    assert run.approved + run.refused + run.unavailable == len(expected)
    results = {(r.order_id, r.instalment_seq): r for r in engine.run_results(run.id)}
    assert results[(released, 1)].outcome == "REFUSED" and results[(released, 1)].code == "05"
    assert results[(deferred, 1)].outcome == "APPROVED"
    # refusals are listed for a person: never blocked automatically
    o = engine.get_order(released)
    assert o.hold is m.PaymentHold.RELEASED and o.awaiting_decision
    # a rerun of the same date selects nothing approved again
    assert (deferred, 1) not in engine.precheck_selection(run_date)


async def test_precheck_reauthorizes_at_the_validity_limit(engine, issuer, today: date) -> None:
    oid = await _order(engine)
    first = engine.get_order(oid).authorizations[0]
    assert engine.precheck_selection(today) == []  # still valid today
    run_date = today + timedelta(days=8)
    assert engine.precheck_selection(run_date) == [(oid, 1)]
    run = await engine.precheck(SUPER, run_date)
    assert run.approved == 1
    o = engine.get_order(oid)
    states = [(a.id, a.state) for a in o.authorizations]
    assert states == [(first.id, m.AuthState.VOIDED), (states[1][0], m.AuthState.APPROVED)]
    assert len(issuer.live_holds()) == 1  # the old hold was voided, one live hold remains


async def test_two_precheck_runs_never_authorize_the_same_instalment_twice(engine, issuer, today: date) -> None:
    import asyncio

    ids = [await _order(engine, "4970100000000063") for _ in range(12)]  # refused at entry (05)
    for i in ids:
        await engine.decide(OPER, i, m.DecisionKind.RELEASE)
    engine.acquirer.latency_s = 0.01
    runs = await asyncio.gather(*(engine.precheck(SUPER, today, 3) for _ in range(3)))
    assert sum(r.refused for r in runs) == 12, [r.refused for r in runs]
    assert [len(engine.get_order(i).authorizations) for i in ids] == [2] * 12
    # once they are over, a rerun retries the refusals (the operator may have called the bank)
    again = await engine.precheck(SUPER, today, 3)
    assert again.refused == 12


async def test_capture_twice_captures_once_and_marks_invoiced(engine, issuer, today: date) -> None:
    oid = await _order(engine)
    blocked = await _order(engine, customer=100002)
    await engine.decide(OPER, blocked, m.DecisionKind.BLOCK)
    run1 = await engine.capture(SUPER, today)
    run2 = await engine.capture(SUPER, today)
    assert (run1.approved, run2.approved) == (1, 0)
    o = engine.get_order(oid)
    assert o.status is m.OrderStatus.INVOICED
    assert o.authorizations[0].state is m.AuthState.CAPTURED
    assert [h[1] for h in issuer.holds()].count("CAPTURED") == 1
    assert engine.get_order(blocked).status is m.OrderStatus.VALIDATED  # blocked: not captured
    # no void after a capture
    with pytest.raises(m.DomainError, match="facturée"):
        await engine.cancel_order(OPER, oid, "trop tard")


async def test_capture_above_the_authorized_amount_is_refused(engine, issuer) -> None:
    oid = await _order(engine)
    amount = engine.get_order(oid).total
    outcome, _, _, reason, _ = await engine.capture_one(SUPER, oid, 1, amount + Decimal("0.01"))
    assert outcome == "REFUSED" and "supérieure" in reason
    assert issuer.live_holds()  # nothing captured
    # and the acquirer itself refuses too, should a caller skip the engine
    ref = engine.get_order(oid).authorizations[0].acquirer_ref
    resp = await engine.acquirer.capture(ref, amount + Decimal("1.00"), "direct-cap")
    assert resp.outcome.value == "DECLINED"
    outcome, *_ = await engine.capture_one(SUPER, oid, 1, amount - Decimal("10.00"))
    assert outcome == "CAPTURED"


async def test_capture_skips_expired_authorizations(engine, today: date) -> None:
    from d400tui.engine.capture import Capture

    oid = await _order(engine)
    outcome, _, _, reason, _ = await Capture(engine).capture_one(SUPER, oid, 1, today + timedelta(days=9))
    assert outcome == "SKIPPED" and "expirée" in reason


async def test_run_history(engine, today: date) -> None:
    await _order(engine)
    await engine.precheck(SUPER, today)
    await engine.capture(SUPER, today)
    kinds = [r.kind for r in engine.last_runs()]
    assert kinds[:2] == ["CAPTURE", "PRECHECK"]
    assert all(isinstance(r.started_at, datetime) for r in engine.last_runs())


async def test_precheck_goes_past_a_whole_claim_of_orders_without_token(engine, today: date) -> None:
    """A claim made only of instalments whose card must be typed again (no token) once ended the
    run: the orders after them were never authorized."""
    from sqlalchemy import update

    from d400tui.store import tables as t

    first = [await _order(engine, "4970100000000063") for _ in range(34)]  # refused at entry
    for i in first:
        await engine.decide(OPER, i, m.DecisionKind.RELEASE)
    with engine.db.engine.begin() as conn:
        conn.execute(update(t.orders).where(t.orders.c.id.in_(first)).values(card_token=None))
    later = await _order(engine, "4970100000000063")
    await engine.decide(OPER, later, m.DecisionKind.RELEASE)
    run = await engine.precheck(SUPER, today, concurrency=4)  # claims of 32
    assert run.skipped == 34 and run.refused == 1, (run.skipped, run.refused)
    assert len(engine.get_order(later).authorizations) == 2
