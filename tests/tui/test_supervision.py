"""SUPERV: the supervision screen's figures and chart, refreshed on F5; refused to operators."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from d400tui.domain import model as m
from d400tui.domain.cards import card_from_entry
from d400tui.screens.supervision import SupervisionScreen
from d400tui.store import tables as t
from tests.support.tui import FIXED, message, sign_on, wait_for

from .test_snapshots import SIZE, idle


async def orders(engine, *pans: str) -> list[int]:
    ids = []
    for pan in pans:
        res = await engine.place_order(m.Actor("OPER1"), 100001, [("BON0001", 1)],
                                       card_from_entry(pan, "12/30", "123", FIXED.date()))
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


def test_snapshot_supervision(snap_compare, make_app, engine):
    async def run_before(pilot):
        ids = await orders(engine, "4970100000000014", "4970100000000014", "4970100000000055",
                           "4970100000000048", "4970100000000063")
        await engine.decide(m.Actor("OPER1"), ids[3], m.DecisionKind.BLOCK)
        await open_supervision(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)
