"""CONFIRM — confirmation panels for delete (4), cancel with a reason (7) and cancel deferred (9).
Enter or F10 confirms, F12 returns without acting."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.domain import model as m
from d400tui.i18n import t
from d400tui.widgets import EntryField, FKeyLegend, MessageLine

from .base import D400Modal
from .fmt import amount, day
from .keys import keys


class ConfirmScreen(D400Modal):
    """kind: delete → dismiss(True); cancel → dismiss(reason); deferred → dismiss((seq, pay_now))."""

    SCREEN_ID = "CONFIRM"
    LEGEND_KEY = "legend.confirm"
    BINDINGS = keys("prompt", f10="confirm", enter="confirm")

    def __init__(self, kind: str, order: m.Order) -> None:
        super().__init__()
        self.kind = kind
        self.order = order

    def compose(self) -> ComposeResult:
        o = self.order
        with Vertical(id="panel"):
            yield Static(t(f"confirm.title_{self.kind}"), classes="strong", markup=False)
            yield Static(
                t(
                    "confirm.order",
                    order=o.id,
                    date=day(o.order_date),
                    total=amount(o.total),
                    status=t(f"status.{o.status.value}"),
                    card=str(o.card or "-"),
                ),
                markup=False,
            )
            live = len(o.live_authorizations())
            yield Static(t("confirm.voids", n=live) if live else t("confirm.no_void"), markup=False)
            if self.kind == "cancel":
                with Horizontal(classes="row"):
                    yield Static(t("confirm.reason"), classes="lbl", markup=False)
                    yield EntryField(width=50, max_length=200, id="reason")
            if self.kind == "deferred":
                for inst in o.pending_instalments():
                    if inst.is_deferred(o.order_date):
                        yield Static(
                            t("confirm.instalment", seq=inst.seq, due=day(inst.due_date), amount=amount(inst.amount)),
                            markup=False,
                        )
                with Horizontal(classes="row"):
                    yield Static(t("confirm.seq"), classes="lbl", markup=False)
                    yield EntryField(width=2, id="seq")
                with Horizontal(classes="row"):
                    yield Static(t("confirm.fate"), classes="lbl", markup=False)
                    yield EntryField(width=1, id="fate")
            yield Static(t(f"confirm.ask_{self.kind}"), classes="label", markup=False)
            yield MessageLine()
            yield FKeyLegend(t(self.LEGEND_KEY))

    def on_mount(self) -> None:
        fields = list(self.query(EntryField))
        if fields:
            fields[0].focus()

    @on(Input.Submitted)
    def _enter(self) -> None:
        self.action_confirm()

    def action_prompt(self) -> None:
        """F4 on the reason (common reasons) or on the fate of a deferred amount."""
        from .prompt import prompt_codes

        f = self.focused
        kind = {"reason": "reason", "fate": "fate"}.get(getattr(f, "id", None) or "")
        if kind and isinstance(f, EntryField):
            prompt_codes(self, kind, f)
        else:
            self.message(t("lists.f4_where"))

    def action_confirm(self) -> None:
        self.clear_errors()
        if self.kind == "delete":
            self.dismiss(True)
        elif self.kind == "cancel":
            field = self.query_one("#reason", EntryField)
            if not field.text:
                self.field_error(field, t("confirm.reason_required"))
                return
            self.dismiss(field.text)
        else:
            seq_f, fate_f = self.query_one("#seq", EntryField), self.query_one("#fate", EntryField)
            if not (seq_f.text.isascii() and seq_f.text.isdigit()) or not 1 <= int(seq_f.text) <= 99:
                self.field_error(seq_f, t("confirm.seq_invalid"))
                return
            if fate_f.text not in ("1", "2"):
                self.field_error(fate_f, t("confirm.fate_invalid"))
                return
            self.dismiss((int(seq_f.text), fate_f.text == "2"))


class ConfirmRunScreen(ConfirmScreen):
    """A batch run about to start, in words (what, how many, how much): Enter/F10 → True, F12 → None."""

    def __init__(self, title: str, text: str) -> None:
        super(ConfirmScreen, self).__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            yield Static(self.title_text, classes="strong", markup=False)
            yield Static(self.text, markup=False)
            yield Static(t("lists.ask_run"), classes="label", markup=False)
            yield MessageLine()
            yield FKeyLegend(t(self.LEGEND_KEY))

    def action_confirm(self) -> None:
        self.dismiss(True)
