"""List tools (issue 11 §4-7): F4 searches without accents, position-to, options kept across pages,
"mes commandes" by default with the filters in the header, B/L/M/R from the lists and the display
screen, refusals said plainly, results never cut, exact paging after a resize, the pre-check's
refusals-only view with the decision on the row, and unlocking an operator."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.engine.demo import generate_orders
from d400tui.engine.operators import sign_on as engine_sign_on
from d400tui.screens.work_orders import ROWS_AROUND
from tests.support.tui import FIXED, fill, message, screen_text, sign_on, type_text, wait_for

from .test_flows import SIZE, approved_order, open_work, screen_name, wait_idle

CARD = [("tok", "VISA", "497010", "0014", "12/30")]


async def all_orders(pilot) -> None:
    await fill(pilot, "f-mine", "N")
    await pilot.press("enter")
    await pilot.pause()


def keys(app) -> list[int]:
    return [int(k) for k in app.screen.query_one("Subfile").keys]


async def test_f4_customer_search_folds_accents_and_says_when_nothing(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        app.screen.query_one("#f-customer").focus()
        await pilot.press("f4")
        await wait_for(pilot, lambda: screen_name(pilot) == "PromptScreen")
        await fill(pilot, "search", "francois")
        await pilot.press("enter")
        await pilot.pause()
        assert "FRANÇOIS Isabelle" in screen_text(app)
        await fill(pilot, "search", "zzzqqq")
        await pilot.press("enter")
        await pilot.pause()
        assert message(pilot) == "Aucun client trouvé"
        await fill(pilot, "search", "lefevre")
        await pilot.press("enter")
        await pilot.pause()
        await fill(pilot, "sfl-opt-0", "1")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        assert app.screen.query_one("#f-customer").value == "100006"


async def test_f4_on_a_code_field_lists_the_codes_in_words(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        app.screen.query_one("#f-channel").focus()
        await pilot.press("f4")
        await wait_for(pilot, lambda: screen_name(pilot) == "CodePromptScreen")
        assert "Téléphone" in screen_text(app) and "Courrier" in screen_text(app)
        await fill(pilot, "sfl-opt-2", "1")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        assert app.screen.query_one("#f-channel").value == "COURRIER"


async def test_mine_by_default_and_filters_in_the_header(make_app, engine):
    mine = await approved_order(engine)
    generate_orders(engine.db, 5, CARD, today=FIXED.date())  # entered by DEMO, not by OPER1
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        assert keys(app) == [mine]
        assert "Filtres : mes commandes" in screen_text(app)
        await all_orders(pilot)
        assert len(keys(app)) == 6
        await fill(pilot, "f-status", "VALIDEE")
        await pilot.press("enter")
        await pilot.pause()
        assert "Filtres : statut Validée" in screen_text(app)


async def test_position_to_and_options_kept_when_paging(make_app, engine):
    generate_orders(engine.db, 40, CARD, today=FIXED.date(), all_due=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await all_orders(pilot)
        await fill(pilot, "f-position", "25")
        await pilot.press("enter")
        await pilot.pause()
        assert keys(app)[0] == 25
        await fill(pilot, "sfl-opt-0", "B")  # order 25, then page down and type on order 25 - size
        await pilot.press("pagedown")
        await pilot.pause()
        second = keys(app)[1]
        await fill(pilot, "sfl-opt-1", "B")
        await pilot.press("pageup")
        await pilot.pause()
        assert app.screen.query_one("#sfl-opt-0").value == "B"  # kept while the page was away
        await pilot.press("enter")
        await wait_idle(pilot)
        assert "Commande 25 : commande bloquée" in message(pilot)
        assert f"Commande {second} : commande bloquée" in message(pilot)
    assert engine.get_order(25).hold is m.PaymentHold.BLOCKED
    assert engine.get_order(second).hold is m.PaymentHold.BLOCKED


async def test_cancel_an_already_cancelled_order_is_refused_plainly(make_app, engine):
    oid = await approved_order(engine)
    await engine.cancel_order(m.Actor("OPER1"), oid, "client parti")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await fill(pilot, "sfl-opt-0", "7")
        await pilot.press("enter")
        await wait_idle(pilot)
        assert screen_name(pilot) == "WorkOrdersScreen"  # no confirmation for what cannot be done
        assert message(pilot) == f"Commande {oid} annulée : annulation impossible"


async def test_decide_from_the_awaiting_list_and_from_the_display(make_app, engine):
    from d400tui.domain.cards import card_from_entry

    refused = []
    for _ in range(3):
        card = card_from_entry("4970100000000055", "12/30", "123", FIXED.date())  # 51, awaiting a decision
        refused.append((await engine.place_order(m.Actor("OPER1"), 100001, [("BON0001", 1)], card)).order.id)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot)
        await type_text(pilot, "3")
        await pilot.press("enter")
        await pilot.pause()
        assert sorted(keys(app)) == sorted(refused)
        await fill(pilot, "sfl-opt-0", "L")
        await fill(pilot, "sfl-opt-1", "R")
        await pilot.press("enter")
        await wait_idle(pilot)
        newest, middle, oldest = sorted(refused, reverse=True)
        assert message(pilot).startswith(f"Commande {newest} : commande libérée")
        assert any(n.startswith(f"Commande {middle} : autorisation relancée") for n in app.screen.results)
        await fill(pilot, f"sfl-opt-{keys(app).index(oldest)}", "5")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "DisplayOrderScreen")
        await fill(pilot, "decide", "B")
        await pilot.press("enter")
        await wait_idle(pilot)
        assert "Bloquée" in screen_text(app)  # the display shows the order as it is now
        await pilot.press("f12")
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        assert f"Commande {oldest} : commande bloquée" in message(pilot)
    assert engine.get_order(newest).hold is m.PaymentHold.RELEASED
    assert engine.get_order(oldest).hold is m.PaymentHold.BLOCKED
    assert [d.kind for d in engine.get_order(middle).decisions] == [m.DecisionKind.RETRY]


async def test_many_results_never_cut_f1_lists_them(make_app, engine):
    oids = [await approved_order(engine) for _ in range(5)]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        for i in range(5):
            await fill(pilot, f"sfl-opt-{i}", "B")
        await pilot.press("enter")
        await wait_idle(pilot)
        assert "(+4 autres : F1=Liste)" in message(pilot)
        assert len(message(pilot)) < 80
        await pilot.press("f1")
        await wait_for(pilot, lambda: screen_name(pilot) == "ResultsScreen")
        shown = screen_text(app)
        assert all(f"Commande {oid} : commande bloquée" in shown for oid in oids)


async def test_paging_exact_after_a_resize(make_app, engine):
    generate_orders(engine.db, 60, CARD, today=FIXED.date())
    app = make_app()
    async with app.run_test(size=(80, 30)) as pilot:
        await open_work(pilot)
        await all_orders(pilot)
        seen = keys(app)
        await pilot.press("pagedown")
        await pilot.pause()
        seen += keys(app)
        await fill(pilot, "sfl-opt-0", "X")
        await pilot.press("enter")
        await pilot.pause()
        said = message(pilot)
        await pilot.resize_terminal(80, 20)
        await pilot.pause()
        await pilot.pause()
        assert message(pilot) == said  # the message line is kept
        size = app.screen.page_size
        assert size == 20 - ROWS_AROUND
        assert keys(app)[0] == seen[len(seen) // 2]  # same first row
        page = keys(app)
        await pilot.press("pagedown")
        await pilot.pause()
        nxt = keys(app)
        assert nxt[0] == page[-1] - 1 and len(page) == size  # no row skipped
        # every row shown is on the screen, none hidden below the message line
        region = app.screen.query_one("#message").region
        assert region.y < 20


async def test_precheck_refusals_only_and_the_decision_on_the_row(make_app, engine):
    from d400tui.acquirers.base import PaymentSource
    from d400tui.domain.cards import CardData, parse_expiry

    resp = await engine.acquirer.verify(
        PaymentSource(card=CardData("4970100000000022", parse_expiry("12/30"))), "tui-lists-verify-0022"
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
        assert "Accordée" in screen_text(app)
        await fill(pilot, "view", "R")
        await pilot.press("enter")
        await pilot.pause()
        rows = app.screen.query_one("#sfl-text").render().plain
        assert "Accordée" not in rows and "Refusée" in rows
        assert rows.count("À décider") >= 2
        await fill(pilot, "sfl-opt-0", "B")
        await fill(pilot, "sfl-opt-1", "L")
        await pilot.press("enter")
        await wait_idle(pilot)
        lines = app.screen.query_one("#sfl-text").render().plain.splitlines()
        assert "Bloquée" in lines[0] and "Libérée" in lines[1]


async def test_supervisor_unlocks_an_operator_from_the_menu(make_app, engine):
    for _ in range(5):
        try:
            engine_sign_on(engine.db, "OPER1", "wrong-password")
        except Exception:  # noqa: BLE001 - refused, as wanted
            pass
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot, "SUPER1", "super1-demo")
        await type_text(pilot, "11")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "OperatorsScreen")
        text = app.screen.query_one("#sfl-text").render().plain
        assert "OPER1" in text and "Verrouillé" in text
        row = keys_text(app).index("OPER1")
        await fill(pilot, f"sfl-opt-{row}", "D")
        await pilot.press("enter")
        await pilot.pause()
        assert message(pilot) == "Opérateur OPER1 déverrouillé"
        assert "Verrouillé" not in app.screen.query_one("#sfl-text").render().plain
    assert engine_sign_on(engine.db, "OPER1", "oper1-demo").name == "OPER1"


def keys_text(app) -> list[str]:
    return [str(k) for k in app.screen.query_one("Subfile").keys]


async def test_operators_screen_refused_to_an_operator(make_app, engine):
    from d400tui.engine import PermissionDenied
    from d400tui.engine.operators import list_operators, unlock_operator

    for call in (
        lambda: list_operators(engine, m.Actor("OPER1")),
        lambda: unlock_operator(engine, m.Actor("OPER1"), "SUPER1"),
    ):
        try:
            call()
        except PermissionDenied:
            continue
        raise AssertionError("an operator got through")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot)
        assert "Opérateurs" not in screen_text(app)
        await type_text(pilot, "11")
        await pilot.press("enter")
        await pilot.pause()
        assert message(pilot) == "Option réservée aux superviseurs"


async def test_capture_runs_off_the_screen_loop_after_its_confirmation(make_app, engine):
    """The in-process issuer never yields: the capture must not run on the screen's loop (it froze
    screen, clock and keys for the whole run). Its calls come from another thread, and its
    progress reaches the bar; F12 on the confirmation captures nothing."""
    import threading

    cards = await demo_tokens_for(engine)
    generate_orders(engine.db, 6, cards, today=FIXED.date(), all_due=True)
    await engine.precheck(m.Actor("SUPER1", True), FIXED.date(), 2)
    issuer = engine.acquirer.issuer
    threads: list[threading.Thread] = []
    real = issuer.capture

    def spy(*a, **kw):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread())
        return real(*a, **kw)

    issuer.capture = spy
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot, "SUPER1", "super1-demo")
        await type_text(pilot, "10")
        await pilot.press("enter")
        await pilot.pause()
        await fill(pilot, "action", "2")
        await pilot.press("f10")
        await wait_for(pilot, lambda: screen_name(pilot) == "ConfirmRunScreen")
        await pilot.press("f12")
        await pilot.pause()
        assert message(pilot) == "Encaissement non lancé" and not threads
        await pilot.press("f10")
        await wait_for(pilot, lambda: screen_name(pilot) == "ConfirmRunScreen")
        await pilot.press("enter")
        await wait_idle(pilot)
        assert "6 acc." in message(pilot)
        bar = app.screen.query_one("#progress")
        assert bar.progress == bar.total == 6
    assert len(threads) == 6 and all(th is not threading.main_thread() for th in threads)


async def demo_tokens_for(engine):  # type: ignore[no-untyped-def]
    from d400tui.engine.demo import demo_tokens

    return await demo_tokens(engine.acquirer)
