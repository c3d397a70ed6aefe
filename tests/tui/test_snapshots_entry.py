"""SVG snapshots of the entry branch's screens at 80×24 and at 132×27 (the 5250 wide mode), with a
layout check on each: every widget inside the screen (no cut label or amount), the message line on
the last row and visible. Fixed clock, fresh seeded database, no card number anywhere."""

from __future__ import annotations

import asyncio

import pytest

from d400tui.domain import model as m
from d400tui.domain.cards import card_from_entry
from tests.support.tui import FIXED, burst, keys_of, settled

from .test_typeahead import SIGN_ON, order_keys

PREBUILD = True  # the kept panels built ahead after sign-on, as in production (tests/tui/conftest.py)

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((132, 27), id="132x27")]
OPER = m.Actor("OPER1")


def check_layout(app, size: tuple[int, int]) -> None:
    """Nothing drawn past the right edge or the last row; the message line is on screen."""
    width, height = size
    for screen in app.screen_stack[-1:]:
        for w in screen.query("*"):
            if not w.display or not w.visible or w.region.area == 0:
                continue
            assert w.region.right <= width, f"{w!r} is cut at the right edge ({w.region})"
            assert w.region.bottom <= height, f"{w!r} is below the last row ({w.region})"
        msg = screen.query("#message")
        assert msg, "no message line"
        assert msg.first().region.height == 1 and msg.first().region.bottom <= height


async def entry(pilot, *keys: str) -> None:
    await burst(pilot, *SIGN_ON, "1", "enter", *keys)
    await settled(pilot)


def snap(snap_compare, make_app, size, run_before) -> bool:
    async def before(pilot):
        await run_before(pilot)
        check_layout(pilot.app, size)

    return snap_compare(make_app(), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_entry_snapshot_signon(snap_compare, make_app, size):
    async def run_before(pilot):
        await pilot.pause()

    assert snap(snap_compare, make_app, size, run_before)


@pytest.mark.parametrize("size", SIZES)
def test_entry_snapshot_order_filled(snap_compare, make_app, size):
    async def run_before(pilot):
        await entry(
            pilot,
            *keys_of("100001"),
            *keys_of("BON0001"),
            "enter",
            "2",
            "enter",
            *keys_of("GRI0002"),
            "enter",
            "enter",
            "enter",
            *keys_of("4970100000000014"),
            *keys_of("1230"),
        )

    assert snap(snap_compare, make_app, size, run_before)


@pytest.mark.parametrize("size", SIZES)
def test_entry_snapshot_card_in_error(snap_compare, make_app, size):
    async def run_before(pilot):
        # a number too short to be a card, left with Enter: in error, kept for correction (a
        # full-length wrong number would put 16 digits in the snapshot)
        await entry(
            pilot, *keys_of("100001"), *keys_of("BON0001"), "enter", "enter", "enter", *keys_of("497010000001"), "enter"
        )

    assert snap(snap_compare, make_app, size, run_before)


@pytest.mark.parametrize("size", SIZES)
def test_entry_snapshot_card_on_file(snap_compare, make_app, engine, size):
    card = card_from_entry("4970100000000014", "12/30", "123", FIXED.date())
    asyncio.run(engine.place_order(OPER, 100001, [("GRI0002", 1)], card))

    async def run_before(pilot):
        await entry(pilot, *keys_of("100001"), *keys_of("BON0001"), "enter", "enter", "enter", "asterisk")

    assert snap(snap_compare, make_app, size, run_before)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "pan", [pytest.param("4970100000000048", id="refused"), pytest.param("4970100000000089", id="no_answer")]
)
def test_entry_snapshot_decision(snap_compare, make_app, size, pan):
    async def run_before(pilot):
        await entry(pilot, *order_keys(qty="1", pan=pan))

    assert snap(snap_compare, make_app, size, run_before)


@pytest.mark.parametrize("size", SIZES)
def test_entry_snapshot_abandon(snap_compare, make_app, size):
    async def run_before(pilot):
        await entry(pilot, *keys_of("100001"), *keys_of("BON0001"), "enter", "enter", "f12")

    assert snap(snap_compare, make_app, size, run_before)


@pytest.mark.parametrize("size", SIZES)
def test_entry_snapshot_draft_question(snap_compare, make_app, engine, size):
    engine.save_draft(OPER, {"v": 1, "customer": "100002", "lines": [["GRI0002", "1"]], "method": "CARTE", "plan": "I"})

    async def run_before(pilot):
        await burst(pilot, *SIGN_ON)
        await settled(pilot)

    assert snap(snap_compare, make_app, size, run_before)


@pytest.mark.parametrize("size", SIZES)
def test_entry_snapshot_payment_change(snap_compare, make_app, engine, size):
    card = card_from_entry("4970100000000048", "12/30", "123", FIXED.date())
    oid = asyncio.run(engine.place_order(OPER, 100001, [("BON0001", 1)], card)).order.id

    async def run_before(pilot):
        from d400tui.screens.payment_change import PaymentChangeScreen

        await burst(pilot, *SIGN_ON)
        await settled(pilot)
        pilot.app.push_screen(PaymentChangeScreen(oid))
        await settled(pilot)
        await burst(pilot, "enter", *keys_of("5130100000000018"))
        await settled(pilot)

    assert snap(snap_compare, make_app, size, run_before)
