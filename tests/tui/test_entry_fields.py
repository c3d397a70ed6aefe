"""Order panel fields (issue 11 points 2, 3, 7, 10): auto-advance and Enter movement, the card field
kept for correction, card on file, words instead of codes, F1 help, inactive keys, abandon question."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.domain.cards import card_from_entry
from d400tui.engine.views import OrderFilter
from tests.support.tui import FIXED, burst, keys_of, message, screen_text, settled

from .test_typeahead import SIGN_ON, SIZE, assert_order, last_order, order_keys

OPER = m.Actor("OPER1")


async def open_entry(pilot) -> None:
    await pilot.press(*SIGN_ON, "1", "enter")
    await settled(pilot)
    assert type(pilot.app.screen).__name__ == "OrderEntryScreen"


def value(app, wid: str) -> str:
    return app.screen.query_one(f"#{wid}").value


async def test_enter_and_full_fields_move_like_a_5250(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await pilot.press(*keys_of("100001"))
        assert app.screen.focused.id == "art-0"  # six digits: the customer number is complete
        assert "FRANÇOIS" in screen_text(app)
        await pilot.press(*keys_of("BON0001"), "enter")
        assert app.screen.focused.id == "qty-0"
        await pilot.press("enter")
        assert app.screen.focused.id == "art-1"  # quantity left empty: 1
        assert "59,99" in screen_text(app)
        await pilot.press("up")
        assert app.screen.focused.id == "art-0"
        await pilot.press("down", "enter")
        assert app.screen.focused.id == "card"  # an empty article line: to the payment block
        await pilot.press(*keys_of("4970100000000014"))
        assert app.screen.focused.id == "expiry" and value(app, "card") == "497010…0014"
        await pilot.press(*keys_of("1230"))
        assert app.screen.focused.id == "cvv"
        await pilot.press(*keys_of("123"))
        assert app.screen.focused.id == "plan"


async def test_luhn_invalid_number_stays_for_correction(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        card = app.screen.query_one("#card")
        card.focus()
        await pilot.press(*keys_of("4970100000000015"), *keys_of("12"))  # a wrong last digit, then the expiry
        assert app.screen.focused is card  # the cursor stays on the number
        assert card.value == "4970100000000015"  # kept for correction, not wiped
        assert card.has_class("error")
        assert message(pilot).startswith("Numéro de carte invalide")
        assert value(app, "expiry") == ""  # the keys typed on are refused, not landed elsewhere
        await pilot.press("backspace", "4")
        assert app.screen.focused.id == "expiry" and card.value == "497010…0014"
        assert not card.has_class("error")


async def test_unknown_brand_refused_in_the_field(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        card = app.screen.query_one("#card")
        card.focus()
        await pilot.press(*keys_of("6011000990139424"))  # Luhn-valid, a brand no acquirer of ours knows
        assert app.screen.focused is card and card.has_class("error")
        assert "marque inconnue" in message(pilot)


async def test_reentering_a_masked_card_clears_it(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        card = app.screen.query_one("#card")
        card.focus()
        await pilot.press(*keys_of("4970100000000014"))
        assert card.value == "497010…0014" and app.screen.focused.id == "expiry"
        await pilot.press("up")  # back on the masked number
        assert app.screen.focused is card and card.value == "" and app.screen._pan is None


async def test_paste_longer_than_the_field_refused(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        app.screen.query_one("#card").focus()
        await pilot.pause()
        app.post_message(__import__("textual.events", fromlist=["Paste"]).Paste("4970 1000 0000 0014 1230 123"))
        await settled(pilot)
        assert value(app, "card") == ""
        assert message(pilot) == "Collage refusé : 28 caractères pour 23 de place dans la zone"
        app.post_message(__import__("textual.events", fromlist=["Paste"]).Paste("4970 1000 0000 0014"))
        await settled(pilot)
        assert app.screen.focused.id == "expiry" and value(app, "card") == "497010…0014"


async def test_full_field_refuses_a_key_with_a_message(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        app.screen.query_one("#qty-0").focus()
        await pilot.press(*keys_of("12345"))
        assert value(app, "qty-0") == "1234"
        assert message(pilot) == "Zone pleine (4 caractères) : touche refusée"


async def test_card_on_file_in_at_most_20_keys(make_app, engine):
    card = card_from_entry("4970100000000014", "12/30", "123", FIXED.date())
    first = await engine.place_order(OPER, 100001, [("GRI0002", 1)], card)
    assert first.approved
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        keys = [*keys_of("100001"), *keys_of("BON0001"), "enter", "enter", "enter", "asterisk", "f10"]
        assert len(keys) <= 20
        await pilot.pause()
        await burst(pilot, *keys)
        await settled(pilot)
        assert "497010…0014" not in message(pilot) or "validée" in message(pilot)
    o = last_order(engine)
    assert o.id != first.order.id
    assert_order(o, 100001, "BON0001", 1)
    assert o.status is m.OrderStatus.VALIDATED and o.authorizations[-1].state is m.AuthState.APPROVED


async def test_no_card_on_file_says_so(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await pilot.press(*keys_of("100002"), *keys_of("BON0001"), "enter", "enter", "enter", "asterisk")
        assert message(pilot) == "Pas de carte enregistrée pour ce client : tapez le numéro de carte"
        assert app.screen.focused.id == "card" and value(app, "card") == ""


async def test_words_not_codes(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        text = screen_text(app)
        assert "Carte" in text and "Immédiat" in text
        assert "CARD" not in text and "TRANSFER" not in text and "COD" not in text
        method, plan = app.screen.query_one("#method"), app.screen.query_one("#plan")
        for typed, word in (("Q", "Chèque"), ("V", "Virement"), ("R", "Contre-remboursement"), ("C", "Carte")):
            method.focus()
            method.value = ""
            await pilot.press(typed, "tab")
            assert str(app.screen.query_one("#method-word").render()).strip() == word
        for typed, word in (("N:3", "En 3 fois"), ("D:15/07/2025", "Différé au 15/07/2025"), ("I", "Immédiat")):
            plan.focus()
            plan.value = ""
            await pilot.press(*keys_of(typed), "up")
            assert str(app.screen.query_one("#plan-word").render()).strip() == word


async def test_f1_help_and_inactive_function_key(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await pilot.press("f1")
        assert message(pilot).startswith("Numéro du client, 6 chiffres")
        app.screen.query_one("#cvv").focus()
        await pilot.press("f1")
        assert "Cryptogramme" in message(pilot)
        await pilot.press("f7")
        assert message(pilot) == "Touche de fonction non autorisée"


async def test_decision_headings_say_what_happened(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        for pan, heading in (
            ("4970100000000063", "Autorisation refusée"),
            ("4970100000000071", "Service indisponible"),
            ("4970100000000089", "Pas de réponse du service d'autorisation"),
        ):
            await burst(pilot, *order_keys(qty="1", pan=pan))
            await settled(pilot)
            assert type(app.screen).__name__ == "DecisionScreen"
            assert str(app.screen.query_one("#heading").render()).startswith(heading)
            await pilot.press("f1")
            assert message(pilot) and "help." not in message(pilot)
            await pilot.press("f12")
            await settled(pilot)


async def test_f12_with_lines_asks_and_the_draft_survives_until_the_answer(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await pilot.press(*keys_of("100001"), *keys_of("BON0001"), "enter", "2", "enter")
        await pilot.press("f12")
        await settled(pilot)
        assert type(app.screen).__name__ == "AbandonScreen"
        assert "Abandonner la saisie ? (O/N)" in screen_text(app)
        assert engine.load_draft(OPER)[1]["lines"][0] == ["BON0001", "2"]
        await pilot.press("N", "enter")
        await settled(pilot)
        assert type(app.screen).__name__ == "OrderEntryScreen" and value(app, "art-0") == "BON0001"
        await pilot.press("f3")
        await settled(pilot)
        assert type(app.screen).__name__ == "AbandonScreen"
        assert engine.load_draft(OPER) is not None
        await pilot.press("O", "enter")
        await settled(pilot)
        assert type(app.screen).__name__ == "MenuScreen"
        assert engine.load_draft(OPER) is None
        assert not engine.list_orders(OrderFilter(), limit=1)


async def test_payment_change_fields_advance_and_show_words(make_app, engine):
    from d400tui.screens.payment_change import PaymentChangeScreen

    card = card_from_entry("4970100000000048", "12/30", "123", FIXED.date())
    oid = (await engine.place_order(OPER, 100001, [("BON0001", 1)], card)).order.id
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*SIGN_ON)
        await settled(pilot)
        app.push_screen(PaymentChangeScreen(oid))
        await settled(pilot)
        assert "Moyen actuel : Carte" in screen_text(app)
        await burst(pilot, "C", "enter", *keys_of("5130100000000018"), *keys_of("0631"), *keys_of("123"))
        await settled(pilot)
        assert value(app, "card") == "513010…0018" and value(app, "expiry") == "0631" and value(app, "cvv") == "123"
        await pilot.press("f10")
        await settled(pilot)
    o = engine.get_order(oid)
    assert str(o.card) == "513010…0018" and o.authorizations[-1].state is m.AuthState.APPROVED


async def test_card_on_file_not_offered_when_expired_or_changed(engine):
    from d400tui.domain.cards import Brand, MaskedCard
    from d400tui.engine.card_on_file import card_on_file, place_order_on_file
    from d400tui.engine.errors import EngineError

    assert card_on_file(engine, 100001) is None  # no approved card order yet
    card = card_from_entry("4970100000000014", "12/30", "123", FIXED.date())
    await engine.place_order(OPER, 100001, [("BON0001", 1)], card)
    shown = card_on_file(engine, 100001)
    assert shown == MaskedCard(Brand.VISA, "497010", "0014", "12/30")
    refused = card_from_entry("4970100000000063", "12/30", "123", FIXED.date())
    await engine.place_order(OPER, 100002, [("BON0001", 1)], refused)
    assert card_on_file(engine, 100002) is None  # a refused card is never offered
    other = MaskedCard(Brand.VISA, "497010", "0022", "12/30")
    try:
        await place_order_on_file(engine, OPER, 100001, [("BON0001", 1)], other)
    except EngineError as exc:
        assert exc.field == "card"
    else:
        raise AssertionError("an order was placed on a card other than the one on file")


async def test_f4_on_payment_method_and_plan_lists_the_codes_in_words(make_app):
    """F4 prompts on every field that takes a code: the payment method and the plan too."""
    from tests.support.tui import fill

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        app.screen.query_one("#method").focus()
        await pilot.press("f4")
        await settled(pilot)
        assert type(app.screen).__name__ == "CodePromptScreen"
        assert "Chèque" in screen_text(app) and "Virement" in screen_text(app)
        await fill(pilot, "sfl-opt-1", "1")  # 1 = select, in front of the second row
        await pilot.press("enter")
        await settled(pilot)
        assert type(app.screen).__name__ == "OrderEntryScreen"
        assert value(app, "method") == "CHEQUE" and app.screen.focused.id == "method"
        app.screen.query_one("#plan").focus()
        await pilot.press("f4")
        await settled(pilot)
        assert type(app.screen).__name__ == "CodePromptScreen" and "Immédiat" in screen_text(app)
        await pilot.press("f12")
        await settled(pilot)
        assert value(app, "plan") == "I"
