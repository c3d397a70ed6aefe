"""AUDIT: the trail filtered, paged with PageDown/PageUp, exported to CSV with F10; supervisors only."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from d400tui.domain import model as m
from d400tui.screens.audit import AuditScreen
from tests.support.tui import fill, message, sign_on, wait_for

from .test_snapshots import SIZE
from .test_snapshots_lists import SIZES
from .test_supervision import orders


async def open_audit(pilot, name="SUPER1", password="super1-demo") -> AuditScreen:
    await sign_on(pilot, name, password)
    screen = AuditScreen(page_size=4)
    pilot.app.push_screen(screen)
    await pilot.pause()
    return screen


def shown(pilot) -> str:
    return str(pilot.app.screen.query_one("#sfl-text").render())


async def test_filter_page_and_export(make_app, engine):
    ids = await orders(engine, "4970100000000014", "4970100000000014", "4970100000000055")
    await engine.cancel_order(m.Actor("SUPER1", True), ids[0], '=HYPERLINK("http://evil")')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_audit(pilot)
        first = shown(pilot)
        assert len(first.splitlines()) == 4 and screen.more
        await pilot.press("pagedown")
        await pilot.pause()
        assert shown(pilot) != first
        await pilot.press("pageup")
        await pilot.pause()
        assert shown(pilot) == first
        await fill(pilot, "f-order", str(ids[2]))
        await pilot.press("enter")
        await pilot.pause()
        assert all(f" {ids[2]} " in line for line in shown(pilot).splitlines())
        await fill(pilot, "f-order", "")
        await fill(pilot, "f-action", "ORDER_CANCEL")
        await pilot.press("enter")
        await pilot.pause()
        assert shown(pilot).splitlines() and all("ORDER_CANCEL" in ln for ln in shown(pilot).splitlines())
        assert "HYPERLINK" in shown(pilot)
        await fill(pilot, "f-action", "")
        await pilot.press("enter", "f10")
        await pilot.pause()
        assert "exportée(s)" in message(pilot)
        path = Path(message(pilot).split(" dans ")[1])
        assert path.parent == Path(os.environ["D400_HOME"])
        rows = list(csv.reader(path.open(encoding="utf-8")))
        assert rows[0][:3] == ["id", "at", "actor"] and len(rows) > 5
        assert not any(c.startswith(("=", "+", "-", "@")) for r in rows for c in r)


async def test_bad_filter_and_operator(make_app):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_audit(pilot)
        await fill(pilot, "f-since", "31/02/2025")
        await pilot.press("enter")
        await pilot.pause()
        assert message(pilot).startswith("Filtre incorrect")
        assert app.screen.query_one("#f-since").has_class("error")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_audit(pilot, "OPER1", "oper1-demo")
        await wait_for(pilot, lambda: "superviseurs" in message(pilot))
        assert shown(pilot) == ""


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_audit(snap_compare, make_app, size):
    """The trail's times come from the wall clock: the snapshot filters on an operator with no record."""

    async def run_before(pilot):
        await open_audit(pilot)
        await fill(pilot, "f-actor", "NOBODY")
        await pilot.press("enter")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)
