"""Garbage in every field gives a message on the message line, never a crash."""

from __future__ import annotations

import pytest

from tests.support.tui import message, sign_on, type_text

SIZE = (80, 24)
GARBAGE = ["abc", "-5", "99999999999999999999", "0", "1e9", "\x00\x07\x1b[2J", "😀😀", "١٢", "x" * 10_000, " "]


async def _to_entry(pilot) -> None:
    await sign_on(pilot)
    await type_text(pilot, "1")
    await pilot.press("enter")
    await pilot.pause()


def _set(app, wid: str, value: str) -> None:
    """A paste: the field keeps at most its max_length, like a terminal paste would."""
    w = app.screen.query_one(f"#{wid}")
    w.focus()
    w.value = value[: w.max_length] if w.max_length else value


@pytest.mark.parametrize("junk", GARBAGE)
async def test_garbage_in_order_entry(make_app, junk):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await _to_entry(pilot)
        for wid in ("customer", "art-0", "qty-0", "method", "card", "expiry", "cvv", "plan"):
            _set(app, "customer", "100001")
            _set(app, "art-0", "BON0001")
            _set(app, "qty-0", "1")
            _set(app, "method", "CARD")
            _set(app, "card", "4970100000000014")
            _set(app, "expiry", "12/30")
            _set(app, "cvv", "123")
            _set(app, "plan", "I")
            _set(app, wid, junk)
            await pilot.pause()
            await pilot.press("enter")
            await pilot.press("f10")
            await pilot.pause()
            for _ in range(50):
                if not app.workers._workers:  # noqa: SLF001
                    break
                await pilot.pause(0.02)
            assert app.is_running
            if type(app.screen).__name__ == "DecisionScreen":
                await pilot.press("f12")
                await pilot.pause()
            assert type(app.screen).__name__ == "OrderEntryScreen"
            assert message(pilot)  # something was said


@pytest.mark.parametrize("junk", ["zz", "x" * 10_000, "\x1b\x00", "😀", "-1", "99/99/9999"])
async def test_garbage_in_work_filters_and_options(make_app, junk):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot)
        await type_text(pilot, "2")
        await pilot.press("enter")
        await pilot.pause()
        fields = ("f-status", "f-hold", "f-customer", "f-channel", "f-since", "f-position", "f-mine")
        for wid in fields:
            for other in fields:
                _set(app, other, "")
            _set(app, wid, junk)
            await pilot.press("enter")
            await pilot.pause()
            assert type(app.screen).__name__ == "WorkOrdersScreen"
            assert message(pilot) or not app.screen.query_one(f"#{wid}").text  # control chars are dropped


@pytest.mark.parametrize("junk", ["x" * 10_000, "\x00", "😀", "-1", "abc"])
async def test_garbage_in_sign_on_and_menu(make_app, junk):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        _set(app, "operator", junk)
        _set(app, "password", junk)
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "SignOnScreen" and message(pilot)
        _set(app, "operator", "OPER1")
        _set(app, "password", "oper1-demo")
        await pilot.press("enter")
        await pilot.pause()
        _set(app, "option", junk)
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "MenuScreen"
        assert message(pilot) or not junk.isprintable()  # control characters alone are dropped


@pytest.mark.parametrize("junk", ["zz", "x" * 10_000, "\x1b\x00", "😀", "-1"])
async def test_garbage_in_search_and_list_tools(make_app, engine, junk):
    """The F4 search, the pre-check's view and options, the operators' options: one line, no crash."""
    from d400tui.engine.demo import demo_tokens, generate_orders

    generate_orders(engine.db, 3, await demo_tokens(engine.acquirer), all_due=True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await sign_on(pilot, "SUPER1", "super1-demo")
        await type_text(pilot, "2")
        await pilot.press("enter")
        await pilot.pause()
        app.screen.query_one("#f-customer").focus()
        await pilot.press("f4")
        await pilot.pause()
        _set(app, "search", junk)
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "PromptScreen"
        assert message(pilot) in ("Aucun client trouvé", "")
        await pilot.press("f12")
        await pilot.press("f3")
        await pilot.pause()
        for option in ("10", "11"):
            await type_text(pilot, option)
            await pilot.press("enter")
            await pilot.pause()
            ids = ("view", "sfl-opt-0") if option == "10" else ("sfl-opt-0",)
            for wid in ids:
                _set(app, wid, junk)
                await pilot.press("enter")
                await pilot.pause()
                # refused in words (control characters alone are dropped: nothing was typed)
                assert app.is_running and (message(pilot) or not app.screen.query_one(f"#{wid}").text)
                _set(app, wid, "")
            await pilot.press("f3")
            await pilot.pause()
