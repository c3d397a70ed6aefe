"""SVG snapshots of the list screens at 80×24 and 132×27 (the 5250 wide mode): work with orders
with its filters, display with its decision row, pre-check results with the decision on the rows
and the refusals-only view, the capture confirmation, the operators screen, the code prompt, the
customer prompt that found nothing, and the full list of results (F1). Fixed clock, fresh database."""

from __future__ import annotations

import asyncio

import pytest

from d400tui.domain import model as m
from d400tui.domain.cards import card_from_entry
from d400tui.engine.demo import demo_tokens, generate_orders
from tests.support.tui import FIXED, fill, sign_on, type_text, wait_for

PREBUILD = True  # the kept panels built ahead after sign-on, as in production (tests/tui/conftest.py)

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((132, 27), id="132x27")]
CARD = [("tok", "VISA", "497010", "0014", "12/30")]


def name(pilot) -> str:
    return type(pilot.app.screen).__name__


async def idle(pilot) -> None:
    await wait_for(
        pilot, lambda: not pilot.app.workers._workers and not getattr(pilot.app.screen, "busy", False), tries=300
    )  # noqa: SLF001
    await pilot.pause()


async def menu(pilot, option: str, supervisor: bool = False) -> None:
    if supervisor:
        await sign_on(pilot, "SUPER1", "super1-demo")
    else:
        await sign_on(pilot)
    await type_text(pilot, option)
    await pilot.press("enter")
    await pilot.pause()


async def refused_orders(engine, n: int = 2) -> list[int]:
    out = []
    for _ in range(n):
        card = card_from_entry("4970100000000055", "12/30", "123", FIXED.date())
        out.append((await engine.place_order(m.Actor("OPER1"), 100001, [("BON0001", 2)], card)).order.id)
    return out


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_lists_work_orders(snap_compare, make_app, engine, size):
    generate_orders(engine.db, 30, CARD, today=FIXED.date())
    asyncio.run(refused_orders(engine))

    async def run_before(pilot):
        await menu(pilot, "2")
        await fill(pilot, "f-mine", "N")
        await fill(pilot, "f-channel", "TEL")
        await pilot.press("enter")
        await pilot.pause()
        await fill(pilot, "sfl-opt-1", "5")

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_lists_display_order(snap_compare, make_app, engine, size):
    asyncio.run(refused_orders(engine, 1))

    async def run_before(pilot):
        await menu(pilot, "3")
        await fill(pilot, "sfl-opt-0", "5")
        await pilot.press("enter")
        await wait_for(pilot, lambda: name(pilot) == "DisplayOrderScreen")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


def _precheck_data(engine) -> None:
    from d400tui.acquirers.base import PaymentSource
    from d400tui.domain.cards import CardData, parse_expiry

    resp = asyncio.run(
        engine.acquirer.verify(
            PaymentSource(card=CardData("4970100000000022", parse_expiry("12/30"))), "snap-verify-0022"
        )
    )
    generate_orders(engine.db, 8, [(resp.token, "VISA", "497010", "0022", "12/30")], today=FIXED.date(), all_due=True)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_lists_precheck_refusals_decided(snap_compare, make_app, engine, size):
    _precheck_data(engine)

    async def run_before(pilot):
        await menu(pilot, "10", supervisor=True)
        await fill(pilot, "concurrency", "1")
        await pilot.press("f10")
        await idle(pilot)
        await fill(pilot, "view", "R")
        await pilot.press("enter")
        await pilot.pause()
        await fill(pilot, "sfl-opt-0", "B")
        await pilot.press("enter")
        await idle(pilot)
        pilot.app.screen.query_one("#view").focus()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_lists_capture_confirmation(snap_compare, make_app, engine, size):
    cards = asyncio.run(demo_tokens(engine.acquirer))
    generate_orders(engine.db, 6, cards, today=FIXED.date(), all_due=True)
    asyncio.run(engine.precheck(m.Actor("SUPER1", True), FIXED.date(), 1))

    async def run_before(pilot):
        await menu(pilot, "10", supervisor=True)
        await fill(pilot, "action", "2")
        await pilot.press("f10")
        await wait_for(pilot, lambda: name(pilot) == "ConfirmRunScreen")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_lists_operators(snap_compare, make_app, engine, size):
    from d400tui.engine.operators import sign_on as engine_sign_on

    for _ in range(5):
        try:
            engine_sign_on(engine.db, "OPER1", "not-the-password")
        except Exception:  # noqa: BLE001 - refused, as wanted: OPER1 ends locked
            pass

    async def run_before(pilot):
        await menu(pilot, "11", supervisor=True)
        await wait_for(pilot, lambda: name(pilot) == "OperatorsScreen")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_lists_code_prompt(snap_compare, make_app, engine, size):
    async def run_before(pilot):
        await menu(pilot, "2")
        pilot.app.screen.query_one("#f-status").focus()
        await pilot.press("f4")
        await wait_for(pilot, lambda: name(pilot) == "CodePromptScreen")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_lists_customer_prompt_nothing_found(snap_compare, make_app, engine, size):
    async def run_before(pilot):
        await menu(pilot, "2")
        pilot.app.screen.query_one("#f-customer").focus()
        await pilot.press("f4")
        await wait_for(pilot, lambda: name(pilot) == "PromptScreen")
        await fill(pilot, "search", "zzzz")
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_lists_results_f1(snap_compare, make_app, engine, size):
    asyncio.run(refused_orders(engine, 5))

    async def run_before(pilot):
        await menu(pilot, "3")
        for i in range(5):
            await fill(pilot, f"sfl-opt-{i}", "B")
        await pilot.press("enter")
        await idle(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: name(pilot) == "ResultsScreen")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
