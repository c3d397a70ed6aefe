"""F4 prompts: customer (name, city, postcode, phone, number) and article (code, label) lookups paged
from the database, and the code prompts (payment method, plan, status, hold, channel, reason,
decision…) every field that takes a code opens with F4."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.i18n import t
from d400tui.widgets import EntryField, FKeyLegend, MessageLine, Subfile

from .base import D400Modal
from .fmt import amount
from .keys import keys

PAGE = 8


class PromptScreen(D400Modal):
    """Dismisses with the chosen key (customer id or article code), or None."""

    SCREEN_ID = "PROMPT"
    LEGEND_KEY = "legend.prompt"
    BINDINGS = keys("pages", pages_first=False)

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
        if not rows:
            self.message(t(f"prompt.none_{self.kind}"))
        else:
            self.message("")

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


# code kind → (code, catalogue key of its words); the catalogues hold the words, this only the codes
CODES: dict[str, tuple[tuple[str, str], ...]] = {
    "method": (
        ("CARD", "method.CARD"),
        ("CHEQUE", "method.CHEQUE"),
        ("TRANSFER", "method.TRANSFER"),
        ("COD", "method.COD"),
    ),
    "plan": (("I", "plan.code_I"), ("D:", "plan.code_D"), ("N:3", "plan.code_N")),
    "status": (
        ("VALIDEE", "status.VALIDATED"),
        ("SAISIE", "status.DRAFT"),
        ("FACTUREE", "status.INVOICED"),
        ("ANNULEE", "status.CANCELLED"),
    ),
    "hold": (("AUCUN", "hold.NONE"), ("BLOQUEE", "hold.BLOCKED"), ("LIBEREE", "hold.RELEASED")),
    "channel": (
        ("TEL", "channel.PHONE"),
        ("WEB", "channel.WEB"),
        ("COURRIER", "channel.MAIL"),
        ("MAGASIN", "channel.SHOP"),
    ),
    "mine": (("O", "lists.mine_yes"), ("N", "lists.mine_no")),
    "expiring": (("O", "lists.expiring_yes"), ("N", "lists.expiring_no")),  # validity branch
    "decision": (
        ("B", "decision.kind_BLOCK"),
        ("L", "decision.kind_RELEASE"),
        ("M", "decision.kind_CHANGE_METHOD"),
        ("R", "decision.kind_RETRY"),
    ),
    "fate": (("1", "lists.fate_1"), ("2", "lists.fate_2")),
    "action": (("1", "precheck.kind_PRECHECK"), ("2", "precheck.kind_CAPTURE"), ("3", "lists.action_3")),
    "view": (("T", "lists.view_all"), ("R", "lists.view_refused")),
    "order_option": tuple((c, f"lists.opt_{c}") for c in ("2", "4", "5", "7", "8", "9", "B", "E", "L", "M", "R")),
    "result_option": tuple((c, f"lists.opt_{c}") for c in ("5", "B", "L", "M", "R")),
    "reason": tuple((str(i), f"lists.reason_{i}") for i in range(1, 6)),
}


def code_choices(kind: str) -> list[tuple[str, str]]:
    """(code, words) of a code prompt; a reason's code is its words (the reason field takes text)."""
    return [(t(key) if kind == "reason" else code, t(key)) for code, key in CODES[kind]]


class CodePromptScreen(D400Modal):
    """F4 on a field that takes a code: the codes and their words; 1 in front of one returns the code."""

    SCREEN_ID = "PROMPT"
    LEGEND_KEY = "legend.prompt"

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.choices = code_choices(kind)

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            yield Static(t(f"lists.prompt_{self.kind}"), classes="strong", markup=False)
            yield Static(t("prompt.options"), markup=False)
            yield Subfile(t("lists.prompt_head"), len(self.choices), id="list")
            yield MessageLine()
            yield FKeyLegend(t("lists.legend_codes"))

    def on_mount(self) -> None:
        sf = self.query_one(Subfile)
        width = max(len(c) for c, _ in self.choices) if self.kind != "reason" else 0
        sf.set_rows([(code, f"{code:<{width}}  {words}" if width else words) for code, words in self.choices], False)
        sf.focus_first()

    @on(Input.Submitted)
    def process(self) -> None:
        self.select_from(self.query_one(Subfile))


def prompt_codes(screen: D400Modal | object, kind: str, field: EntryField) -> None:
    """Open the code prompt for `field` and put the chosen code in it (cursor back on the field)."""

    def chosen(code: object) -> None:
        if isinstance(code, str):
            field.value = code
            field.cursor_position = len(code)
        field.focus()

    screen.app.push_screen(CodePromptScreen(kind), chosen)  # type: ignore[attr-defined]
