"""VOIDS: the supervisors' list of voids that did not get through, oldest hold first, with their
tries and next try; R retries one now, F10 those whose next try has come; operators are refused
by the engine even when the screen is pushed (Pilot, and snapshots at 80×24 and 132×27)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from d400tui.domain import model as m
from d400tui.domain.cards import card_from_entry
from d400tui.screens.pending_voids import PendingVoidsScreen
from tests.support.tui import FIXED, message, sign_on, type_text, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((132, 27), id="132x27")]
OPER = m.Actor("OPER1")


async def voids_left_pending(engine) -> list[int]:  # type: ignore[no-untyped-def]
    """Two orders cancelled while the acquirer is down: the younger hold cancelled first."""
    made = []
    for ago, customer in ((timedelta(days=2, hours=3), 100001), (timedelta(hours=5), 100002)):
        engine.clock = lambda ago=ago: FIXED - ago
        card = card_from_entry("4970100000000014", "12/30", "123", (FIXED - ago).date())
        made.append((await engine.place_order(OPER, customer, [("BON0001", 1)], card)).order.id)
    engine.clock = lambda: FIXED - timedelta(minutes=2)
    engine.acquirer.fault_rate = 1.0
    for oid in reversed(made):
        await engine.cancel_order(OPER, oid, "client injoignable")
    engine.clock = lambda: FIXED
    return made  # oldest hold first


async def open_voids(pilot, name: str = "SUPER1", password: str = "super1-demo") -> PendingVoidsScreen:  # type: ignore[no-untyped-def]
    await sign_on(pilot, name, password)
    screen = PendingVoidsScreen()
    pilot.app.push_screen(screen)
    await pilot.pause()
    return screen


async def test_oldest_hold_first_f10_waits_for_the_backoff_r_retries_now(make_app, engine) -> None:
    ids = await voids_left_pending(engine)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_voids(pilot)
        assert [p.order_id for p in screen.shown] == ids
        text = str(screen.query_one("#sfl-text").render())
        assert "2 j" in text and "5 h" in text and "02/06 10:33" in text  # held 2 days / 5 hours, next try
        await pilot.press("f10")  # still before the next try: nothing is tried
        await wait_for(pilot, lambda: not screen.busy)
        await pilot.pause()
        assert message(pilot) == "Relance : 0 réglée(s), 0 toujours en attente"
        assert [p.attempts for p in screen.shown] == [1, 1]
        engine.acquirer.fault_rate = 0.0  # the service is back
        await type_text(pilot, "R")  # the oldest hold, at once
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.busy)
        await pilot.pause()
        assert "annulée" in message(pilot)
        assert [p.order_id for p in screen.shown] == ids[1:]
        assert engine.get_order(ids[0]).authorizations[0].state is m.AuthState.VOIDED


async def test_a_bad_option_is_said_on_its_row(make_app, engine) -> None:
    await voids_left_pending(engine)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_voids(pilot)
        await type_text(pilot, "X")
        await pilot.press("enter")
        await pilot.pause()
        assert "X" in message(pilot) and pilot.app.screen.focused.id == "sfl-opt-0"


async def test_an_operator_is_refused_by_the_engine(make_app, engine) -> None:
    await voids_left_pending(engine)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_voids(pilot, "OPER1", "oper1-demo")
        assert "superviseurs" in message(pilot) and screen.shown == []


async def test_menu_option_15_opens_it_for_supervisors_only(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_on(pilot, "SUPER1", "super1-demo")
        await type_text(pilot, "15")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(pilot.app.screen, PendingVoidsScreen)
        assert message(pilot) == "Aucune annulation en attente"


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_pending_voids(snap_compare, make_app, engine, size) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(voids_left_pending(engine))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await open_voids(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


async def test_pages_down_and_up_over_more_voids_than_a_page(make_app, engine) -> None:
    """More pending voids than the page holds: PageDown shows the rest in the same clock order,
    PageUp comes back; past either end the message line says so."""
    made = []
    for k in range(16):
        engine.clock = lambda k=k: FIXED - timedelta(hours=40 - k)
        card = card_from_entry("4970100000000014", "12/30", "123", FIXED.date())
        made.append((await engine.place_order(OPER, 100001 + k, [("BON0001", 1)], card)).order.id)
    engine.acquirer.fault_rate = 1.0
    engine.clock = lambda: FIXED - timedelta(minutes=2)
    for oid in made:
        await engine.cancel_order(OPER, oid, "client injoignable")
    engine.clock = lambda: FIXED
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_voids(pilot)
        size = len(screen.shown)
        assert 0 < size < 16 and [p.order_id for p in screen.shown] == made[:size]
        await pilot.press("pageup")
        await pilot.pause()
        assert message(pilot) == "Début de liste atteint"
        await pilot.press("pagedown")
        await pilot.pause()
        assert [p.order_id for p in screen.shown] == made[size:]
        await pilot.press("pagedown")
        await pilot.pause()
        assert message(pilot) == "Fin de liste atteinte"
        await pilot.press("pageup")
        await pilot.pause()
        assert [p.order_id for p in screen.shown] == made[:size]
