"""Network choice on co-badged cards and the CVV result through the engine, on SQLite and
PostgreSQL (issue 13.2, 13.3): the choice reaches the issuer, is stored on the order and each
authorization, and every re-authorization (modify, retry, pre-check) sends it again."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from d400tui.domain import model as m
from d400tui.domain.cards import Brand, CardData, CvvResult, parse_expiry
from d400tui.engine import EngineError
from tests.support.demo import OPER, SUPER

A = ("BON0001", 1)
CB_VISA, CB_MC, VISA_ONLY = "4970100000000014", "5130100000000018", "4111111111111111"


def card(pan: str, cvv: str | None = "123", network: Brand | None = None) -> CardData:
    return CardData(pan, parse_expiry("06/31" if pan.startswith("5130") else "12/30"), cvv, network)


def issuer_network(issuer, auth: m.Authorization) -> str | None:  # type: ignore[no-untyped-def]
    return issuer.hold_networks()[auth.acquirer_ref]


async def test_co_badged_card_goes_on_cb_by_default(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    assert engine.network_choice(CB_VISA) == (Brand.CB, Brand.VISA)
    result = await engine.place_order(OPER, 100001, [A], card(CB_VISA))
    order = engine.get_order(result.order.id)
    auth = order.authorizations[0]
    assert order.card_network == "CB" and auth.network == "CB"
    assert issuer_network(issuer, auth) == "CB"


@pytest.mark.parametrize(("pan", "network"), [(CB_VISA, Brand.VISA), (CB_MC, Brand.MASTERCARD)])
async def test_customer_choice_is_sent_stored_and_kept(engine, issuer, pan: str, network: Brand) -> None:  # type: ignore[no-untyped-def]
    result = await engine.place_order(OPER, 100001, [A], card(pan, network=network))
    order = engine.get_order(result.order.id)
    assert order.card_network == network.value
    assert [a.network for a in order.authorizations] == [network.value]
    assert issuer_network(issuer, order.authorizations[0]) == network.value
    # re-authorization from the token (the lines change): the choice travels again
    await engine.modify_lines(OPER, order.id, [("BON0001", 2)])
    order = engine.get_order(order.id)
    live = [a for a in order.authorizations if a.state is m.AuthState.APPROVED]
    assert live and all(a.network == network.value for a in live)
    assert all(issuer_network(issuer, a) == network.value for a in live)


async def test_visa_only_card_offers_no_choice_and_refuses_cb(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    assert engine.network_choice(VISA_ONLY) == ()
    assert engine.card_networks(VISA_ONLY) == (Brand.VISA,)
    with pytest.raises(EngineError) as exc:
        await engine.place_order(OPER, 100001, [A], card(VISA_ONLY, network=Brand.CB))
    assert exc.value.message.key == "engine.network_not_offered"
    assert engine.list_orders() == [] and issuer.holds() == []  # refused before anything
    result = await engine.place_order(OPER, 100001, [A], card(VISA_ONLY))
    assert engine.get_order(result.order.id).authorizations[0].network == "VISA"


async def test_retry_after_a_refusal_keeps_the_card_choice(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    refused = card("4970100000000071", network=Brand.VISA)  # 91 issuer unavailable
    result = await engine.place_order(OPER, 100001, [A], refused)
    await engine.decide(OPER, result.order.id, m.DecisionKind.RETRY, card=refused)
    order = engine.get_order(result.order.id)
    assert [a.network for a in order.authorizations] == ["VISA", "VISA"]


async def test_payment_change_to_another_card_takes_its_network(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    result = await engine.place_order(OPER, 100001, [A], card(CB_VISA))
    await engine.change_payment_method(
        OPER, result.order.id, m.PaymentMethod.CARD, card(CB_MC, network=Brand.MASTERCARD)
    )
    order = engine.get_order(result.order.id)
    assert order.card_network == "MASTERCARD"
    assert order.authorizations[-1].network == "MASTERCARD"
    assert issuer_network(issuer, order.authorizations[-1]) == "MASTERCARD"


async def test_precheck_reauthorizes_on_the_network_chosen(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    today = date.today()
    plan = m.Plan(m.PlanKind.DEFERRED, deferred_to=today + timedelta(days=20))
    result = await engine.place_order(OPER, 100001, [A], card(CB_VISA, network=Brand.VISA), plan=plan)
    run_date = today + timedelta(days=20)
    engine.clock = lambda: datetime.combine(run_date, datetime.min.time()) + timedelta(hours=9)
    run = await engine.precheck(SUPER, run_date, concurrency=2)
    assert run.approved == 1
    order = engine.get_order(result.order.id)
    held = [a for a in order.authorizations if a.kind is m.AuthKind.AUTHORIZE]
    assert [a.network for a in held] == ["VISA"]
    assert issuer_network(issuer, held[0]) == "VISA"
    assert held[0].security_check == CvvResult.NOT_CHECKED.value  # a token call carries no CVV


async def test_cvv_result_is_stored_and_a_mismatch_flagged(engine) -> None:  # type: ignore[no-untyped-def]
    good = await engine.place_order(OPER, 100001, [A], card(CB_VISA, "123"))
    bad = await engine.place_order(OPER, 100001, [A], card(CB_VISA, "999"))
    none = await engine.place_order(OPER, 100001, [A], card(CB_VISA, None))
    g, b, n = (engine.get_order(r.order.id).authorizations[0] for r in (good, bad, none))
    assert (g.security_check, b.security_check, n.security_check) == ("MATCH", "NO_MATCH", "NOT_CHECKED")
    assert b.state is m.AuthState.APPROVED and b.cvv_mismatch
    assert not g.cvv_mismatch and not n.cvv_mismatch
