"""The decision panel never offers S when the first acquirer answered (a refusal) or the secondary
is not configured: S is refused on the panel like any unknown choice (issue 13.5)."""

from __future__ import annotations

from tests.support.tui import message

from .test_flows import SIZE, enter_order, open_entry, screen_name, wait_decision


async def test_s_is_refused_on_an_ordinary_refusal(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await enter_order(pilot, "4970100000000048")  # stolen: answered, the service works
        await wait_decision(pilot)
        assert "secours" not in message(pilot)
        await pilot.press("S", "enter")
        await pilot.pause()
        assert screen_name(pilot) == "DecisionScreen"
        assert "S" in message(pilot)  # "choix S non valable"
    assert engine.get_order(1).decisions == []
