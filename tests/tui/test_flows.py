"""Pilot tests: each acceptance flow driven with keys, at 80×24, on a temporary database."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.domain.cards import card_from_entry
from d400tui.engine.views import OrderFilter
from tests.support.tui import FIXED, fill, message, screen_text, sign_on, type_text, wait_for

PREBUILD = True  # the kept panels built ahead after sign-on, as in production (tests/tui/conftest.py)

OPER = m.Actor("OPER1")
SIZE = (80, 24)


def screen_name(pilot) -> str:
    return type(pilot.app.screen).__name__


async def open_entry(pilot, name="OPER1", password="oper1-demo") -> None:
    await sign_on(pilot, name, password)
    await type_text(pilot, "1")
    await pilot.press("enter")
    await pilot.pause()
    assert screen_name(pilot) == "OrderEntryScreen"


async def enter_order(pilot, pan: str, expiry: str = "12/30", cvv: str = "123", qty: str = "1") -> None:
    await fill(pilot, "customer", "100001")
    await fill(pilot, "art-0", "BON0001")
    await fill(pilot, "qty-0", qty)
    await fill(pilot, "card", pan)
    await fill(pilot, "expiry", expiry)
    await fill(pilot, "cvv", cvv)
    await pilot.press("f10")


async def wait_idle(pilot) -> None:
    await wait_for(pilot, lambda: not getattr(pilot.app.screen, "busy", False) and not pilot.app.workers._workers)  # noqa: SLF001
    await pilot.pause()


async def wait_decision(pilot) -> None:
    await wait_for(pilot, lambda: screen_name(pilot) == "DecisionScreen")
    await pilot.pause()


def no_pan_anywhere(app, pan: str) -> None:
    from textual.widgets import Input

    for screen in app.screen_stack:
        for inp in screen.query(Input):
            assert pan not in inp.value
    assert pan not in screen_text(app)
    assert pan not in app.export_screenshot()


async def approved_order(engine, plan: m.Plan | None = None, pan: str = "4970100000000014") -> int:
    card = card_from_entry(pan, "12/30", "123", FIXED.date())
    res = await engine.place_order(OPER, 100001, [("BON0001", 1)], card, plan=plan or m.Plan())
    assert res.approved
    return res.order.id


# -- sign-on and menu ------------------------------------------------------------------------------
async def test_wrong_password_then_sign_on(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot, "OPER1", "nope-nope")
        assert screen_name(pilot) == "SignOnScreen"
        assert "incorrect" in message(pilot)
        assert app.screen.query_one("#password").has_class("error")
        assert app.screen.focused.id == "password"
        await fill(pilot, "password", "oper1-demo")
        await pilot.press("enter")
        await pilot.pause()
        assert screen_name(pilot) == "MenuScreen"
        await pilot.press("f3")
        await pilot.pause()
        assert screen_name(pilot) == "SignOnScreen"


async def test_operator_cannot_reach_admin(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot)
        assert "Pré-contrôle" not in screen_text(app)
        await type_text(pilot, "10")
        await pilot.press("enter")
        await pilot.pause()
        assert screen_name(pilot) == "MenuScreen"
        assert "superviseurs" in message(pilot)
    import pytest

    from d400tui.engine import PermissionDenied

    with pytest.raises(PermissionDenied):
        await engine.precheck(OPER, FIXED.date())


# -- order entry and decisions ----------------------------------------------------------------------
async def test_order_approved(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await enter_order(pilot, "4970100000000014")
        await wait_idle(pilot)
        assert "validée — autorisation" in message(pilot)
        no_pan_anywhere(app, "4970100000000014")
        assert app.screen._card is None and app.screen._pan is None
    rows = engine.list_orders(OrderFilter())
    assert rows[0].status == "VALIDATED" and rows[0].card == "497010…0014"


async def test_blocked_card_then_block_shown_in_list(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await enter_order(pilot, "4970100000000048")
        await wait_decision(pilot)
        panel = screen_text(app)
        assert "Carte bloquée (perdue, volée)" in panel and "43" in panel
        no_pan_anywhere(app, "4970100000000048")
        await pilot.press("enter")  # Enter alone does nothing
        await pilot.pause()
        assert screen_name(pilot) == "DecisionScreen"
        await type_text(pilot, "X")
        await pilot.press("enter")
        await pilot.pause()
        assert screen_name(pilot) == "DecisionScreen"
        await type_text(pilot, "B")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "OrderEntryScreen")
        await wait_idle(pilot)
        assert "bloquée" in message(pilot)
        await pilot.press("f12")
        await pilot.pause()
        await type_text(pilot, "2")
        await pilot.press("enter")
        await pilot.pause()
        assert screen_name(pilot) == "WorkOrdersScreen"
        assert "Bloquée" in screen_text(app)
    order = engine.get_order(engine.list_orders(OrderFilter())[0].id)
    assert order.hold is m.PaymentHold.BLOCKED
    assert order.decisions[0].kind is m.DecisionKind.BLOCK and order.decisions[0].shown_code == "43"


async def test_unavailable_then_release(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await enter_order(pilot, "4970100000000071")
        await wait_decision(pilot)
        assert "Service d'autorisation indisponible" in screen_text(app)
        await type_text(pilot, "L")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "OrderEntryScreen")
        await wait_idle(pilot)
    order = engine.get_order(engine.list_orders(OrderFilter())[0].id)
    assert order.hold is m.PaymentHold.RELEASED and not order.awaiting_decision


async def test_wrong_expiry_gives_54(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await enter_order(pilot, "4970100000000014", expiry="11/29")
        await wait_decision(pilot)
        shot = screen_text(app)
        assert "Carte non identifiée" in shot and "54" in shot
        await pilot.press("f12")
        await wait_for(pilot, lambda: screen_name(pilot) == "OrderEntryScreen")
        assert "attente de décision" in message(pilot)


async def test_amex_refused_before_any_call(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await enter_order(pilot, "374010000000015", cvv="1234")
        await wait_idle(pilot)
        assert "non acceptée par le prestataire" in message(pilot).lower()
        assert app.screen.query_one("#card").has_class("error")
    assert engine.list_orders(OrderFilter()) == []
    assert engine.acquirer.issuer.holds() == []


async def test_retry_then_change_method(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await enter_order(pilot, "4970100000000063")
        await wait_decision(pilot)
        await type_text(pilot, "R")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "DecisionScreen" and app.screen.is_mounted)
        await wait_idle(pilot)
        await type_text(pilot, "M")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "PaymentChangeScreen")
        await pilot.pause()
        await fill(pilot, "method", "CHEQUE")
        await pilot.press("f10")
        await wait_idle(pilot)
        assert "validée" in message(pilot) or "Commande" in message(pilot)
    order = engine.get_order(engine.list_orders(OrderFilter())[0].id)
    assert order.payment_method is m.PaymentMethod.CHEQUE
    assert [d.kind for d in order.decisions] == [m.DecisionKind.RETRY, m.DecisionKind.CHANGE_METHOD]


# -- work with orders -------------------------------------------------------------------------------
async def open_work(pilot) -> None:
    await sign_on(pilot)
    await type_text(pilot, "2")
    await pilot.press("enter")
    await pilot.pause()
    assert screen_name(pilot) == "WorkOrdersScreen"


async def test_delete_voids_authorization(make_app, engine):
    oid = await approved_order(engine)
    assert len(engine.acquirer.issuer.live_holds()) == 1
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await fill(pilot, "sfl-opt-0", "4")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "ConfirmScreen")
        await pilot.press("f12")  # F12 returns without acting
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        await wait_idle(pilot)
        assert engine.get_order(oid).status is m.OrderStatus.VALIDATED
        await fill(pilot, "sfl-opt-0", "4")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "ConfirmScreen")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        await wait_idle(pilot)
        assert "supprimée" in message(pilot)
    assert engine.get_order(oid).status is m.OrderStatus.DELETED
    assert engine.acquirer.issuer.live_holds() == {}


async def test_cancel_requires_reason_and_voids(make_app, engine):
    oid = await approved_order(engine)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await fill(pilot, "sfl-opt-0", "7")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "ConfirmScreen")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert "obligatoire" in message(pilot)
        await type_text(pilot, "client injoignable")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        await wait_idle(pilot)
    o = engine.get_order(oid)
    assert o.status is m.OrderStatus.CANCELLED
    assert (o.cancel_reason or "").lower() == "client injoignable", o.cancel_reason
    assert engine.acquirer.issuer.live_holds() == {}


async def test_cancel_deferred_instalment(make_app, engine):
    oid = await approved_order(engine, plan=m.Plan(m.PlanKind.INSTALMENTS, count=3))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await fill(pilot, "sfl-opt-0", "9")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "ConfirmScreen")
        await pilot.pause()
        await type_text(pilot, "2")
        await pilot.press("tab")
        await type_text(pilot, "1")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        await wait_idle(pilot)
        assert "différé 2 abandonné" in message(pilot)
    o = engine.get_order(oid)
    assert o.instalment(2).state is m.InstalmentState.CANCELLED


async def test_change_method_from_list_voids_old(make_app, engine):
    oid = await approved_order(engine)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await fill(pilot, "sfl-opt-0", "8")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "PaymentChangeScreen")
        await pilot.pause()
        await fill(pilot, "card", "5130100000000018")
        await fill(pilot, "expiry", "06/31")
        await fill(pilot, "cvv", "123")
        await pilot.press("f10")
        await wait_idle(pilot)
        shot = screen_text(app)
        assert "annulée" in shot
        no_pan_anywhere(app, "5130100000000018")
    o = engine.get_order(oid)
    assert o.card_brand == "MASTERCARD"
    assert len(engine.acquirer.issuer.live_holds()) == 1


async def test_several_options_and_display(make_app, engine):
    a = await approved_order(engine)
    b = await approved_order(engine)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await fill(pilot, "sfl-opt-0", "5")  # newest first: b
        await fill(pilot, "sfl-opt-1", "B")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "DisplayOrderScreen")
        await pilot.pause()
        shot = screen_text(app)
        assert f"Commande {b}" in shot and "497010…0014" in shot
        await pilot.press("f12")
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        await wait_idle(pilot)
    assert engine.get_order(a).hold is m.PaymentHold.BLOCKED


async def test_paging_more_and_bottom(make_app, engine):
    from d400tui.engine.demo import generate_orders

    generate_orders(engine.db, 40, [("tok", "VISA", "497010", "0014", "12/30")], today=FIXED.date())
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await fill(pilot, "f-mine", "N")  # demo orders are nobody's: all orders, not "mes commandes"
        await pilot.press("enter")
        await pilot.pause()
        scr = app.screen
        first = list(scr.query_one("Subfile").keys)
        assert "Plus…" in screen_text(app)
        for _ in range(5):
            await pilot.press("pagedown")
            await pilot.pause()
        assert "Fin" in screen_text(app)
        await pilot.press("pagedown")
        await pilot.pause()
        assert "Fin de liste" in message(pilot)
        for _ in range(6):
            await pilot.press("pageup")
            await pilot.pause()
        assert list(scr.query_one("Subfile").keys) == first


# -- admin --------------------------------------------------------------------------------------------
async def test_supervisor_runs_precheck_and_capture(make_app, engine):
    from d400tui.engine.demo import demo_tokens, generate_orders

    cards = await demo_tokens(engine.acquirer)
    generate_orders(engine.db, 5, cards, today=FIXED.date(), all_due=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot, "SUPER1", "super1-demo")
        await type_text(pilot, "10")
        await pilot.press("enter")
        await pilot.pause()
        assert screen_name(pilot) == "PrecheckScreen"
        await pilot.press("f10")
        await wait_idle(pilot)
        assert "5 acc." in message(pilot)
        assert "Accordée" in screen_text(app)
        await fill(pilot, "action", "2")
        await pilot.press("f10")
        await wait_for(pilot, lambda: screen_name(pilot) == "ConfirmRunScreen")
        assert "5 échéance(s) à encaisser" in screen_text(app)  # what will be captured, before it is
        await pilot.press("enter")
        await wait_idle(pilot)
        assert "Encaissement" in message(pilot)
    assert [r.kind for r in engine.last_runs()] == ["CAPTURE", "PRECHECK"]
