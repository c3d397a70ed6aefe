"""The green-screen application: sign-on first, then the main menu and its panels.

Start-up order: the sign-on screen is painted first, with only Textual, the settings and the
catalogue of strings loaded; the engine (SQLAlchemy, migrations, the acquirer) and the other
panels are loaded in a thread afterwards, while the operator types a name and a password."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App

from d400tui.config import Settings
from d400tui.i18n import set_lang, t
from d400tui.screens.registry import KEPT, prebuild
from d400tui.softkeys import SoftKeys
from d400tui.widgets.keybuffer import KeyBuffer

if TYPE_CHECKING:
    from d400tui.domain import model as m
    from d400tui.engine import Engine

# loaded in the background once sign-on is on screen, so the first F10 or list does not import them
WARM_MODULES = (
    "d400tui.screens.menu",
    "d400tui.screens.order_entry",
    "d400tui.screens.work_orders",
    "d400tui.screens.decision",
    "d400tui.screens.prompt",
    "d400tui.screens.draft",
)


class D400App(SoftKeys, App[None]):
    CSS_PATH = str(Path(__file__).with_name("d400.tcss"))  # absolute: subclasses elsewhere (bench, tests) find it
    ENABLE_COMMAND_PALETTE = False
    SCREENS = KEPT  # the panels composed once per session (d400tui.screens.registry)
    TITLE = "d400"

    def __init__(
        self,
        settings: Settings | None = None,
        engine: Engine | None = None,
        clock: Callable[[], datetime] | None = None,
        prebuild_panels: bool = True,
    ) -> None:
        self.settings = settings or Settings()
        # the kept panels built off screen once the menu is painted (screens/registry.prebuild);
        # False builds them on first use instead (tests that never open them: 10-25 % of their CPU)
        self.prebuild_panels = prebuild_panels
        set_lang(self.settings.lang)
        super().__init__()
        self._engine = engine
        self._owns_engine = engine is None  # an engine handed in is closed by whoever opened it
        self._engine_lock = threading.Lock()
        self._clock = clock
        self.d400_now: Callable[[], datetime] = clock or datetime.now
        self.actor: m.Actor | None = None
        self.keys = KeyBuffer(self)

    # -- type-ahead: every key and paste goes through the keyboard buffer, in the order typed -------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            if not self.keys.offer(event):
                return
        await super().on_event(event)

    async def dispatch_typed(self, event: events.Key | events.Paste) -> None:
        """A held key, handed on by the buffer: processed as if it had just been typed."""
        await super().on_event(event)

    async def on_key(self, event: events.Key) -> None:
        """A function key that reached the app unhandled: no binding takes it on this panel."""
        key = event.key
        if (key.startswith("f") and key[1:].isdigit()) or key in ("pageup", "pagedown"):
            screen = self.screen
            show = getattr(screen, "message", None)
            bound = any(key in bindings.key_to_bindings for _, bindings in screen._modal_binding_chain)  # noqa: SLF001
            if callable(show) and not bound:
                self.bell()
                show(t("common.fkey_refused"), error=True)

    # -- engine: opened in a thread once sign-on is painted --------------------------------------
    @property
    def engine(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                from d400tui.engine import open_engine

                self._engine = open_engine(self.settings, clock=self._clock)
            return self._engine

    def _warm(self) -> None:
        import importlib

        _ = self.engine
        for name in WARM_MODULES:
            importlib.import_module(name)

    def on_mount(self) -> None:
        from d400tui.screens.signon import SignOnScreen

        self.push_screen(SignOnScreen())
        self.call_after_refresh(self._start_warm)

    def _start_warm(self) -> None:
        self.run_worker(self._warm, thread=True, exit_on_error=False, group="engine")

    # -- navigation ------------------------------------------------------------------------------
    def signed_on(self, actor: m.Actor, draft: tuple[datetime, dict[str, Any]] | None = None) -> None:
        """To the menu; with a draft left by a dropped session, ask whether to resume it first."""
        from d400tui.screens.menu import MenuScreen

        self.actor = actor
        self.switch_screen(MenuScreen())
        if self.prebuild_panels:
            self.call_after_refresh(prebuild, self)
        if draft is not None:
            from d400tui.screens.draft import DraftScreen

            self.push_screen(DraftScreen(*draft), lambda resume: self._draft_answer(resume, draft[1]))

    def _draft_answer(self, resume: bool | None, content: dict[str, Any]) -> None:
        from d400tui.screens.order_entry import OrderEntryScreen

        if resume is None:
            return  # F12: kept, asked again at the next sign-on
        if resume:
            self.push_screen(OrderEntryScreen(draft=content))
            return
        assert self.actor is not None
        self.engine.discard_draft(self.actor)
        self.notify(t("draft.discarded"), timeout=4)

    def sign_off(self) -> None:
        from d400tui.screens.signon import SignOnScreen

        self.actor = None
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(SignOnScreen())

    def to_menu(self) -> None:
        from d400tui.screens.menu import MenuScreen

        while len(self.screen_stack) > 2 and not isinstance(self.screen, MenuScreen):
            self.pop_screen()

    def notify_outcome(self, text: str, error: bool = False) -> None:
        """An outcome that arrives after its panel was left (a worker finishing)."""
        self.notify(text, severity="error" if error else "information", timeout=8)

    async def on_unmount(self) -> None:
        self.keys.stop()
        if self._engine is not None and self._owns_engine:
            try:
                await self._engine.close()
            except Exception:  # noqa: BLE001 - closing on the way out must not mask the exit
                pass


def run_tui(settings: Settings | None = None) -> None:
    """Entry point for `d400` with no argument."""
    D400App(settings or Settings()).run()


def main() -> None:
    run_tui(Settings())


__all__ = ["D400App", "run_tui", "t"]

if __name__ == "__main__":
    main()
