"""SUPERV: the supervision screen's figures and chart, refreshed on F5; refused to operators."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from d400tui.domain import model as m
from d400tui.domain.cards import card_from_entry
from d400tui.screens.supervision import SupervisionScreen
from d400tui.store import tables as t
from tests.support.tui import FIXED, message, sign_on, wait_for

from .test_snapshots import SIZE, idle
from .test_snapshots_lists import SIZES


async def orders(engine, *pans: str) -> list[int]:
    ids = []
    for pan in pans:
        res = await engine.place_order(
            m.Actor("OPER1"), 100001, [("BON0001", 1)], card_from_entry(pan, "12/30", "123", FIXED.date())
        )
        ids.append(res.order.id)
    a = t.authorizations
    with engine.db.engine.begin() as conn:  # fixed latencies: 120 ms each, for the snapshot
        for aid, requested in conn.execute(select(a.c.id, a.c.requested_at)).all():
            conn.execute(update(a).where(a.c.id == aid).values(answered_at=requested + timedelta(milliseconds=120)))
    return ids


async def open_supervision(pilot, name="SUPER1", password="super1-demo") -> SupervisionScreen:
    await sign_on(pilot, name, password)
    screen = SupervisionScreen(refresh_s=None)
    pilot.app.push_screen(screen)
    await pilot.pause()
    await wait_for(pilot, lambda: not screen.busy)
    await idle(pilot)
    return screen


def figures(pilot) -> str:
    return str(pilot.app.screen.query_one("#figures").render())


async def test_figures_then_f5_after_a_new_order(make_app, engine):
    ids = await orders(engine, "4970100000000014", "4970100000000055", "4970100000000048")
    await engine.decide(m.Actor("OPER1"), ids[2], m.DecisionKind.BLOCK)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_supervision(pilot)
        text = figures(pilot)
        assert re.search(r"Demandes[ .]+ 3 +3\n", text)
        assert "33.3 %" in text and "120/120" in text and "1/0" in text
        assert screen.data["period"]["refusals_by_category"] == {"BLOCKED": 1, "CEILING": 1}
        await orders(engine, "4970100000000014")
        await pilot.press("f5")
        await wait_for(pilot, lambda: not screen.busy)
        await idle(pilot)
        assert re.search(r"Demandes[ .]+ 4 +4\n", figures(pilot))
        assert "50.0 %" in figures(pilot)


async def test_refused_to_an_operator(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_supervision(pilot, "OPER1", "oper1-demo")
        assert message(pilot) == "Statistiques : réservé aux superviseurs"
        assert "Demandes" not in figures(pilot)


WRITER = """
import asyncio
from datetime import datetime
from d400tui.config import Settings
from d400tui.domain import model as m
from d400tui.domain.cards import card_from_entry
from d400tui.engine import open_engine
e = open_engine(Settings(), clock=lambda: datetime(2025, 6, 2, 10, 31))
card = card_from_entry("4970100000000055", "12/30", "123", e.today())
asyncio.run(e.place_order(m.Actor("OPER1"), 100001, [("BON0001", 1)], card))
e.db.dispose()
"""


async def test_an_order_from_another_process_shows_at_the_next_poll(make_app, engine):
    """The change marker is polled (here every 50 ms instead of 1.5 s, no 10 s timer at all): an
    authorization written by another process while the screen is up reloads the figures; a poll
    that finds nothing new reloads nothing."""
    await orders(engine, "4970100000000014")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot, "SUPER1", "super1-demo")
        screen = SupervisionScreen(refresh_s=None, poll_s=None)
        pilot.app.push_screen(screen)
        await wait_for(pilot, lambda: screen.loads == 1 and not screen.busy)
        assert re.search(r"Demandes[ .]+ 1 +1\n", figures(pilot))
        for _ in range(3):
            screen.poll()
            await wait_for(pilot, lambda: not screen.busy)
        assert screen.loads == 1  # nothing changed: no full reload
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, env=dict(os.environ))
        assert await proc.wait() == 0
        screen.set_interval(0.05, screen.poll)
        await wait_for(pilot, lambda: screen.loads == 2, tries=1000)
        await idle(pilot)
        assert re.search(r"Demandes[ .]+ 2 +2\n", figures(pilot))
        assert "50.0 %" in figures(pilot)  # the second card (…0055) is refused


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_supervision(snap_compare, make_app, engine, size):
    async def run_before(pilot):
        ids = await orders(
            engine, "4970100000000014", "4970100000000014", "4970100000000055", "4970100000000048", "4970100000000063"
        )
        await engine.decide(m.Actor("OPER1"), ids[3], m.DecisionKind.BLOCK)
        await open_supervision(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
