"""DRAFT — at sign-on, an order left half-typed by a dropped terminal: resume it (O), discard it (N)
or decide later (F12, asked again at the next sign-on). ABANDON — F12/F3 on an order with lines:
"Abandonner la saisie ? (O/N)"."""

from __future__ import annotations

from datetime import datetime

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.i18n import t
from d400tui.widgets import EntryField, FKeyLegend, MessageLine

from .base import D400Modal

YES, NO = {"O", "Y"}, {"N"}


class _YesNo(D400Modal):
    """A one-letter O/N answer: O or Y dismisses True, N False, anything else is refused with
    BAD_KEY (F12 dismisses None through the base bindings)."""

    BAD_KEY = ""

    def on_mount(self) -> None:
        self.query_one("#answer", EntryField).focus()

    @on(Input.Submitted)
    def process(self) -> None:
        field = self.query_one("#answer", EntryField)
        code = field.text
        if code in YES or code in NO:
            self.dismiss(code in YES)
            return
        field.value = ""
        self.field_error(field, t(self.BAD_KEY))


class DraftScreen(_YesNo):
    """Dismisses with True (resume), False (discard) or None (F12: keep it for later)."""

    SCREEN_ID = "DRAFT"
    LEGEND_KEY = "draft.legend"
    BAD_KEY = "draft.bad"

    def __init__(self, saved_at: datetime, content: dict[str, object] | None = None) -> None:
        super().__init__()
        self.saved_at = saved_at
        self.content = content or {}

    def compose(self) -> ComposeResult:
        lines = self.content.get("lines")
        n = sum(1 for row in lines if isinstance(row, list) and row and row[0]) if isinstance(lines, list) else 0
        with Vertical(id="panel"):
            yield Static(t("draft.question"), classes="strong", markup=False)
            yield Static(
                t(
                    "draft.saved",
                    when=self.saved_at.strftime("%d/%m/%Y %H:%M"),
                    customer=str(self.content.get("customer") or "-")[:9],
                    lines=n,
                ),
                markup=False,
            )
            with Horizontal(classes="row"):
                yield Static(t("draft.prompt"), classes="lbl", markup=False)
                yield EntryField(width=1, upper=True, id="answer")
            yield MessageLine()
            yield FKeyLegend(t(self.LEGEND_KEY))


class AbandonScreen(_YesNo):
    """Dismisses with True (abandon the order being typed), False (N) or None (F12: keep typing)."""

    SCREEN_ID = "ABANDON"
    LEGEND_KEY = "draft.abandon_legend"
    BAD_KEY = "draft.abandon_bad"

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            with Horizontal(classes="row"):
                yield Static(t("draft.abandon"), classes="lbl strong", markup=False)
                yield EntryField(width=1, upper=True, id="answer")
            yield MessageLine()
            yield FKeyLegend(t(self.LEGEND_KEY))
