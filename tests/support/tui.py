"""Key-driving helpers for Pilot tests, and the fixed clock every TUI test runs on."""

from __future__ import annotations

from datetime import datetime

from textual.pilot import Pilot

FIXED = datetime(2025, 6, 2, 10, 30, 0)

KEYNAMES = {" ": "space", "/": "slash", "-": "minus", ":": "colon", ".": "full_stop", ",": "comma"}


async def type_text(pilot: Pilot, text: str) -> None:
    """Type a field's text as one burst of key events, then wait until the app has read them all.
    Each key still goes through the terminal driver and the app's key buffer in order, as typed; what
    goes is Pilot's two idle waits per key (at least 40 ms each), which made typing most of a TUI
    test's time."""
    if text:
        await burst(pilot, *keys_of(text))
        await wait_for(pilot, lambda: pilot.app.keys.pending == 0, tries=500)
        await pilot.pause()


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


def keys_of(text: str) -> list[str]:
    """Key names for a string typed as it is (Pilot's names for punctuation)."""
    return [KEYNAMES.get(ch, ch) for ch in text]


async def burst(pilot: Pilot, *keys: str) -> None:
    """Every key handed to the driver at once, with no pause at all (a fast typist, or a terminal
    delivering a whole buffer): what `pilot.press` does, minus its idle waits between keys."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    app = pilot.app
    expected = app.keys.seen + len(keys)
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        try:
            char = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)  # noqa: SLF001
    await wait_for(pilot, lambda: app.keys.seen >= expected, tries=500)


async def settled(pilot: Pilot, tries: int = 500) -> None:
    """Every key typed processed, no authorization or sign-on check running."""
    app = pilot.app
    await wait_for(
        pilot,
        lambda: (
            app.keys.pending == 0
            and not app.workers._workers  # noqa: SLF001
            and not getattr(app.screen, "busy", False)
            and not getattr(app.screen, "checking", False)
        ),
        tries=tries,
    )
    await pilot.pause()
