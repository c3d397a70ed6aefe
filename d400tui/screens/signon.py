"""SIGNON — operator and password; same message for an unknown name and a wrong password.

The password check (argon2, ~0.2 s) and the draft look-up run in a thread: the screen keeps
answering, and the engine may still be opening in the background when Enter is pressed."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.i18n import t
from d400tui.widgets import EntryField

from .base import D400Screen, field_map
from .keys import keys


class SignOnScreen(D400Screen):
    SCREEN_ID = "SIGNON"
    TITLE_KEY = "signon.title"
    LEGEND_KEY = "legend.signon"
    BINDINGS = keys("arrows")

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

    def keyboard_locked(self) -> bool:
        return self.checking  # what is typed meanwhile is for the menu that follows

    @on(Input.Submitted)
    def process(self, event: Input.Submitted) -> None:
        if self.checking:
            return
        fields = field_map(self, [("operator", "operator"), ("password", "password")])
        name, password = fields["operator"].text, fields["password"].value
        if event.input is fields["operator"] and name and not password:
            fields["password"].focus()  # Enter on the name goes to the password, as Tab does
            return
        self.clear_errors()
        if not name:
            self.field_error(fields["operator"], t("signon.operator_required"))
            return
        if not password:
            self.field_error(fields["password"], t("signon.password_required"))
            return
        self.checking = True
        self.message(t("signon.checking"))
        self.run_worker(lambda: self._check(name, password), thread=True, exit_on_error=False, group="signon")

    checking = False

    def _check(self, name: str, password: str) -> None:
        from d400tui.engine import USER_ERRORS, operators

        try:
            actor = operators.sign_on(self.engine.db, name, password)
            draft = self.engine.load_draft(actor)
        except USER_ERRORS as exc:
            self.app.call_from_thread(self._refused, exc)
            return
        except Exception:  # noqa: BLE001 - a broken database must not leave the screen waiting
            self.app.call_from_thread(self._refused, RuntimeError(t("signon.failed")))
            return
        self.app.call_from_thread(self._accepted, actor, draft)

    def _refused(self, exc: Exception) -> None:
        self.checking = False
        fields = field_map(self, [("operator", "operator"), ("password", "password")])
        fields["password"].value = ""
        self.show_error(exc, fields)

    def _accepted(self, actor: object, draft: object) -> None:
        self.checking = False
        self.query_one("#password", EntryField).value = ""
        self.d400.signed_on(actor, draft)  # type: ignore[arg-type]
