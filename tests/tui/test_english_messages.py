"""Pilot tests under D400_LANG=en: what the engine and the domain say (in French) reaches the operator in
English — refusals on the message line, the label on the decision panel, field errors from the domain."""

from __future__ import annotations

from contextlib import asynccontextmanager

from d400tui.domain import model as m
from tests.support.tui import FIXED, fill, message, screen_text

from .test_flows import approved_order, enter_order, open_entry, open_work, screen_name, wait_decision, wait_idle

OPER = m.Actor("OPER1")
SIZE = (80, 24)


@asynccontextmanager
async def english_app(monkeypatch, engine):
    """The app in English on an engine opened in French: the engine's texts stay French, the screens translate."""
    from d400tui.app import D400App
    from d400tui.config import Settings
    from d400tui.i18n import set_lang

    assert engine.settings.lang == "fr"
    monkeypatch.setenv("D400_LANG", "en")
    app = D400App(Settings(), engine=engine, clock=lambda: FIXED)
    try:
        async with app.run_test(size=SIZE) as pilot:
            yield app, pilot
    finally:
        set_lang("fr")


async def test_refused_operation_in_english(monkeypatch, engine):
    oid = await approved_order(engine)
    await engine.cancel_order(OPER, oid, "client parti")
    async with english_app(monkeypatch, engine) as (app, pilot):
        await open_work(pilot)
        await fill(pilot, "sfl-opt-0", "2")
        await pilot.press("enter")
        await wait_idle(pilot)
        assert screen_name(pilot) == "WorkOrdersScreen"
        assert message(pilot) == f"Order {oid} cancelled: cannot be changed"  # refused, said plainly
        await fill(pilot, "sfl-opt-0", "5")
        await pilot.press("enter")
        await wait_for_display(pilot)
        shot = screen_text(app)
        assert "Cancellation reason: client parti" in shot  # the operator's own words, as typed
        # the state in words, not the code; the label stored in French shown in English
        assert "Voided      00 Approved" in shot and "VOIDED" not in shot and "Autorisation accordée" not in shot


async def wait_for_display(pilot) -> None:
    from tests.support.tui import wait_for

    await wait_for(pilot, lambda: screen_name(pilot) == "DisplayOrderScreen")
    await pilot.pause()


async def test_decision_panel_and_field_errors_in_english(monkeypatch, engine):
    async with english_app(monkeypatch, engine) as (app, pilot):
        await open_entry(pilot)
        await fill(pilot, "card", "4970100000000015")  # wrong check digit: refused by the domain
        await fill(pilot, "expiry", "12/30")  # leaving the card field checks it
        await pilot.pause()
        assert message(pilot) == "Card number not valid (check digit)"
        assert app.screen.query_one("#card").has_class("error")
        await fill(pilot, "plan", "N:20")
        await enter_order(pilot, "4970100000000014")
        await wait_idle(pilot)
        assert message(pilot) == "Payment in N instalments: N between 2 and 12"
        await fill(pilot, "plan", "I")
        await enter_order(pilot, "4970100000000048")  # stolen card: the issuer refuses, code 43
        await wait_decision(pilot)
        panel = screen_text(app)
        assert "Card blocked (lost, stolen)" in panel and "Code 43: Stolen card" in panel
        assert "Carte volée" not in panel
    order = engine.get_order(engine.list_orders()[0].id)
    assert order.authorizations[-1].label == "Carte volée"  # stored as the engine wrote it


async def test_entry_words_help_and_questions_in_english(monkeypatch, engine):
    """Issue 11 point 7 under D400_LANG=en: the words beside the codes, F1 help, the inactive key,
    the decision heading, the abandon question and the card on file's engine message."""
    from tests.support.tui import keys_of, settled

    async with english_app(monkeypatch, engine) as (app, pilot):
        await open_entry(pilot)
        text = screen_text(app)
        assert "Card" in text and "Immediate" in text and "Carte" not in text and "Immédiat" not in text
        await pilot.press("f1")
        assert message(pilot).startswith("Customer number, 6 digits")
        await pilot.press("f7")
        assert message(pilot) == "Function key not allowed"
        await pilot.press(
            *keys_of("100001"),
            *keys_of("BON0001"),
            "enter",
            "enter",
            "enter",
            *keys_of("4970100000000071"),
            *keys_of("1230123"),
            "f10",
        )
        await wait_decision(pilot)
        assert str(app.screen.query_one("#heading").render()).startswith("Service unavailable")
        await pilot.press("f12")
        await settled(pilot)
        await pilot.press(*keys_of("100001"), *keys_of("BON0001"), "enter", "f12")
        await settled(pilot)
        assert "Abandon this order? (Y/N)" in screen_text(app)
        await pilot.press("Y", "enter")
        await settled(pilot)
        assert screen_name(pilot) == "MenuScreen"


async def test_card_on_file_gone_message_in_english(monkeypatch, engine):
    from d400tui.domain.cards import Brand, MaskedCard
    from d400tui.engine.card_on_file import place_order_on_file
    from d400tui.engine.errors import EngineError
    from d400tui.i18n import set_lang
    from d400tui.i18n.render import tx

    try:
        shown = MaskedCard(Brand.VISA, "497010", "0014", "12/30")
        await place_order_on_file(engine, OPER, 100003, [("BON0001", 1)], shown)
    except EngineError as exc:
        set_lang("en")
        try:
            assert tx(exc) == "card on file not found: type the card number"
        finally:
            set_lang("fr")
    else:
        raise AssertionError("a customer with no card on file was charged")
