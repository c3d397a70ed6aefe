"""Option E "Expédier" of work with orders (issue 12.1): the panel lists each line's ordered,
shipped and left quantities, takes the quantities of a parcel, refuses more than is left on the
message line, records the parcel; the last parcel closes the shipping. Pilot and an 80×24 snapshot."""

from __future__ import annotations

from decimal import Decimal

from d400tui.domain import model as m
from d400tui.domain.cards import card_from_entry
from tests.support.tui import FIXED, fill, message, screen_text, sign_on, type_text, wait_for

from .test_flows import open_work, screen_name, wait_idle

SIZE = (80, 24)
OPER = m.Actor("OPER1")
LINES = [("BON0001", 2), ("GRI0002", 1), ("RID0003", 1)]


async def three_line_order(engine) -> int:  # type: ignore[no-untyped-def]
    card = card_from_entry("4970100000000014", "12/30", "123", FIXED.date())
    res = await engine.place_order(OPER, 100001, LINES, card)
    assert res.approved
    return res.order.id


async def _open_ship(pilot) -> None:  # type: ignore[no-untyped-def]
    await fill(pilot, "sfl-opt-0", "E")
    await pilot.press("enter")
    await wait_for(pilot, lambda: screen_name(pilot) == "ShipmentScreen")
    await pilot.pause()


async def test_option_e_ships_a_parcel_then_the_last(make_app, engine):
    oid = await three_line_order(engine)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await _open_ship(pilot)
        text = screen_text(app)
        assert f"Expédier la commande {oid}" in text and "BON0001" in text and "RID0003" in text
        await fill(pilot, "qty-1", "3")  # 2 ordered
        await pilot.press("f10")
        await pilot.pause()
        assert screen_name(pilot) == "ShipmentScreen" and "BON0001 : 3 demandé(s), 2 restant(s)" in message(pilot)
        await fill(pilot, "qty-1", "2")
        await fill(pilot, "qty-2", "1")
        await pilot.press("f10")
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        await wait_idle(pilot)
        assert f"commande {oid} : expédition" in message(pilot).lower()
        view = engine.shipping_view(oid)
        assert view.state.shipped == Decimal("203.92") and not view.state.final
        assert view.left == {1: 0, 2: 0, 3: 1}

        await _open_ship(pilot)  # the lines shipped are closed; the last one is left
        assert app.screen.query_one("#qty-1").disabled and not app.screen.query_one("#qty-3").disabled
        await pilot.press("f12")  # returns without shipping
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        await wait_idle(pilot)
        assert engine.shipping_view(oid).state.parcels == 1
        await _open_ship(pilot)
        await fill(pilot, "qty-3", "1")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "WorkOrdersScreen")
        await wait_idle(pilot)
        assert "dernière expédition" in message(pilot)
    assert engine.shipping_view(oid).state.final


async def test_option_e_refused_on_a_cancelled_order(make_app, engine):
    oid = await three_line_order(engine)
    await engine.cancel_order(OPER, oid, "client")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await fill(pilot, "sfl-opt-0", "E")
        await pilot.press("enter")
        await wait_idle(pilot)
        assert screen_name(pilot) != "ShipmentScreen"
        assert "expédition impossible" in screen_text(app) + message(pilot)
    assert engine.shipping_view(oid).state.parcels == 0


async def test_option_e_nothing_typed_is_said(make_app, engine):
    await three_line_order(engine)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_work(pilot)
        await _open_ship(pilot)
        await pilot.press("f10")
        await pilot.pause()
        assert screen_name(pilot) == "ShipmentScreen" and "Rien à expédier" in message(pilot)
        await fill(pilot, "final", "X")
        await pilot.press("f10")
        await pilot.pause()
        assert "O ou N" in message(pilot)


def test_snapshot_shipment_panel(snap_compare, make_app, engine):
    import asyncio

    oid = asyncio.run(three_line_order(engine))
    engine.ship(OPER, oid, [("BON0001", 1)])

    async def run_before(pilot):
        await sign_on(pilot)
        await type_text(pilot, "2")
        await pilot.press("enter")
        await pilot.pause()
        await _open_ship(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)
