"""The pre-check screen follows a run that is still going — started here, by `d400 precheck
--workers N` or on another machine — with the figures the CLI shows: the run's count, rate and
ETA, then each worker's (issue 14.7)."""

from __future__ import annotations

from d400tui.engine.workers import Lease
from tests.support.tui import FIXED, screen_text, sign_on, type_text, wait_for

SIZE = (80, 24)


async def test_the_screen_shows_the_figures_of_a_run_still_going(make_app, engine):
    from d400tui.domain import model as m
    from d400tui.engine.demo import demo_tokens, generate_orders

    cards = await demo_tokens(engine.acquirer)
    generate_orders(engine.db, 4, cards, today=FIXED.date(), all_due=True)
    sup = m.Actor("SUPER1", True)
    run_id = engine.start_precheck(sup, FIXED.date(), 4)
    elsewhere = Lease(engine, run_id, 4)  # a worker of this run that has not answered anything yet
    elsewhere.join()
    try:
        planned = engine.run_progress(sup, run_id).planned
        assert planned >= 4
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await sign_on(pilot, "SUPER1", "super1-demo")
            await type_text(pilot, "10")
            await pilot.press("enter")
            await wait_for(pilot, lambda: f"n°{run_id} : 0/{planned}" in screen_text(app))
            text = screen_text(app)
            assert "1 travailleur(s) : T1 0 0,0/s" in text
            assert f"(en cours) n°{run_id}" in text
            # the worker ends the run: the figures go, the run's line reads finished
            assert elsewhere.leave(FIXED)
            await wait_for(pilot, lambda: "travailleur" not in screen_text(app), tries=300)
            assert f"(en cours) n°{run_id}" not in screen_text(app)
    finally:
        elsewhere.release()
