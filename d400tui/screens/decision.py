"""DECISION — the inline panel after a refusal or an unavailable service: which check failed, then
code and label, then B/L/M/R. Nothing is preselected and Enter alone does nothing."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.domain import model as m
from d400tui.engine import AuthAnswer
from d400tui.i18n import t
from d400tui.widgets import EntryField, FKeyLegend, MessageLine

from .base import D400Modal
from .fmt import amount

CHOICES = {"B": m.DecisionKind.BLOCK, "L": m.DecisionKind.RELEASE, "M": m.DecisionKind.CHANGE_METHOD,
           "R": m.DecisionKind.RETRY}


def headline(category: m.Category) -> str:
    return t(f"category.{category.value}")


class DecisionScreen(D400Modal):
    """Dismisses with the chosen DecisionKind, or None on F12 (the order stays awaiting a decision)."""

    SCREEN_ID = "DECISION"
    TITLE_KEY = "decision.title"
    LEGEND_KEY = "legend.decision"
    DEFAULT_CSS = """
    DecisionScreen { align: center bottom; }
    DecisionScreen > #panel {
        width: 100%; max-width: 100; height: auto; border: heavy #ff5555; background: black; padding: 0 1;
        margin-bottom: 2;
    }
    DecisionScreen #headline { color: #ff5555; text-style: bold reverse; }
    """

    def __init__(self, answer: AuthAnswer, order_id: int, allow_change: bool = True) -> None:
        super().__init__()
        self.answer = answer
        self.order_id = order_id
        self.allow_change = allow_change

    def compose(self) -> ComposeResult:
        a = self.answer
        with Vertical(id="panel"):
            yield Static(t("decision.heading", order=self.order_id), classes="label", markup=False)
            yield Static(headline(a.category), id="headline", markup=False)
            yield Static(t("decision.code", code=a.code or "--", label=a.label or ""), id="code", markup=False)
            seq = a.instalment_seq if a.instalment_seq is not None else "-"
            yield Static(t("decision.amount", amount=amount(a.amount), seq=seq), markup=False)
            yield Static("", classes="gap")
            yield Static(t("decision.choices1"), markup=False)
            yield Static(t("decision.choices2") if self.allow_change else t("decision.choices2_nochange"),
                         markup=False)
            with Horizontal(classes="row"):
                yield Static(t("decision.prompt"), classes="lbl", markup=False)
                yield EntryField(width=1, upper=True, id="choice")
            yield MessageLine()
            yield FKeyLegend(t(self.LEGEND_KEY))

    def on_mount(self) -> None:
        self.query_one("#choice", EntryField).focus()

    @on(Input.Submitted)
    def process(self) -> None:
        field = self.query_one("#choice", EntryField)
        code = field.text
        if not code:
            return  # Enter alone does nothing: the operator must choose
        kind = CHOICES.get(code)
        if kind is None or (kind is m.DecisionKind.CHANGE_METHOD and not self.allow_change):
            field.value = ""
            self.field_error(field, t("decision.bad_choice", code=code[:1]))
            return
        self.dismiss(kind)
