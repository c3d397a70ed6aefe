"""MENU — numbered options and an `Option ===>` line; supervisor options hidden from operators
(and refused by the engine too)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.i18n import t
from d400tui.widgets import EntryField

from .base import D400Screen
from .registry import work_orders_panel

OPTIONS = (
    ("1", "menu.opt_entry", False),
    ("2", "menu.opt_work", False),
    ("3", "menu.opt_awaiting", False),
    ("10", "menu.opt_precheck", True),
    ("11", "menu.opt_operators", True),
    ("12", "menu.opt_supervision", True),
    ("13", "menu.opt_blocked", True),
    ("14", "menu.opt_audit", True),
    ("15", "menu.opt_voids", True),
    ("90", "menu.opt_signoff", False),
)
# supervisor panels: option -> (module, screen class), imported on choice (the engine refuses anyway)
SUPERVISOR_SCREENS = {
    "10": ("precheck", "PrecheckScreen"),
    "11": ("operators", "OperatorsScreen"),
    "12": ("supervision", "SupervisionScreen"),
    "13": ("blocked", "BlockedScreen"),
    "14": ("audit", "AuditScreen"),
    "15": ("pending_voids", "PendingVoidsScreen"),
}


class MenuScreen(D400Screen):
    SCREEN_ID = "MENU"
    TITLE_KEY = "menu.title"
    LEGEND_KEY = "legend.menu"

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="body"):
            yield Static(
                t(
                    "menu.who",
                    name=self.actor.name,
                    role=t("menu.supervisor") if self.actor.supervisor else t("menu.operator"),
                ),
                classes="label",
                markup=False,
            )
            yield Static("", classes="gap")
            yield Static(t("menu.select"), markup=False)
            yield Static("", classes="gap")
            for code, key, sup in OPTIONS:
                if sup and not self.actor.supervisor:
                    continue
                yield Static(f"{code:>4}. {t(key)}", markup=False)
            yield Static("", classes="gap")
            with Horizontal(classes="row"):
                yield Static(t("menu.prompt"), classes="lbl", markup=False)
                yield EntryField(width=3, upper=True, id="option")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self.query_one("#option", EntryField).focus()

    def on_screen_resume(self) -> None:
        self.query_one("#option", EntryField).focus()

    def action_exit(self) -> None:
        self.d400.sign_off()

    def action_back(self) -> None:
        self.clear_errors()

    @on(Input.Submitted)
    def process(self) -> None:
        field = self.query_one("#option", EntryField)
        code = field.text
        self.clear_errors()
        if not code:
            return
        field.value = ""
        if code == "1":
            from .order_entry import OrderEntryScreen

            self.app.push_screen(OrderEntryScreen())
        elif code in ("2", "3"):
            self.app.push_screen(work_orders_panel(self.app, awaiting=code == "3"))
        elif code in SUPERVISOR_SCREENS:
            if not self.actor.supervisor:  # display only: the engine refuses anyway
                self.field_error(field, t("menu.supervisor_only"))
                return
            from importlib import import_module

            module, name = SUPERVISOR_SCREENS[code]
            self.app.push_screen(getattr(import_module(f"{__package__}.{module}"), name)())
        elif code == "90":
            self.d400.sign_off()
        else:
            self.field_error(field, t("menu.bad_option", code=code[:3]))
