"""The green-screen application: sign-on first, then the main menu and its panels."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from textual.app import App

from d400tui.config import Settings
from d400tui.i18n import set_lang, t

if TYPE_CHECKING:
    from d400tui.domain import model as m
    from d400tui.engine import Engine


class D400App(App[None]):
    CSS_PATH = "d400.tcss"
    ENABLE_COMMAND_PALETTE = False
    TITLE = "d400"

    def __init__(self, settings: Settings | None = None, engine: Engine | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings or Settings()
        set_lang(self.settings.lang)
        super().__init__()
        self._engine = engine
        self._engine_lock = threading.Lock()
        self.d400_now: Callable[[], datetime] = clock or datetime.now
        self.actor: m.Actor | None = None

    # -- engine: opened in a thread at start so the sign-on screen shows at once -----------------
    @property
    def engine(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:
                from d400tui.engine import open_engine

                self._engine = open_engine(self.settings)
            return self._engine

    def _warm_engine(self) -> None:
        _ = self.engine

    def on_mount(self) -> None:
        from d400tui.screens.signon import SignOnScreen

        self.push_screen(SignOnScreen())
        if self._engine is None:
            self.run_worker(self._warm_engine, thread=True, exit_on_error=False, group="engine")

    # -- navigation ------------------------------------------------------------------------------
    def signed_on(self, actor: m.Actor) -> None:
        from d400tui.screens.menu import MenuScreen

        self.actor = actor
        self.switch_screen(MenuScreen())

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
        if self._engine is not None:
            close = getattr(self._engine.acquirer, "close", None)
            if close is not None:
                try:
                    await close()
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
