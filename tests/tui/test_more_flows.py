"""Pilot tests: orders in progress survive a dropped terminal, option 2 (modify lines), English,
F5 on order entry, F4 article prompt, pre-check B/L on a refused row and the last runs."""

from __future__ import annotations

import json

from d400tui.domain import model as m
from d400tui.engine.views import OrderFilter
from tests.support.tui import FIXED, fill, message, screen_text, sign_on, type_text, wait_for

from .test_flows import approved_order, no_pan_anywhere, open_entry, open_work, screen_name, wait_decision, wait_idle

OPER = m.Actor("OPER1")
SIZE = (80, 24)
PAN = "4970100000000014"


# -- orders in progress survive (issue 5, point 4) --------------------------------------------------
async def test_dropped_terminal_finds_its_order_back(settings, make_app, engine, tmp_path):
    from d400tui.app import D400App

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await fill(pilot, "customer", "100001")
        await fill(pilot, "art-0", "BON0001")
        await fill(pilot, "qty-0", "3")
        await fill(pilot, "art-1", "GRI0002")
        await fill(pilot, "method", "card")
        await fill(pilot, "card", PAN)
        await fill(pilot, "expiry", "12/30")
        await fill(pilot, "cvv", "123")
        await fill(pilot, "plan", "N:3")
        await fill(pilot, "customer", "100001")  # leave the plan field: last step saved
        await pilot.pause()
        saved = engine.load_draft(OPER)
        assert saved is not None
        text = json.dumps(saved[1])
        assert PAN not in text and "12/30" not in text and '123"' not in text
        assert "card" not in saved[1] and "cvv" not in saved[1] and "expiry" not in saved[1]
        # the terminal drops: the app goes away without F3/F12, F10 or a decision
    assert engine.load_draft(OPER) is not None
    for db_file in tmp_path.rglob("*.db*"):
        assert PAN.encode() not in db_file.read_bytes()

    # a new process on the same database: its own engine, opened by the app itself
    app2 = D400App(settings, clock=lambda: FIXED)
    async with app2.run_test(size=SIZE) as pilot:
        await sign_on(pilot)
        assert screen_name(pilot) == "DraftScreen"
        assert "1 commande en cours de saisie — reprendre ?" in screen_text(app2)
        await type_text(pilot, "X")
        await pilot.press("enter")
        await pilot.pause()
        assert screen_name(pilot) == "DraftScreen" and "Répondez O" in message(pilot)
        await type_text(pilot, "O")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "OrderEntryScreen")
        await pilot.pause()
        scr = app2.screen
        values = {
            w: scr.query_one(f"#{w}").value
            for w in ("customer", "art-0", "qty-0", "art-1", "method", "plan", "card", "expiry", "cvv")
        }
        assert values == {
            "customer": "100001",
            "art-0": "BON0001",
            "qty-0": "3",
            "art-1": "GRI0002",
            "method": "card",
            "plan": "N:3",
            "card": "",
            "expiry": "",
            "cvv": "",
        }
        assert "FRANÇOIS" in screen_text(app2) and "Total TTC" in screen_text(app2)
        assert scr.focused.id == "card"  # what is left to type
        await fill(pilot, "card", PAN)
        await fill(pilot, "expiry", "12/30")
        await fill(pilot, "cvv", "123")
        await pilot.press("f10")
        await wait_idle(pilot)
        assert "validée" in message(pilot)
        no_pan_anywhere(app2, PAN)
    assert app2._engine is not None and app2._owns_engine
    assert engine.load_draft(OPER) is None  # discarded once the order is validated
    order = engine.get_order(engine.list_orders(OrderFilter())[0].id)
    assert [(ln.article_code, ln.quantity) for ln in order.lines] == [("BON0001", 3), ("GRI0002", 1)]
    assert len(order.instalments) == 3


