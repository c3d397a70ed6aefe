"""Refusals an operator can act on (issue 13.1, 13.4), on SQLite and PostgreSQL: R refused after a
never-retry answer and past the scheme's re-attempt limit, the pre-check leaving never-retry
refusals alone, and the four-eyes release of an order refused as lost or stolen."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from d400tui.domain import model as m
from d400tui.engine import EngineError, PermissionDenied
from d400tui.i18n.render import tx
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)
LOST, STOLEN, NOT_ALLOWED, FUNDS, HONOUR, GOOD = (
    "4970100000000030",
    "4970100000000048",
    "4970100000000097",
    "4970100000000055",
    "4970100000000063",
    "4970100000000014",
)
SUPER2 = m.Actor("SUPER2", True)


async def _refused(engine, pan: str) -> int:  # type: ignore[no-untyped-def]
    r = await engine.place_order(OPER, 100001, [A], card(pan))
    assert r.needs_decision
    return int(r.order.id)


def _audit(engine, order_id: int) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    rows = engine.audit_trail(SUPER, limit=200)
    return [r for r in rows if r["order_id"] == order_id]


@pytest.mark.parametrize(("pan", "code"), [(LOST, "41"), (STOLEN, "43"), (NOT_ALLOWED, "57")])
async def test_retry_is_refused_after_a_never_retry_code(engine, issuer, pan: str, code: str) -> None:
    oid = await _refused(engine, pan)
    calls = len(issuer.holds()) + len(engine.get_order(oid).authorizations)
    assert engine.retry_refusal(oid).key == "engine.retry_never"  # what the panel asks first
    with pytest.raises(EngineError) as exc:
        await engine.decide(OPER, oid, m.DecisionKind.RETRY, card(pan))
    assert exc.value.key == "engine.retry_never" and exc.value.params["code"] == code
    assert f"code {code} interdit de représenter" in tx(exc.value)
    o = engine.get_order(oid)
    assert len(o.authorizations) == 1 and o.awaiting_decision  # nothing asked, nothing recorded
    assert len(issuer.holds()) + len(o.authorizations) == calls
    assert all(d.kind is not m.DecisionKind.RETRY for d in o.decisions)


async def test_a_correct_and_retry_code_is_not_resent_as_it_was(engine) -> None:
    r = await engine.place_order(OPER, 100001, [A], card(GOOD, "11/30"))  # the card says 12/30
    assert r.failed.code == "54"
    oid = r.order.id
    with pytest.raises(EngineError) as exc:
        await engine.decide(OPER, oid, m.DecisionKind.RETRY, card(GOOD, "11/30"))
    assert exc.value.key == "engine.retry_correct" and "corriger d'abord la carte (M)" in tx(exc.value)
    assert engine.retry_refusal(oid).key == "engine.retry_correct"
    fixed = await engine.decide(OPER, oid, m.DecisionKind.RETRY, card(GOOD, "12/30"))  # re-keyed
    assert fixed.approved


async def test_retry_later_codes_stay_retryable_and_a_new_card_starts_afresh(engine) -> None:
    oid = await _refused(engine, FUNDS)
    assert engine.retry_refusal(oid) is None
    again = await engine.decide(OPER, oid, m.DecisionKind.RETRY)
    assert again.failed.code == "51"
    stolen = await _refused(engine, STOLEN)
    changed = await engine.change_payment_method(OPER, stolen, m.PaymentMethod.CARD, card(FUNDS))
    assert changed.failed.code == "51"
    assert engine.retry_refusal(stolen) is None  # the 43 was the old card's


async def test_the_16th_retry_of_one_card_in_30_days_is_refused(engine) -> None:
    first = await _refused(engine, FUNDS)
    second = await _refused(engine, FUNDS)  # another order, same card: the scheme counts the card
    for n in range(13):  # the second order was the 1st re-attempt; these are the 2nd to the 14th
        res = await engine.decide(OPER, first if n % 2 else second, m.DecisionKind.RETRY)
        assert res.failed.code == "51", n
    assert engine.retry_refusal(first) is None
    res = await engine.decide(OPER, first, m.DecisionKind.RETRY)  # the 15th re-attempt: allowed
    assert res.failed.code == "51"
    with pytest.raises(EngineError) as exc:  # the 16th
        await engine.decide(OPER, second, m.DecisionKind.RETRY)
    assert exc.value.key == "engine.retry_limit"
    assert (exc.value.params["count"], exc.value.params["max"], exc.value.params["days"]) == (16, 15, 30)
    assert "15" in tx(exc.value) and "30 jours" in tx(exc.value)
    other = await _refused(engine, HONOUR)  # another card is not counted with it
    assert engine.retry_refusal(other) is None
    now = engine.clock()
    engine.clock = lambda: now + timedelta(days=31)  # the declines leave the window
    assert engine.retry_refusal(first) is None


async def test_precheck_never_asks_again_after_a_never_retry_refusal(engine, issuer, today) -> None:
    never = [await _refused(engine, pan) for pan in (LOST, STOLEN, NOT_ALLOWED)]
    later = await _refused(engine, FUNDS)
    selection = engine.precheck_selection(today)
    assert (later, 1) in selection
    assert all((oid, 1) not in selection for oid in never), selection
    run = await engine.precheck(SUPER, today)
    assert run.refused == 1
    for oid in never:
        assert len(engine.get_order(oid).authorizations) == 1  # not asked again
    # once the card is changed for one that is only refused for now, the pre-check may ask again
    await engine.change_payment_method(OPER, never[0], m.PaymentMethod.CARD, card(FUNDS))
    assert (never[0], 1) in engine.precheck_selection(today + timedelta(days=1))


async def test_release_of_a_stolen_card_waits_for_a_supervisor(engine) -> None:
    oid = await _refused(engine, STOLEN)
    res = await engine.decide(OPER, oid, m.DecisionKind.RELEASE)
    assert res.note.key == "engine.release_asked"
    o = engine.get_order(oid)
    assert o.hold is m.PaymentHold.BLOCKED and not o.awaiting_decision
    req = engine.release_request(SUPER, oid)
    assert (req.asked_by, req.shown_code, req.shown_category, req.state) == ("OPER1", "43", "BLOCKED", "PENDING")
    assert (await engine.precheck(SUPER, engine.today())).approved == 0
    with pytest.raises(EngineError) as twice:  # one request at a time
        await engine.decide(OPER, oid, m.DecisionKind.RELEASE)
    assert twice.value.key == "engine.release_pending" and "déjà soumise aux superviseurs par OPER1" in tx(twice.value)
    with pytest.raises(PermissionDenied):  # an operator approves nothing
        await engine.approve_release(OPER, oid)
    assert engine.get_order(oid).hold is m.PaymentHold.BLOCKED
    done = await engine.approve_release(SUPER, oid)
    assert done.order.hold is m.PaymentHold.RELEASED
    assert engine.release_request(SUPER, oid) is None
    (approved,) = [r for r in _audit(engine, oid) if r["action"] == "RELEASE_APPROVED"]
    detail = json.loads(approved["detail"])
    assert approved["actor"] == "SUPER1" and (detail["asked_by"], detail["approved_by"]) == ("OPER1", "SUPER1")
    assert [r["actor"] for r in _audit(engine, oid) if r["action"] == "RELEASE_ASKED"] == ["OPER1"]
    assert engine.get_order(oid).decisions[-1].operator == "SUPER1"


async def test_refused_release_stays_blocked_audited_with_both_names(engine) -> None:
    oid = await _refused(engine, LOST)
    await engine.decide(OPER, oid, m.DecisionKind.RELEASE)
    res = await engine.refuse_release(SUPER, oid)
    assert res.order.hold is m.PaymentHold.BLOCKED
    (refused,) = [r for r in _audit(engine, oid) if r["action"] == "RELEASE_REFUSED"]
    detail = json.loads(refused["detail"])
    assert refused["actor"] == "SUPER1" and (detail["asked_by"], detail["refused_by"]) == ("OPER1", "SUPER1")
    with pytest.raises(EngineError, match="aucune demande"):
        await engine.refuse_release(SUPER, oid)  # nothing left to refuse


async def test_the_supervisor_who_asked_cannot_approve(engine) -> None:
    oid = await _refused(engine, STOLEN)
    await engine.decide(SUPER, oid, m.DecisionKind.RELEASE)  # a supervisor at the keyboard asks too
    with pytest.raises(PermissionDenied) as exc:
        await engine.approve_release(SUPER, oid)
    assert exc.value.key == "engine.release_own"
    assert engine.get_order(oid).hold is m.PaymentHold.BLOCKED
    assert (await engine.approve_release(SUPER2, oid)).order.hold is m.PaymentHold.RELEASED


async def test_without_a_request_the_blocker_cannot_release_a_stolen_card(engine) -> None:
    oid = await _refused(engine, STOLEN)
    await engine.decide(SUPER, oid, m.DecisionKind.BLOCK)
    with pytest.raises(PermissionDenied):
        await engine.approve_release(SUPER, oid)
    assert (await engine.approve_release(SUPER2, oid)).order.hold is m.PaymentHold.RELEASED


async def test_other_releases_stay_one_key(engine) -> None:
    for pan in (FUNDS, HONOUR, NOT_ALLOWED):
        oid = await _refused(engine, pan)
        res = await engine.decide(OPER, oid, m.DecisionKind.RELEASE)
        assert res.order.hold is m.PaymentHold.RELEASED and not res.note


async def test_two_supervisors_approving_at_once_release_it_once(engine, monkeypatch) -> None:
    from d400tui.store import release_requests
    from tests.support import races

    oid = await _refused(engine, STOLEN)
    await engine.decide(OPER, oid, m.DecisionKind.RELEASE)
    other = races.other_engine(engine)
    real, racers = release_requests.close, []

    def closing(*args, **kw):  # type: ignore[no-untyped-def]
        if not racers:  # inside the first approval, between its read and its commit: the second one
            racers.append(races.race_inside(engine, oid, lambda: other.approve_release(SUPER2, oid)))
        return real(*args, **kw)

    monkeypatch.setattr(release_requests, "close", closing)
    try:
        await engine.approve_release(SUPER, oid)
        late = racers[0].outcome()
    finally:
        races.close(other)
    assert isinstance(late, EngineError) and late.key == "engine.release_not_blocked", late
    approvals = [r for r in _audit(engine, oid) if r["action"] == "RELEASE_APPROVED"]
    assert [r["actor"] for r in approvals] == ["SUPER1"]
    assert [d.kind for d in engine.get_order(oid).decisions] == [m.DecisionKind.BLOCK, m.DecisionKind.RELEASE]
