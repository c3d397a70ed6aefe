"""The panels composed once per session and kept installed, by name, through Textual's own screen
install (`App.SCREENS`, `App.get_screen`): the decision panel, shown at every refusal, and work
with orders, opened from the menu many times a day. Showing one is then an update of a few lines,
not some forty widgets to build and style. The app lists `KEPT` in its SCREENS; a screen that shows
one asks here, never the app.

Importing this module loads no screen: each is imported when it is first built (the sign-on panel
is painted before the engine and the other panels are loaded)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import App
from textual.screen import Screen

if TYPE_CHECKING:
    from d400tui.engine import AuthAnswer

    from .decision import DecisionScreen
    from .work_orders import WorkOrdersScreen


def _decision() -> Screen[Any]:
    from .decision import DecisionScreen

    return DecisionScreen()


def _work_orders() -> Screen[Any]:
    from .work_orders import WorkOrdersScreen

    return WorkOrdersScreen()


KEPT = {"decision": _decision, "work_orders": _work_orders}


def decision_panel(
    app: App[Any], answer: AuthAnswer, order_id: int, allow_change: bool = True, failover: str | None = None
) -> DecisionScreen:
    """The decision panel, filled for this refusal, to push. `failover`: the secondary acquirer S
    sends to (network branch), None when the engine offers no failover for this answer."""
    from .decision import DecisionScreen

    panel = app.get_screen("decision", DecisionScreen)
    panel.failover = failover
    return panel.prepare(answer, order_id, allow_change)


def work_orders_panel(app: App[Any], awaiting: bool = False) -> WorkOrdersScreen:
    """Work with orders, reset for an opening from the menu (default filter, newest first), to push."""
    from .work_orders import WorkOrdersScreen

    return app.get_screen("work_orders", WorkOrdersScreen).reset(awaiting)


def prebuild(app: App[Any]) -> None:
    """Once the menu is painted, build the kept panels off screen (what push_screen does on first use),
    so the operator's first "2" shows its first page as fast as later ones, and the first refusal of
    the session its panel. Textual has no public call for this: App._register starts a screen's
    message loop (compose, mount: the first page). Should a Textual upgrade drop or change it, the
    panels are built on first use as before (a slower first "2"), never a crash."""
    register = getattr(app, "_register", None)
    for screen in (work_orders_panel(app), app.get_screen("decision")):
        if register is not None and not screen.is_running:
            try:
                register(app, screen)
            except TypeError:
                return