async def test_draft_refused_keeps_nothing_and_f12_abandons(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await fill(pilot, "customer", "100001")
        await fill(pilot, "art-0", "BON0001")
        await fill(pilot, "qty-0", "2")
        await fill(pilot, "art-1", "")  # the quantity field is left: that step is saved
        await pilot.pause()
        assert engine.load_draft(OPER)[1]["lines"][0] == ["BON0001", "2"]
        await pilot.press("f12")  # explicitly abandoned: "Abandonner la saisie ? (O/N)", the draft kept until O
        await pilot.pause()
        assert engine.load_draft(OPER) is not None
        await pilot.press("O", "enter")
        await pilot.pause()
        assert engine.load_draft(OPER) is None
        # answer N at the next sign-on: discarded; F12 there: kept for later
        engine.save_draft(
            OPER, {"v": 1, "customer": "100002", "lines": [["GRI0002", "1"]], "method": "CARD", "plan": "I"}
        )
        await pilot.press("f3")  # sign off from the menu
        await pilot.pause()
        await sign_on(pilot)
        assert screen_name(pilot) == "DraftScreen"
        await pilot.press("f12")
        await pilot.pause()
        assert screen_name(pilot) == "MenuScreen" and engine.load_draft(OPER) is not None
        await pilot.press("f3")
        await pilot.pause()
        await sign_on(pilot)
        await type_text(pilot, "N")
        await pilot.press("enter")
        await pilot.pause()
        assert screen_name(pilot) == "MenuScreen"
    assert engine.load_draft(OPER) is None


async def test_draft_discarded_when_refused_order_is_decided(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await fill(pilot, "customer", "100001")
        await fill(pilot, "art-0", "BON0001")
        await fill(pilot, "card", "4970100000000048")
        await fill(pilot, "expiry", "12/30")
        await fill(pilot, "cvv", "123")
        assert engine.load_draft(OPER) is not None
        await pilot.press("f10")
        await wait_decision(pilot)
        await wait_for(pilot, lambda: engine.load_draft(OPER) is None)
        await type_text(pilot, "B")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "OrderEntryScreen")
        await wait_idle(pilot)
        assert engine.load_draft(OPER) is None


# -- option 2: modify the lines --------------------------------------------------------------------
async def test_modify_lines_voids_and_reauthorizes(make_app, engine):
    oid = await approved_order(engine)
    assert len(engine.acquirer.issuer.live_holds()) == 1
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await fill(pilot, "sfl-opt-0", "2")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "OrderEntryScreen")
        await pilot.pause()
        scr = app.screen
        assert "ORDMOD" in screen_text(app)
        assert scr.query_one("#art-0").value == "BON0001" and scr.query_one("#card").disabled
        assert "497010…0014" in scr.query_one("#card").value
        await fill(pilot, "qty-0", "2")
        await fill(pilot, "art-1", "GRI0002")
        await pilot.press("f10")
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        await wait_idle(pilot)
        assert f"Commande {oid} modifiée" in message(pilot) or "validée" in message(pilot)
    o = engine.get_order(oid)
    assert [(ln.article_code, ln.quantity) for ln in o.lines] == [("BON0001", 2), ("GRI0002", 1)]
    holds = engine.acquirer.issuer.live_holds()
    assert len(holds) == 1
    assert any(a.kind is m.AuthKind.AUTHORIZE and a.state is m.AuthState.VOIDED for a in o.authorizations)
    assert o.instalments[0].amount == o.total


async def test_modify_lines_refused_shows_decision_panel(make_app, engine):
    oid = await approved_order(engine, pan="4970100000000022")  # 300 € ceiling
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await fill(pilot, "sfl-opt-0", "2")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "OrderEntryScreen")
        await pilot.pause()
        await fill(pilot, "qty-0", "6")  # 6 × 71,99 > 300
        await pilot.press("f10")
        await wait_decision(pilot)
        shot = screen_text(app)
        assert "Plafond dépassé" in shot and "61" in shot
        assert "annulée" in shot.lower() or "Annulation" in shot
        await type_text(pilot, "B")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        await wait_idle(pilot)
        assert "bloquée" in message(pilot)
    o = engine.get_order(oid)
    assert o.hold is m.PaymentHold.BLOCKED and o.lines[0].quantity == 6


async def test_modify_refused_for_a_cancelled_order(make_app, engine):
    oid = await approved_order(engine)
    await engine.cancel_order(OPER, oid, "client parti")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await fill(pilot, "sfl-opt-0", "2")
        await pilot.press("enter")
        await wait_idle(pilot)
        assert screen_name(pilot) == "WorkOrdersScreen"
        assert f"commande {oid}" in message(pilot).lower()


# -- English ---------------------------------------------------------------------------------------
async def test_sign_on_and_menu_in_english(monkeypatch, engine):
    from d400tui.app import D400App
    from d400tui.config import Settings
    from d400tui.i18n import set_lang

    monkeypatch.setenv("D400_LANG", "en")
    app = D400App(Settings(), engine=engine, clock=lambda: FIXED)
    try:
        async with app.run_test(size=SIZE) as pilot:
            shot = screen_text(app)
            assert "Sign On" in shot and "Operator . ." in shot and "Password . ." in shot
            assert "Opérateur" not in shot and "Mot de passe" not in shot
            await sign_on(pilot)
            assert screen_name(pilot) == "MenuScreen"
            shot = screen_text(app)
            assert "Main Menu" in shot and "Phone order entry" in shot and "Work with orders" in shot
            assert "Menu principal" not in shot
            await type_text(pilot, "99")
            await pilot.press("enter")
            await pilot.pause()
            assert message(pilot) == "Option 99 unknown"
    finally:
        set_lang("fr")


