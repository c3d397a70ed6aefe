"""OPERS — supervisors: the operators, their role and lock state; D in front of a locked one unlocks
it (several in one Enter). The engine refuses anyone but a supervisor; the screen only says so."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from d400tui.engine import USER_ERRORS
from d400tui.engine.operators import OperatorInfo, list_operators, unlock_operator
from d400tui.i18n import t
from d400tui.i18n.render import tx
from d400tui.widgets import Subfile

from .base import D400Screen
from .keys import keys
from .results import ResultsMixin, show_results


def operator_text(o: OperatorInfo) -> str:
    role = t("menu.supervisor") if o.supervisor else t("menu.operator")
    state = t("opers.locked") if o.locked else t("opers.active")
    return f"{o.name:<10} {role[:12]:<12} {state[:12]:<12} {o.failures:>6}"


class OperatorsScreen(ResultsMixin, D400Screen):
    SCREEN_ID = "OPERS"
    TITLE_KEY = "opers.title"
    LEGEND_KEY = "opers.legend"
    BINDINGS = keys("refresh", "pages")

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[OperatorInfo] = []
        self.top = 0
        self.size_ = 10

    def compose(self) -> ComposeResult:
        self.size_ = max(4, self.app.size.height - 9)
        yield from self.frame_top()
        with Vertical(classes="body"):
            yield Static(t("common.type_options"), markup=False)
            yield Static(t("opers.options"), classes="label", markup=False)
            yield Subfile(t("opers.heading"), self.size_, id="operators")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        if not self.actor.supervisor:  # display only: unlock_operator refuses anyway
            self.message(t("menu.supervisor_only"), error=True)
            return
        self.action_refresh()
        self.query_one(Subfile).focus_first()

    def action_refresh(self) -> None:
        try:
            self.rows = list_operators(self.engine, self.actor)
        except USER_ERRORS as exc:
            self.message(tx(exc), error=True)
            return
        self.show()

    def show(self) -> None:
        page = self.rows[self.top : self.top + self.size_]
        self.query_one(Subfile).set_rows(
            [(o.name, operator_text(o)) for o in page], self.top + self.size_ < len(self.rows)
        )

    def action_page_down(self) -> None:
        if self.top + self.size_ >= len(self.rows):
            self.message(t("common.at_bottom"))
            return
        self.top += self.size_
        self.show()

    def action_page_up(self) -> None:
        if self.top == 0:
            self.message(t("common.at_top"))
            return
        self.top = max(0, self.top - self.size_)
        self.show()

    @on(Input.Submitted)
    def process(self) -> None:
        self.clear_errors()
        sf = self.query_one(Subfile)
        opts = sf.options()
        for i, _key, code in opts:
            if code != "D":
                self.field_error(sf.option_field(i), t("common.bad_option", code=code[:1]))
                return
        notes = []
        by_name = {o.name: o for o in self.rows}
        for _i, name, _code in opts:
            row = by_name.get(str(name))
            if row is not None and not row.locked:
                notes.append(t("opers.not_locked", name=name))
                continue
            try:
                unlock_operator(self.engine, self.actor, str(name))
                notes.append(t("opers.unlocked", name=name))
            except USER_ERRORS as exc:
                notes.append(tx(exc))
        self.action_refresh()
        show_results(self, notes)
