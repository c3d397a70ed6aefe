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
from d400tui.i18n.render import tx
from d400tui.widgets import EntryField, FKeyLegend, MessageLine

from .base import D400Modal
from .fmt import amount

CHOICES = {
    "B": m.DecisionKind.BLOCK,
    "L": m.DecisionKind.RELEASE,
    "M": m.DecisionKind.CHANGE_METHOD,
    "R": m.DecisionKind.RETRY,
    "S": m.DecisionKind.FAILOVER,  # network branch: only when `failover` names a secondary acquirer
}


def headline(category: m.Category) -> str:
    return t(f"category.{category.value}")


def heading(answer: AuthAnswer, order_id: int) -> str:
    """What happened, in the operator's words: no answer at all, a service that said it is down, or
    a refusal."""
    from d400tui.engine.codes import NO_ANSWER

    if answer.state is m.AuthState.UNKNOWN or answer.code == NO_ANSWER:
        return t("decision.heading_no_answer", order=order_id)
    if answer.category is m.Category.UNAVAILABLE:
        return t("decision.heading_unavailable", order=order_id)
    return t("decision.heading_refused", order=order_id)


class DecisionScreen(D400Modal):
    """Dismisses with the chosen DecisionKind, or None on F12 (the order stays awaiting a decision)."""

    SCREEN_ID = "DECISION"
    TITLE_KEY = "decision.title"
    LEGEND_KEY = "legend.decision"
    failover: str | None = None  # network branch: the secondary acquirer S sends to (set by the caller)

    def __init__(self, answer: AuthAnswer | None = None, order_id: int = 0, allow_change: bool = True) -> None:
        super().__init__()
        self.answer = answer
        self.order_id = order_id
        self.allow_change = allow_change

    def prepare(self, answer: AuthAnswer, order_id: int, allow_change: bool = True) -> DecisionScreen:
        """Reuse one composed panel for every refusal of the session (the app keeps it installed):
        showing it is then an update of six lines, not a new screen to compose and style."""
        self.answer, self.order_id, self.allow_change = answer, order_id, allow_change
        if self.is_mounted:
            self._fill()
        return self

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            yield Static("", id="heading", markup=False)
            yield Static("", id="headline", markup=False)
            yield Static("", id="code", markup=False)
            yield Static("", id="amount", markup=False)
            yield Static(t("decision.nothing_blocked"), classes="label", markup=False)
            yield Static(t("decision.choices1"), markup=False)
            yield Static("", id="choices2", markup=False)
            with Horizontal(classes="row"):
                yield Static(t("decision.prompt"), classes="lbl", markup=False)
                yield EntryField(width=1, upper=True, id="choice")
            yield MessageLine()
            yield FKeyLegend(t(self.LEGEND_KEY))

    def _fill(self) -> None:
        a = self.answer
        if a is None:
            return
        q = self.query_one
        q("#heading", Static).update(heading(a, self.order_id))
        q("#headline", Static).update(headline(a.category))
        q("#code", Static).update(t("decision.code", code=a.code or "--", label=tx(a.label or "")))
        seq = a.instalment_seq if a.instalment_seq is not None else "-"
        from .checks import check_words  # network branch: the network and the CVV check of the answer

        q("#amount", Static).update(t("decision.amount", amount=amount(a.amount), seq=seq) + check_words(a))
        q("#choices2", Static).update(t("decision.choices2") if self.allow_change else t("decision.choices2_nochange"))
        choice = q("#choice", EntryField)
        choice.value = ""
        choice.mark_error(False)
        self.message(t("decision.failover_hint", acquirer=self.failover) if self.failover else "")
        choice.focus()

    def action_field_help(self) -> None:
        """F1: what this refusal means and what to tell the customer (by category, from the catalogue)."""
        if self.answer is not None:
            self.message(t(f"help.decision_{self.answer.category.value}"))
        else:
            super().action_field_help()

    def on_mount(self) -> None:
        self._fill()

    def on_screen_resume(self) -> None:
        self._fill()

    @on(Input.Submitted)
    def process(self) -> None:
        field = self.query_one("#choice", EntryField)
        code = field.text
        if not code:
            return  # Enter alone does nothing: the operator must choose
        kind = CHOICES.get(code)
        if (
            kind is None
            or (kind is m.DecisionKind.CHANGE_METHOD and not self.allow_change)
            or (kind is m.DecisionKind.FAILOVER and not self.failover)
        ):
            field.value = ""
            self.field_error(field, t("decision.bad_choice", code=code[:1]))
            return
        self.dismiss(kind)
