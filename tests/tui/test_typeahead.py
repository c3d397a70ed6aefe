"""Type-ahead (issue 11 point 1): a whole order typed as one burst, with no pause between keys,
lands field by field as typed; keys typed during "Autorisation en cours…" go to the screen that
follows; an F10 that fails in any way leaves the panel usable with a message."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.engine.views import OrderFilter

from .helpers import burst, keys_of, message, settled

SIZE = (80, 24)
SIGN_ON = [*keys_of("OPER1"), "tab", *keys_of("oper1-demo"), "enter"]


def order_keys(customer: str = "100001", article: str = "BON0001", qty: str = "2",
               pan: str = "4970100000000014") -> list[str]:
    """The shortest path: customer (auto-advance), article Enter, quantity Enter, Enter on the empty
    line (to the card), card, expiry and CVV (each auto-advances), F10."""
    return [*keys_of(customer), *keys_of(article), "enter", *keys_of(qty), "enter", "enter",
            *keys_of(pan), *keys_of("1230"), *keys_of("123"), "f10"]


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
