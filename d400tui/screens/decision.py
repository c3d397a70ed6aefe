"""DECISION — the inline panel after a refusal or an unavailable service: which check failed, then
code and label, then B/L/M/R. Nothing is preselected and Enter alone does nothing."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.domain import model as m
from d400tui.engine import AuthAnswer, ValidationResult
from d400tui.i18n import t
from d400tui.i18n.render import code_advice, tx
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
    """What happened, in the operator's words: no answer at all, a service that said it is down (the
    code's retry class in data/response_codes.csv: 91, 96, 68 …), or a refusal."""
    from d400tui.engine.codes import NO_ANSWER
    from d400tui.engine.retry_rules import is_service_failure

    if answer.state is m.AuthState.UNKNOWN or answer.code == NO_ANSWER:
        return t("decision.heading_no_answer", order=order_id)
    if is_service_failure(answer.code):
        return t("decision.heading_unavailable", order=order_id)
    return t("decision.heading_refused", order=order_id)


def advice(answer: AuthAnswer) -> str:
    """What to do after this answer, from the code's row of data/response_codes.csv."""
    from d400tui.engine.codes import NO_ANSWER

    return code_advice(answer.code or NO_ANSWER)


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
            yield Static("", id="advice", markup=False)
            yield Static("", id="amount", markup=False)
            yield Static(t("decision.nothing_blocked"), classes="label", markup=False)
            yield Static("", id="choices1", markup=False)
            yield Static("", id="choices2", markup=False)
            with Horizontal(classes="row"):
                yield Static(t("decision.prompt"), classes="lbl", markup=False)
                yield EntryField(width=1, upper=True, id="choice")
            yield MessageLine()
            yield FKeyLegend(t(self.LEGEND_KEY))

    def _fill(self) -> None:
        from d400tui.engine.decisions import needs_four_eyes

        a = self.answer
        if a is None:
            return
        q = self.query_one
        q("#heading", Static).update(heading(a, self.order_id))
        q("#headline", Static).update(headline(a.category))
        q("#code", Static).update(t("decision.code", code=a.code or "--", label=tx(a.label or "")))
        q("#advice", Static).update(t("decision.advice", advice=advice(a)))
        seq = a.instalment_seq if a.instalment_seq is not None else "-"
        from .checks import check_words  # network branch: the network and the CVV check of the answer

        q("#amount", Static).update(t("decision.amount", amount=amount(a.amount), seq=seq) + check_words(a))
        four_eyes = needs_four_eyes(a.category)  # L on a lost or stolen card: a request to a supervisor
        q("#choices1", Static).update(t("decision.choices1_four_eyes" if four_eyes else "decision.choices1"))
        q("#choices2", Static).update(t("decision.choices2") if self.allow_change else t("decision.choices2_nochange"))
        choice = q("#choice", EntryField)
        choice.value = ""
        choice.mark_error(False)
        self.message(t("decision.failover_hint", acquirer=self.failover) if self.failover else "")
        choice.focus()

    def action_field_help(self) -> None:
        """F1: what this answer means and what to tell the customer (the code's advice, from data)."""
        if self.answer is not None:
            self.message(advice(self.answer))
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
        if kind is m.DecisionKind.RETRY and self.order_id:
            # the engine's rule (never-retry answer, re-attempt limit), asked before leaving the
            # panel so the operator chooses again; the engine refuses the retry itself anyway
            why = self.engine.retry_refusal(self.order_id)
            if why is not None:
                field.value = ""
                self.field_error(field, tx(why))
                return
        self.dismiss(kind)


def decided_text(res: ValidationResult, order_id: int, kind: m.DecisionKind) -> str:
    """The message line after a decision: the engine's note when it gave one (L on a lost or stolen
    card: a release asked of a supervisor, the order still blocked), else the decision recorded."""
    if res.note:
        return tx(res.note)
    return t("decision.recorded", order=order_id, decision=t(f"decision.kind_{kind.value}"))
