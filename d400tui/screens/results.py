"""Several results on the message line, never cut: what fits is shown, and when it does not, the
line says how many more and F1 opens the whole list (RESULTS), each result on its own lines."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from d400tui.i18n import t
from d400tui.widgets import FKeyLegend

from .base import D400Modal


def fit(notes: list[str], width: int) -> tuple[str, bool]:
    """The message-line text for `notes` and whether F1 is needed to read them all."""
    notes = [" ".join(n.split()) for n in notes if n]
    if not notes:
        return "", False
    joined = " | ".join(notes)
    if len(joined) <= width:
        return joined, False
    suffix = t("lists.results_more", n=len(notes) - 1) if len(notes) > 1 else t("lists.results_cut")
    room = max(10, width - len(suffix) - 1)
    head = notes[0] if len(notes[0]) <= room else notes[0][: room - 1] + "…"
    return f"{head} {suffix}", True


def show_results(screen: Any, notes: list[str], error: bool = False) -> None:
    """Put `notes` on the screen's message line; keep them for F1 when they do not all fit."""
    text, cut = fit(notes, max(20, screen.app.size.width - 1))
    screen.results = [n for n in notes if n] if cut else []
    screen.message(text, error=error)


def open_results(screen: Any) -> bool:
    """F1 on a screen whose last results were cut: the full list. False when there is none."""
    notes = getattr(screen, "results", None)
    if not notes:
        return False
    screen.app.push_screen(ResultsScreen(notes))
    return True


class ResultsScreen(D400Modal):
    SCREEN_ID = "RESULTS"

    def __init__(self, notes: list[str]) -> None:
        super().__init__()
        self.notes = notes

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            yield Static(t("lists.results_title", n=len(self.notes)), classes="strong", markup=False)
            with VerticalScroll(id="notes"):
                yield Static("\n".join(f"{i:>3}. {n}" for i, n in enumerate(self.notes, 1)), markup=False)
            yield FKeyLegend(t("lists.results_legend"))

    def on_mount(self) -> None:
        self.query_one("#notes").focus()


class ResultsMixin:
    """F1 on a list screen opens the results the message line could not hold; with none held it is
    the field help every panel gives (one key, one meaning per moment: the panel's one F1 binding)."""

    results: list[str] = []

    def action_field_help(self) -> None:
        if not open_results(self):
            super().action_field_help()  # type: ignore[misc]
