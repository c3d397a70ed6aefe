"""SIGNON — operator and password; same message for an unknown name and a wrong password."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.engine import USER_ERRORS, operators
from d400tui.i18n import t
from d400tui.widgets import EntryField

from .base import D400Screen, field_map


class SignOnScreen(D400Screen):
    SCREEN_ID = "SIGNON"
    TITLE_KEY = "signon.title"
    LEGEND_KEY = "legend.signon"

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="body"):
            yield Static("", classes="gap")
            yield Static(t("signon.banner"), classes="strong", markup=False)
            yield Static("", classes="gap")
            with Horizontal(classes="row"):
                yield Static(t("signon.operator"), classes="lbl", markup=False)
                yield EntryField(width=10, upper=True, id="operator")
            with Horizontal(classes="row"):
                yield Static(t("signon.password"), classes="lbl", markup=False)
                yield EntryField(width=20, max_length=128, password=True, id="password")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self.query_one("#operator", EntryField).focus()

    def action_exit(self) -> None:
        self.app.exit()

    def action_back(self) -> None:
        self.clear_errors()

    @on(Input.Submitted)
    def process(self) -> None:
        self.clear_errors()
        fields = field_map(self, [("operator", "operator"), ("password", "password")])
        name, password = fields["operator"].text, fields["password"].value
        if not name:
            self.field_error(fields["operator"], t("signon.operator_required"))
            return
        if not password:
            self.field_error(fields["password"], t("signon.password_required"))
            return
        try:
            actor = operators.sign_on(self.engine.db, name, password)
        except USER_ERRORS as exc:
            fields["password"].value = ""
            self.show_error(exc, fields)
            return
        fields["password"].value = ""
        self.d400.signed_on(actor)
