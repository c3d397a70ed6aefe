"""F4 prompts: customer (name, postcode) and article (code, label) lookups, paged from the database."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.i18n import t
from d400tui.widgets import EntryField, FKeyLegend, MessageLine, Subfile

from .base import D400Modal
from .fmt import amount

PAGE = 8


class PromptScreen(D400Modal):
    """Dismisses with the chosen key (customer id or article code), or None."""

    SCREEN_ID = "PROMPT"
    LEGEND_KEY = "legend.prompt"
    BINDINGS = [*D400Modal.BINDINGS,
                Binding("pagedown", "page_down", show=False, id="d400.page_down"),
                Binding("pageup", "page_up", show=False, id="d400.page_up")]
    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > #panel { width: 76; height: auto; border: heavy #40e0d0; background: black; padding: 0 1; }
    """

    def __init__(self, kind: str, text: str = "") -> None:
        super().__init__()
        self.kind = kind
        self.search = text
        self.pages: list[object] = []  # the `after` key of each page shown so far (back with PageUp)
        self.more = False

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            yield Static(t(f"prompt.title_{self.kind}"), classes="strong", markup=False)
            with Horizontal(classes="row"):
                yield Static(t("prompt.search"), classes="lbl", markup=False)
                yield EntryField(self.search[:30], width=30, upper=True, id="search")
            yield Static(t("prompt.options"), markup=False)
            yield Subfile(t(f"prompt.head_{self.kind}"), PAGE, id="list")
            yield MessageLine()
            yield FKeyLegend(t(self.LEGEND_KEY))

    def on_mount(self) -> None:
        self.pages = [0 if self.kind == "customer" else ""]
        self.load()
        self.query_one("#search", EntryField).focus()

    def fetch(self, after: object) -> list[tuple[object, str]]:
        text = self.query_one("#search", EntryField).text
        if self.kind == "customer":
            custs = self.engine.search_customers(text, PAGE + 1, int(after or 0))
            return [(c.id, f"{c.id:<8} {c.name[:28]:<28} {c.postcode:<6} {c.city[:20]}") for c in custs]
        arts = self.engine.search_articles(text, PAGE + 1, str(after or ""))
        return [(a.code, f"{a.code:<12} {a.label[:40]:<40} {amount(a.unit_price):>10}") for a in arts]

    def load(self) -> None:
        rows = self.fetch(self.pages[-1])
        self.more = len(rows) > PAGE
        self.query_one(Subfile).set_rows(rows[:PAGE], self.more)

    def action_page_down(self) -> None:
        sf = self.query_one(Subfile)
        if not self.more or not sf.keys:
            self.message(t("common.at_bottom"))
            return
        self.pages.append(sf.keys[-1])
        self.load()

    def action_page_up(self) -> None:
        if len(self.pages) <= 1:
            self.message(t("common.at_top"))
            return
        self.pages.pop()
        self.load()

    @on(Input.Submitted)
    def process(self) -> None:
        if self.select_from(self.query_one(Subfile)):
            return
        self.pages = [self.pages[0]]
        self.load()
