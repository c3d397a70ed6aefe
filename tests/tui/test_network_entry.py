"""Pilot tests of the network choice at entry (issue 13.2): CB by default on a co-badged card, F8
the other network on the customer's request (and back), no choice on a Visa-only card; the
choice reaches the authorization. And the CVV result on the display panel (13.3)."""

from __future__ import annotations

from d400tui.domain.cards import Brand
from d400tui.engine.views import OrderFilter
from tests.support.tui import fill, message, screen_text

from .test_flows import SIZE, open_entry, wait_idle


def network_line(pilot) -> str:
    return str(pilot.app.screen.query_one("#network").render())


async def typed_card(pilot, pan: str, cvv: str = "123") -> None:
    await fill(pilot, "customer", "100001")
    await fill(pilot, "art-0", "BON0001")
    await fill(pilot, "qty-0", "1")
    await fill(pilot, "card", pan)
    await fill(pilot, "expiry", "12/30")
    await fill(pilot, "cvv", cvv)


def last_auth(engine):
    row = engine.list_orders(OrderFilter())[0]
    return engine.get_order(row.id).authorizations[-1]


async def test_co_badged_card_cb_by_default(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await typed_card(pilot, "4970100000000014")
        assert "Réseau CB" in network_line(pilot) and "F8 : Visa" in network_line(pilot)
        await pilot.press("f10")
        await wait_idle(pilot)
    assert last_auth(engine).network == "CB"


async def test_f8_switches_to_visa_on_request_and_back(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await typed_card(pilot, "4970100000000014")
        await pilot.press("f8")
        await pilot.pause()
        assert "Réseau Visa choisi" in message(pilot)
        assert "Réseau Visa à la demande du client" in network_line(pilot)
        await pilot.press("f8")
        await pilot.pause()
        assert "Réseau CB" in network_line(pilot)
        await pilot.press("f8")  # Visa again: the one sent
        await pilot.pause()
        assert pilot.app.screen._network is Brand.VISA  # noqa: SLF001
        await pilot.press("f10")
        await wait_idle(pilot)
        assert "4970100000000014" not in screen_text(app)
    auth = last_auth(engine)
    assert auth.network == "VISA"
    assert engine.acquirer.issuer.hold_networks()[auth.acquirer_ref] == "VISA"


async def test_another_card_typed_goes_back_to_cb(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await typed_card(pilot, "4970100000000014")
        await pilot.press("f8")
        await fill(pilot, "card", "5130100000000018")
        await fill(pilot, "expiry", "06/31")
        assert "Réseau CB" in network_line(pilot) and "Mastercard" in network_line(pilot)


async def test_visa_only_card_offers_no_choice(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await typed_card(pilot, "4111111111111111")
        assert "pas de choix" in network_line(pilot) and "F8" not in network_line(pilot)
        await pilot.press("f8")
        await pilot.pause()
        assert "non co-badgée" in message(pilot)
        await pilot.press("f10")
        await wait_idle(pilot)
    assert last_auth(engine).network == "VISA"


async def test_f8_before_any_card_says_what_to_do(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await pilot.press("f8")
        await pilot.pause()
        assert "numéro de carte" in message(pilot)
