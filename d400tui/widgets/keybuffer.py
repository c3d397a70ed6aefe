"""The 5250 keyboard buffer: keys (and pastes) are handed to the panel one at a time, in the order
typed, each once the previous one has been fully processed.

Why: Textual forwards a key to the widget focused *when the app reads it*. A burst of keys is read
before the first Enter's consequences (a Submitted message bubbling up, a focus change scheduled with
call_later, a screen being composed) have run, so keys typed ahead landed in the field just left or
on a screen with no field yet. Here a key arriving while another is in flight is held, and handed on
only once the app, the screen and the widgets that received the previous key have emptied their
message queues and the screen on top is mounted. While the panel says its keyboard is locked (an
authorization or a sign-on check running) keys are held for the screen that follows; past
`LIMIT` held keys, a key is refused with a message, never dropped silently."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any

from textual import events

if TYPE_CHECKING:
    from textual.app import App
    from textual.message_pump import MessagePump

LIMIT = 256  # a 5250 buffer holds a screenful of type-ahead; more is a stuck key, not an operator
ESCAPES = ("f3", "f12", "escape")  # leave a locked panel (the outcome then comes as a notification)


def _locked(app: App[Any]) -> bool:
    try:
        check = getattr(app.screen, "keyboard_locked", None)
    except Exception:  # noqa: BLE001 - no screen yet (start-up, shut-down): nothing is locked
        return False
    return bool(check()) if callable(check) else False


class KeyBuffer:
    """Held keys of one app; `offer` is called for every key or paste the terminal sends."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app
        self.held: deque[events.Key | events.Paste] = deque()
        self.in_flight = False
        self._task: asyncio.Task[None] | None = None
        self.refused = 0
        self.seen = 0  # keys and pastes offered since start (tests wait for a burst to be read)

    @property
    def pending(self) -> int:
        """Keys not yet processed (held, or the one in flight): tests wait for 0."""
        return len(self.held) + (1 if self.in_flight else 0)

    def offer(self, event: events.Key | events.Paste) -> bool:
        """True when the event may be processed now; False when it was held (or refused)."""
        self.seen += 1
        locked = _locked(self.app)
        if locked and not self.held and isinstance(event, events.Key) and event.key in ESCAPES:
            return True  # F12 on a locked panel leaves it; nothing typed before it is waiting
        if not self.in_flight and not self.held and not locked and self._quiet():
            self.in_flight = True
            self._start()
            return True
        if len(self.held) >= LIMIT:
            self.refused += 1
            self._refuse()
            return False
        self.held.append(event)
        self._start()
        return False

    def _quiet(self) -> bool:
        """Nothing pending that could move the cursor: the key may go straight to the focused field."""
        app = self.app
        try:
            screen = app.screen
        except Exception:  # noqa: BLE001 - no screen yet
            return False
        if not (screen.is_mounted and app._message_queue.empty() and screen._message_queue.empty()):  # noqa: SLF001
            return False
        focused = screen.focused
        if focused is None:
            return not screen.focus_chain  # a panel with fields but no cursor yet is still being set up
        return focused._message_queue.empty()  # noqa: SLF001

    def _refuse(self) -> None:
        from d400tui.i18n import t

        self.app.bell()
        show = getattr(self.app.screen, "message", None)
        if callable(show):
            show(t("common.keyboard_locked"), error=True)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._pump())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _pump(self) -> None:
        try:
            while True:
                await self.settle()
                while _locked(self.app):
                    await asyncio.sleep(0.01)
                    await self.settle()
                if not self.held:
                    return
                event = self.held.popleft()
                self.in_flight = True
                await self.app.dispatch_typed(event)  # type: ignore[attr-defined]
        finally:
            # no await between the last check of `held` and here: a key offered meanwhile cannot be stranded
            self.in_flight = False
            self._task = None

    async def settle(self) -> None:
        """Return once the previous key's consequences have run: the screen on top mounted, and the
        app, the screen and the focused widget with its ancestors with empty message queues, twice in
        a row with nothing changing (a handler may post a message or schedule a focus change)."""
        app = self.app
        quiet = 0
        for _ in range(400):
            try:
                screen = app.screen
            except Exception:  # noqa: BLE001 - between screens at start-up or exit
                await asyncio.sleep(0.005)
                continue
            focused = screen.focused
            pumps: list[MessagePump] = [app, screen]
            node = focused
            while node is not None and node is not screen:
                pumps.append(node)
                node = node.parent  # type: ignore[assignment]
            await _drain(pumps)
            stable = (
                screen.is_mounted
                and app.screen is screen
                and screen.focused is focused
                and all(p._message_queue.empty() for p in pumps)
            )  # noqa: SLF001
            quiet = quiet + 1 if stable else 0
            if quiet >= 2:
                return
            if not screen.is_mounted:
                await asyncio.sleep(0.002)


async def _drain(pumps: list[MessagePump]) -> None:
    """Wait until each pump has processed what was in its queue when called (Pilot does the same)."""
    waiting = 0
    done = asyncio.Event()

    def one() -> None:
        nonlocal waiting
        waiting -= 1
        if waiting == 0:
            done.set()

    for p in pumps:
        if p.call_later(one):
            waiting += 1
    if waiting:
        try:
            await asyncio.wait_for(done.wait(), timeout=2.0)
        except TimeoutError:
            return
