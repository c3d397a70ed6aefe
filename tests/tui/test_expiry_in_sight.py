"""Work with orders shows how long each live authorization still holds ("expire dans 2 j" at 132
columns, "2 j" at 80) and filters "autorisations expirant sous 48 h" (Pilot, and snapshots of the
filtered list at 80×24 and 132×27, on the fixed clock)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from d400tui.domain import model as m
from d400tui.domain.cards import card_from_entry
from tests.support.tui import FIXED, fill, screen_text, sign_on, type_text

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((132, 27), id="132x27")]
CUSTOMERS = (100001, 100002, 100003, 100004)


async def orders_of_every_age(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Orders authorized 6 days, 5 days 12 h, 3 days and 8 days ago (7-day holds): lapsing in 1 day,
    in 36 h, in 4 days, and lapsed; one cheque order with no authorization."""
    made: dict[str, int] = {}

    async def place(name: str, ago: timedelta, customer: int) -> None:
        engine.clock = lambda: FIXED - ago
        card = card_from_entry("4970100000000014", "12/30", "123", (FIXED - ago).date())
        made[name] = (await engine.place_order(m.Actor("OPER1"), customer, [("BON0001", 1)], card)).order.id

    async def all_of_them() -> None:
        await place("lapsed", timedelta(days=8), CUSTOMERS[0])
        await place("four_days", timedelta(days=3), CUSTOMERS[1])
        await place("in_36h", timedelta(days=5, hours=12), CUSTOMERS[2])
        await place("one_day", timedelta(days=6), CUSTOMERS[3])
        engine.clock = lambda: FIXED
        cheque = await engine.place_order(
            m.Actor("OPER1"), 100001, [("BON0001", 1)], None, payment_method=m.PaymentMethod.CHEQUE
        )
        made["cheque"] = cheque.order.id

    await all_of_them()
    engine.clock = lambda: FIXED
    return made


async def open_list(pilot, show: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Work with orders, every operator's orders (Mes cdes N), shown (Enter) unless `show` is False."""
    await sign_on(pilot)
    await type_text(pilot, "2")
    await pilot.press("enter")
    await pilot.pause()
    await fill(pilot, "f-mine", "N")
    if show:
        await pilot.press("enter")
        await pilot.pause()


def row_of(pilot, order_id: int) -> str:  # type: ignore[no-untyped-def]
    return next(line for line in screen_text(pilot.app).splitlines() if line.strip().startswith(f"{order_id} "))


async def test_each_row_says_how_long_its_authorization_holds(make_app, engine) -> None:
    made = await orders_of_every_age(engine)
    app = make_app()
    async with app.run_test(size=(132, 27)) as pilot:
        await open_list(pilot)
        assert row_of(pilot, made["one_day"]).rstrip().endswith("expire dans 1 j")
        assert row_of(pilot, made["in_36h"]).rstrip().endswith("expire dans 1 j")  # 36 h: whole days
        assert row_of(pilot, made["four_days"]).rstrip().endswith("expire dans 4 j")
        assert row_of(pilot, made["lapsed"]).rstrip().endswith("expirée")
        assert "expire" not in row_of(pilot, made["cheque"])
        # the filter: only the holds that lapse within 48 h, newest first
        await fill(pilot, "f-expiring", "O")
        await pilot.press("enter")
        await pilot.pause()
        shown = [k for k in pilot.app.screen.query_one("#orders").keys]
        assert shown == [made["one_day"], made["in_36h"]]
        assert "autorisations expirant sous 48 h" in screen_text(pilot.app)


async def test_the_narrow_list_says_it_in_hours_under_a_day(make_app, engine) -> None:
    made = await orders_of_every_age(engine)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_list(pilot)
        assert row_of(pilot, made["one_day"]).rstrip().endswith("1 j")
        assert row_of(pilot, made["lapsed"]).rstrip().endswith("échue")
        engine.clock = lambda: FIXED + timedelta(hours=20)  # 4 hours left on one_day
        await pilot.press("f5")
        await pilot.pause()
        assert row_of(pilot, made["one_day"]).rstrip().endswith("4 h")


async def test_a_bad_expiring_value_is_said_on_its_field(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_list(pilot, show=False)
        await fill(pilot, "f-expiring", "X")
        await pilot.press("enter")
        await pilot.pause()
        assert "Expirant sous 48 h : O (oui) ou N (non)" in screen_text(pilot.app)
        assert pilot.app.screen.focused.id == "f-expiring"


async def test_f4_on_the_expiring_field_offers_its_codes(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_list(pilot, show=False)
        pilot.app.screen.query_one("#f-expiring").focus()
        await pilot.press("f4")
        await pilot.pause()
        assert "Oui : autorisations expirant sous 48 h seulement" in screen_text(pilot.app)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_work_orders_expiring(snap_compare, make_app, engine, size) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(orders_of_every_age(engine))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await open_list(pilot)
        await fill(pilot, "f-expiring", "O")
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_work_orders_with_expiry(snap_compare, make_app, engine, size) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(orders_of_every_age(engine))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await open_list(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
