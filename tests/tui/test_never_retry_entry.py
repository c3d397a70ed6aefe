"""Order entry with a card refused never-retry on an earlier order (issue 13.1, issuer branch):
one line on the message line, the card field in error, nothing saved, the issuer not asked."""

from __future__ import annotations

from d400tui.engine.views import OrderFilter
from tests.support.demo import OPER, card
from tests.support.tui import message

from .test_flows import SIZE, enter_order, no_pan_anywhere, open_entry, screen_name, wait_idle

LOST = "4970100000000030"


async def test_a_card_refused_41_before_is_refused_at_entry(make_app, engine):
    first = await engine.place_order(OPER, 100002, [("BON0001", 1)], card(LOST))
    assert first.failed is not None and first.failed.code == "41"
    calls = len(engine.acquirer.issuer.holds())
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await enter_order(pilot, LOST)
        await wait_idle(pilot)
        assert screen_name(pilot) == "OrderEntryScreen"  # no decision panel: nothing was asked
        line = message(pilot)
        assert "code 41" in line and "interdit de la représenter" in line
        assert app.screen.query_one("#card").has_class("error")
        no_pan_anywhere(app, LOST)
    assert len(engine.list_orders(OrderFilter())) == 1  # the first order only
    assert len(engine.acquirer.issuer.holds()) == calls
