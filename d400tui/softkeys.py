"""Second keys and soft keys for terminals in a browser.

A browser keeps some function keys for itself (F5 reloads, F11 goes full screen, F12 opens the
developer tools, F3 finds, Ctrl+W closes the tab). Alt+1 … Alt+9 stand for F1 … F9 and Alt+0 for
F10, as on a 5250 emulator's number row; F12 already has Escape and F5 Ctrl+R. The key is renamed
where the application receives it, before any binding or widget sees it, so a second key keeps its
place among the keys typed around it.

In the browser, xterm.js sends Alt+digit as ESC digit, which Textual reads as the character macOS
gives Option+digit (ESC 0 is "º", ESC 3 is "£": the WezTerm table in textual._ansi_sequences), so
under textual-serve those ten characters are the second keys (they cannot be typed into a field
there). Alt+- and Alt+= cannot serve for F11/F12: Textual reads them as "–" and "≠" from WezTerm
too, and F11 and Ctrl+W have no action here.

The function-key legend is clickable: each "Fn=…" (and "Entrée=…") is a soft key that presses it."""

from __future__ import annotations

import os
import re
from typing import Any

from textual import events
from textual.content import Content

SECOND_KEYS: dict[str, str] = {f"alt+{n % 10}": f"f{n}" for n in range(1, 11)}
# what Textual makes of ESC 1 … ESC 0, the bytes xterm.js sends for Alt+1 … Alt+0
BROWSER_SECOND_KEYS: dict[str, str] = {ch: f"f{n}" for n, ch in enumerate("¡™£¢∞§¶•ªº", start=1)}
WEB_DRIVER = "textual.drivers.web_driver:WebDriver"  # what textual-serve sets for each tab's process

# "F5=Réafficher", "Entrée/F10=Confirmer", "Entrée=Valider": the keys in front of "="
_KEY_TOKEN = re.compile(r"(?<!\S)((?:F\d{1,2}|Entrée|Enter)(?:/(?:F\d{1,2}|Entrée|Enter))*)=")


def second_key(event: events.Key) -> str | None:
    """The function key a second key stands for, or None."""
    key = SECOND_KEYS.get(event.key)
    if key is None and event.character and os.environ.get("TEXTUAL_DRIVER") == WEB_DRIVER:
        key = BROWSER_SECOND_KEYS.get(event.character)
    return key


def _key_name(token: str) -> str:
    first = token.split("/")[0]
    return "enter" if first in ("Entrée", "Enter") else first.lower()


def soft_key_at(line: str, x: int) -> str | None:
    """The key of the "key=label" under column x of a legend line, from its key to the next one."""
    matches = list(_KEY_TOKEN.finditer(line))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(line)
        if match.start() <= x < match.start() + len(line[match.start() : end].rstrip()):
            return _key_name(match.group(1))
    return None


class SoftKeyClick:
    """Mixed into the legend widget: a click on "key=label" presses that key. The legend's text is
    read as it is wrapped on screen, so the widget renders exactly as before."""

    async def on_click(self, event: events.Click) -> None:
        widget: Any = self
        lines = Content(str(widget.content)).wrap(max(widget.content_size.width, 1))
        key = soft_key_at(lines[event.y].plain, event.x) if 0 <= event.y < len(lines) else None
        if key:
            event.stop()
            await widget.app.soft_key(key)


class SoftKeys:
    """Mixed into the App: second keys renamed on arrival, soft-key clicks pressed in place."""

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            key = second_key(event)
            if key is not None:
                event = events.Key(key, None)
        await super().on_event(event)  # type: ignore[misc]

    async def soft_key(self, key: str) -> None:
        """A click on the legend: the key goes where a typed one would (priority bindings, then the
        focused widget, then up to the screen). Textual has no public call for this: without
        App._check_bindings the key is queued as typed (simulate_key)."""
        app: Any = self
        check = getattr(app, "_check_bindings", None)
        if check is None:
            app.simulate_key(key)
            return
        if not await check(key, priority=True):
            (app.focused or app.screen)._forward_event(events.Key(key, None))
