"""SVG snapshots at 80×24 (fixed clock, fresh seeded database; no card number anywhere)."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.domain.cards import card_from_entry
from tests.support.tui import FIXED, fill, sign_on, type_text, wait_for

PREBUILD = True  # the kept panels built ahead after sign-on, as in production (tests/tui/conftest.py)

SIZE = (80, 24)


def name(pilot) -> str:
    return type(pilot.app.screen).__name__


async def idle(pilot) -> None:
    await wait_for(pilot, lambda: not pilot.app.workers._workers)  # noqa: SLF001
    await pilot.pause()


async def blocked_order(engine) -> int:
    card = card_from_entry("4970100000000048", "12/30", "123", FIXED.date())
    res = await engine.place_order(m.Actor("OPER1"), 100001, [("BON0001", 2), ("GRI0002", 1)], card)
    await engine.decide(m.Actor("OPER1"), res.order.id, m.DecisionKind.BLOCK)
    return res.order.id


def test_snapshot_signon(snap_compare, make_app):
    assert snap_compare(make_app(), terminal_size=SIZE)


def test_snapshot_menu(snap_compare, make_app):
    async def run_before(pilot):
        await sign_on(pilot, "SUPER1", "super1-demo")

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_order_entry(snap_compare, make_app):
    async def run_before(pilot):
        await sign_on(pilot)
        await type_text(pilot, "1")
        await pilot.press("enter")
        await pilot.pause()
        await fill(pilot, "customer", "100001")
        await fill(pilot, "art-0", "BON0001")
        await fill(pilot, "qty-0", "2")
        await fill(pilot, "art-1", "GRI0002")
        await fill(pilot, "card", "4970100000000014")
        await fill(pilot, "expiry", "12/30")
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_decision_panel(snap_compare, make_app):
    async def run_before(pilot):
        await sign_on(pilot)
        await type_text(pilot, "1")
        await pilot.press("enter")
        await pilot.pause()
        await fill(pilot, "customer", "100001")
        await fill(pilot, "art-0", "BON0001")
        await fill(pilot, "card", "4970100000000048")
        await fill(pilot, "expiry", "12/30")
        await fill(pilot, "cvv", "123")
        await pilot.press("f10")
        await wait_for(pilot, lambda: name(pilot) == "DecisionScreen")
        await idle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_work_with_orders(snap_compare, make_app, engine):
    import asyncio

    from d400tui.engine.demo import generate_orders

    generate_orders(engine.db, 30, [("tok", "VISA", "497010", "0014", "12/30")], today=FIXED.date())
    asyncio.run(blocked_order(engine))

    async def run_before(pilot):
        await sign_on(pilot)
        await type_text(pilot, "2")
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_display_order(snap_compare, make_app, engine):
    import asyncio

    oid = asyncio.run(blocked_order(engine))

    async def run_before(pilot):
        await sign_on(pilot)
        await type_text(pilot, "2")
        await pilot.press("enter")
        await pilot.pause()
        await fill(pilot, "sfl-opt-0", "5")
        await pilot.press("enter")
        await wait_for(pilot, lambda: name(pilot) == "DisplayOrderScreen")
        await pilot.pause()

    assert oid == 1
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_snapshot_precheck_results(snap_compare, make_app, engine):
    import asyncio

    from d400tui.engine.demo import demo_tokens, generate_orders

    cards = asyncio.run(demo_tokens(engine.acquirer))
    generate_orders(engine.db, 6, cards, today=FIXED.date(), all_due=True)

    async def run_before(pilot):
        await sign_on(pilot, "SUPER1", "super1-demo")
        await type_text(pilot, "10")
        await pilot.press("enter")
        await pilot.pause()
        await fill(pilot, "concurrency", "1")
        await pilot.press("f10")
        await idle(pilot)
        pilot.app.screen.query_one("#run-date").focus()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)