# -- F5 and F4 on order entry ----------------------------------------------------------------------
async def test_f5_reads_prices_and_labels_again(make_app, engine):
    from decimal import Decimal

    from sqlalchemy import update

    from d400tui.store import tables as t

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await fill(pilot, "customer", "100001")
        await fill(pilot, "art-0", "BON0001")
        await fill(pilot, "qty-0", "1")
        await pilot.press("enter")
        await pilot.pause()
        assert "Bonnet inox" in screen_text(app)
        with engine.db.uow() as uow:  # the catalogue changes meanwhile (another terminal, a batch)
            uow.session.execute(
                update(t.articles)
                .where(t.articles.c.code == "BON0001")
                .values(label="Bonnet laine bleu", unit_price=Decimal("10.00"))
            )
            uow.commit()
        await pilot.press("enter")
        await pilot.pause()
        assert "Bonnet inox" in screen_text(app)  # Enter keeps what was read
        await pilot.press("f5")
        await pilot.pause()
        shot = screen_text(app)
        assert "Bonnet laine bleu" in shot and "10,00" in shot and "Bonnet inox" not in shot
        assert "relus" in message(pilot)


async def test_f4_article_prompt(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await fill(pilot, "customer", "100001")
        await fill(pilot, "art-0", "")
        await pilot.press("f4")
        await wait_for(pilot, lambda: screen_name(pilot) == "PromptScreen")
        await pilot.pause()
        assert "Recherche article" in screen_text(app)
        await fill(pilot, "search", "GRI")
        await pilot.press("enter")
        await pilot.pause()
        keys = list(app.screen.query_one("Subfile").keys)
        found = [app.engine.get_article(str(k)) for k in keys]  # by code or label: "gris" counts too
        assert found and all("GRI" in a.code or "gri" in a.label.lower() for a in found), found
        await fill(pilot, "sfl-opt-0", "1")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "OrderEntryScreen")
        await pilot.pause()
        assert app.screen.query_one("#art-0").value == keys[0]
        assert app.screen.focused.id == "qty-0"
        await pilot.press("f4")  # F12 in the prompt returns without choosing
        await pilot.pause()
        assert "placez le curseur" in message(pilot)


# -- pre-check: B/L on a refused row, last 10 runs ------------------------------------------------------
async def test_precheck_block_and_release_refused_rows(make_app, engine):
    from d400tui.acquirers.base import PaymentSource
    from d400tui.domain.cards import CardData, parse_expiry
    from d400tui.engine.demo import generate_orders

    # the 300 € ceiling card: the first orders fit, the next ones are refused (61)
    resp = await engine.acquirer.verify(
        PaymentSource(card=CardData("4970100000000022", parse_expiry("12/30"))), "tui-test-verify-0022"
    )
    generate_orders(engine.db, 12, [(resp.token, "VISA", "497010", "0022", "12/30")], today=FIXED.date(), all_due=True)
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await sign_on(pilot, "SUPER1", "super1-demo")
        await type_text(pilot, "10")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("f10")
        await wait_idle(pilot)
        run = engine.last_runs(None, 1)[0]
        refused = [r for r in engine.run_results(run.id) if r.outcome in ("REFUSED", "UNAVAILABLE")]
        assert len(refused) >= 2, [r.outcome for r in engine.run_results(run.id)]
        sf = app.screen.query_one("Subfile")
        rows = {key[1]: i for i, key in enumerate(sf.keys)}
        first, second = refused[0].order_id, refused[1].order_id
        await fill(pilot, f"sfl-opt-{rows[first]}", "B")
        await fill(pilot, f"sfl-opt-{rows[second]}", "L")
        await pilot.press("enter")
        await wait_idle(pilot)
        assert f"Commande {first} : commande bloquée" in message(pilot)
        assert f"Commande {second} : commande libérée" in message(pilot)
    assert engine.get_order(first).hold is m.PaymentHold.BLOCKED
    assert engine.get_order(second).hold is m.PaymentHold.RELEASED
    kinds = [d.kind for d in engine.get_order(first).decisions]
    assert kinds == [m.DecisionKind.BLOCK]


async def test_precheck_lists_last_ten_runs(make_app, engine):
    from d400tui.engine.demo import demo_tokens, generate_orders

    cards = await demo_tokens(engine.acquirer)
    generate_orders(engine.db, 2, cards, today=FIXED.date(), all_due=True)
    sup = m.Actor("SUPER1", supervisor=True)
    for _ in range(12):
        await engine.precheck(sup, FIXED.date(), 2)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot, "SUPER1", "super1-demo")
        await type_text(pilot, "10")
        await pilot.press("enter")
        await pilot.pause()
        await fill(pilot, "action", "3")
        await pilot.press("f10")
        await wait_for(pilot, lambda: screen_name(pilot) == "RunsScreen")
        await pilot.pause()
        runs = engine.last_runs(None, 10)
        keys = list(app.screen.query_one("Subfile").keys)
        assert keys == [r.id for r in runs] and len(keys) == 10
        shot = screen_text(app)
        assert f"n°{runs[0].id}" in shot or str(runs[0].id) in shot
        await fill(pilot, "sfl-opt-3", "1")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "PrecheckScreen")
        await pilot.pause()
        assert app.screen.run_id == runs[3].id
        assert f"n°{runs[3].id}" in message(pilot)
