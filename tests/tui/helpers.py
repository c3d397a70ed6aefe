"""Key-driving helpers for Pilot tests."""

from __future__ import annotations

from textual.pilot import Pilot

KEYNAMES = {" ": "space", "/": "slash", "-": "minus", ":": "colon", ".": "full_stop", ",": "comma"}


async def type_text(pilot: Pilot, text: str) -> None:
    for ch in text:
        await pilot.press(KEYNAMES.get(ch, ch))


async def fill(pilot: Pilot, field_id: str, text: str) -> None:
    """Put the cursor on a field (as Tab would) and type into it."""
    w = pilot.app.screen.query_one(f"#{field_id}")
    w.focus()
    await pilot.pause()
    w.value = ""
    await type_text(pilot, text)


async def sign_on(pilot: Pilot, name: str = "OPER1", password: str = "oper1-demo") -> None:
    await type_text(pilot, name)
    await pilot.press("tab")
    await type_text(pilot, password)
    await pilot.press("enter")
    await signed_on(pilot)


async def signed_on(pilot: Pilot) -> None:
    """The password is checked in a thread: wait for its answer (menu, draft question or message)."""
    await wait_for(pilot, lambda: not getattr(pilot.app.screen, "checking", False), tries=250)
    await pilot.pause()


def message(pilot: Pilot) -> str:
    return pilot.app.screen.query_one("#message").text


async def wait_for(pilot: Pilot, cond, tries: int = 100) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not met")


def screen_text(app) -> str:
    """Everything the operator sees: labels, rows, messages and field contents, on every stacked screen."""
    from textual.widgets import Input, Static

    parts = []
    for scr in app.screen_stack:
        for w in scr.query("*"):
            if isinstance(w, Input):
                parts.append(w.value)
            elif isinstance(w, Static):
                parts.append(str(w.render()))
    return "\n".join(parts)
