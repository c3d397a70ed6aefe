"""BLOCKED: the supervisors' queue of orders on payment hold, oldest first; release and keep blocked."""

from __future__ import annotations

import pytest

from d400tui.domain import model as m
from d400tui.screens.blocked import BlockedScreen
from tests.support.tui import message, sign_on, type_text, wait_for

from .test_snapshots import SIZE
from .test_snapshots_lists import SIZES
from .test_supervision import orders

OPER = m.Actor("OPER1")


async def blocked(engine) -> list[int]:
    ids = await orders(engine, "4970100000000048", "4970100000000014", "4970100000000030", "4970100000000055")
    for oid in (ids[0], ids[2], ids[3]):
        await engine.decide(OPER, oid, m.DecisionKind.BLOCK)
    return [ids[0], ids[2], ids[3]]


async def open_queue(pilot, name="SUPER1", password="super1-demo") -> BlockedScreen:
    await sign_on(pilot, name, password)
    screen = BlockedScreen(page_size=2)
    pilot.app.push_screen(screen)
    await pilot.pause()
    return screen


def shown_ids(screen) -> list[int]:
    return [b.row.id for b in screen.shown]


async def test_oldest_first_release_and_keep(make_app, engine):
    ids = await blocked(engine)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        assert shown_ids(screen) == ids[:2] and screen.more
        text = str(screen.query_one("#sfl-text").render())
        assert "43 " in text and "OPER1    02/06 10:30" in text  # what the operator saw, who decided
        await pilot.press("pagedown")
        await pilot.pause()
        assert shown_ids(screen) == ids[2:]
        await pilot.press("pageup")
        await pilot.pause()
        await type_text(pilot, "L")  # first row: release
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.busy)
        await pilot.pause()
        assert message(pilot) == f"Commande {ids[0]} libérée"
        assert shown_ids(screen) == ids[1:]
        await type_text(pilot, "B")  # keep blocked: stays in the queue, the supervisor's own decision
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.busy)
        await pilot.pause()
        assert shown_ids(screen) == ids[1:]
        await type_text(pilot, "X")
        await pilot.press("enter")
        await pilot.pause()
        assert "X" in message(pilot)
    released, kept = engine.get_order(ids[0]), engine.get_order(ids[1])
    assert released.hold == m.PaymentHold.RELEASED and released.decisions[-1].operator == "SUPER1"
    assert kept.hold == m.PaymentHold.BLOCKED
    assert (kept.decisions[-1].operator, kept.decisions[-1].kind) == ("SUPER1", m.DecisionKind.BLOCK)
    actions = [(r["actor"], r["order_id"]) for r in engine.audit_trail(m.Actor("SUPER1", True), limit=50)]
    assert ("SUPER1", ids[0]) in actions and ("SUPER1", ids[1]) in actions


async def test_refused_to_an_operator(make_app, engine):
    await blocked(engine)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot, "OPER1", "oper1-demo")
        assert "réservé aux superviseurs" in message(pilot) and screen.shown == []


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_blocked(snap_compare, make_app, engine, size):
    async def run_before(pilot):
        await blocked(engine)
        await open_queue(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
