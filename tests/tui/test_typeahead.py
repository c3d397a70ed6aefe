"""Type-ahead (issue 11 point 1): a whole order typed as one burst, with no pause between keys,
lands field by field as typed; keys typed during "Autorisation en cours…" go to the screen that
follows; an F10 that fails in any way leaves the panel usable with a message."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.engine.views import OrderFilter
from tests.support.tui import burst, keys_of, message, settled

PREBUILD = True  # the kept panels built ahead after sign-on, as in production (tests/tui/conftest.py)

SIZE = (80, 24)
SIGN_ON = [*keys_of("OPER1"), "tab", *keys_of("oper1-demo"), "enter"]


def order_keys(
    customer: str = "100001", article: str = "BON0001", qty: str = "2", pan: str = "4970100000000014"
) -> list[str]:
    """The shortest path: customer (auto-advance), article Enter, quantity Enter, Enter on the empty
    line (to the card), card, expiry and CVV (each auto-advances), F10."""
    return [
        *keys_of(customer),
        *keys_of(article),
        "enter",
        *keys_of(qty),
        "enter",
        "enter",
        *keys_of(pan),
        *keys_of("1230"),
        *keys_of("123"),
        "f10",
    ]


def last_order(engine) -> m.Order:
    rows = engine.list_orders(OrderFilter(), limit=1)
    assert rows, "no order was created"
    return engine.get_order(rows[0].id)


def assert_order(o: m.Order, customer: int, article: str, qty: int, last4: str = "0014") -> None:
    assert o.customer_id == customer
    assert [(ln.article_code, ln.quantity) for ln in o.lines] == [(article, qty)]
    assert o.card is not None and str(o.card) == f"497010…{last4}"
    assert o.card_first6 == "497010" and o.card_last4 == last4


async def test_sign_on_menu_and_order_in_one_burst(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await burst(pilot, *SIGN_ON, "1", "enter", *order_keys())
        await settled(pilot)
        o = last_order(engine)
        assert_order(o, 100001, "BON0001", 2)
        assert o.status is m.OrderStatus.VALIDATED
        assert "validée" in message(pilot)
        assert app.screen.focused.id == "customer"  # ready for the next call


async def test_pilot_press_whole_order(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*SIGN_ON, "1", "enter", *order_keys(qty="3"))
        await settled(pilot)
        assert_order(last_order(engine), 100001, "BON0001", 3)


async def test_keys_typed_during_authorization_go_to_the_decision_panel(make_app, engine):
    """F10 on a refused card, then B Enter (block) and the next customer typed at once: the panel
    that follows gets B, and the next order's customer lands in the customer field."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await burst(
            pilot,
            *SIGN_ON,
            "1",
            "enter",
            *order_keys(qty="1", pan="4970100000000063"),
            "B",
            "enter",
            *keys_of("100002"),
        )
        await settled(pilot)
        o = last_order(engine)
        assert_order(o, 100001, "BON0001", 1, last4="0063")
        assert o.hold is m.PaymentHold.BLOCKED
        assert type(app.screen).__name__ == "OrderEntryScreen"
        assert app.screen.query_one("#customer").value == "100002"
        assert app.screen.focused.id == "art-0"  # the customer number is complete: the cursor moved on


async def test_keyboard_locked_beyond_the_buffer_says_so(make_app, engine, monkeypatch):
    """While F10 waits, keys are held; past the buffer's size each further key is refused with a
    message (never silently lost), and the held ones still land after the answer."""
    import asyncio

    import d400tui.widgets.keybuffer as kb

    monkeypatch.setattr(kb, "LIMIT", 6)
    gate = asyncio.Event()
    real = engine.place_order

    async def slow(*args, **kwargs):
        await gate.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(engine, "place_order", slow)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*SIGN_ON, "1", "enter", *order_keys())
        await pilot.pause()
        assert app.screen.keyboard_locked()
        await burst(pilot, *keys_of("10000299"))
        await pilot.pause()
        assert app.keys.refused == 2
        assert message(pilot) == "Clavier bloqué — autorisation en cours"
        assert app.screen.query_one("#customer").value == "100001"  # read-only meanwhile
        gate.set()
        await settled(pilot)
        assert app.screen.query_one("#customer").value == "100002"


async def test_f10_failing_in_any_way_leaves_the_panel_usable(make_app, engine, monkeypatch):
    """Issue 9 point 10, the screen's half: an exception, then a garbled answer, from F10: each ends
    with a message on the message line, the status cleared, keys taken again; then F10 works."""
    real = engine.place_order

    async def boom(*args, **kwargs):
        raise RuntimeError("connection to server lost")

    async def garbage(*args, **kwargs):
        return object()  # not a ValidationResult: reading it fails in the panel

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*SIGN_ON, "1", "enter")
        await settled(pilot)
        for fake in (boom, garbage):
            monkeypatch.setattr(engine, "place_order", fake)
            await burst(
                pilot,
                *keys_of("100001"),
                *keys_of("BON0001"),
                "enter",
                "enter",
                "enter",
                *keys_of("4970100000000014"),
                *keys_of("1230123"),
                "f10",
            )
            await settled(pilot)
            assert not app.screen.busy and not app.screen.keyboard_locked()
            assert "Incident pendant l'autorisation" in message(pilot)
            assert "RuntimeError" not in message(pilot) and "connection" not in message(pilot)
            assert str(app.screen.query_one("#status").render()) == ""
            assert app.screen.query_one("#customer").value == "100001"  # nothing typed is lost
            await pilot.press("f5")  # keys are processed again
            assert message(pilot) == "Prix et libellés relus"
            app.screen._finish("")  # the panel cleared as after an order, cursor on the customer
            await settled(pilot)
        monkeypatch.setattr(engine, "place_order", real)
        await burst(pilot, *order_keys(qty="1"))
        await settled(pilot)
        assert last_order(engine).status is m.OrderStatus.VALIDATED
