"""WRKORD — work with orders: a subfile paged from the database (keyset, newest first), filters
shown in the header, a position-to field, and option codes typed in front of rows — kept when
paging — processed top to bottom by the option table of `options`."""

from __future__ import annotations

from datetime import date, datetime

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import Resize
from textual.widgets import Input, Static

from d400tui.domain import model as m
from d400tui.engine.views import OrderFilter, OrderRow
from d400tui.i18n import t
from d400tui.i18n.render import expiry_words
from d400tui.widgets import EntryField, Subfile

from . import words
from .base import D400Screen
from .fmt import amount, day, parse_day
from .keys import keys
from .options import OrderOptions
from .results import ResultsMixin

STATUS_WORDS = {
    "VALIDATED": "VALIDATED",
    "VALIDEE": "VALIDATED",
    "VALIDÉE": "VALIDATED",
    "DRAFT": "DRAFT",
    "SAISIE": "DRAFT",
    "INVOICED": "INVOICED",
    "FACTUREE": "INVOICED",
    "FACTURÉE": "INVOICED",
    "CANCELLED": "CANCELLED",
    "ANNULEE": "CANCELLED",
    "ANNULÉE": "CANCELLED",
}
HOLD_WORDS = {
    "NONE": "NONE",
    "AUCUN": "NONE",
    "BLOCKED": "BLOCKED",
    "BLOQUEE": "BLOCKED",
    "BLOQUÉE": "BLOCKED",
    "RELEASED": "RELEASED",
    "LIBEREE": "RELEASED",
    "LIBÉRÉE": "RELEASED",
}
CHANNEL_WORDS = {
    "PHONE": "PHONE",
    "TEL": "PHONE",
    "TÉL": "PHONE",
    "MAIL": "MAIL",
    "COURRIER": "MAIL",
    "WEB": "WEB",
    "SHOP": "SHOP",
    "MAGASIN": "SHOP",
}
MINE_WORDS = {"O": True, "Y": True, "N": False}
CODE_FIELDS = {
    "f-status": "status",
    "f-hold": "hold",
    "f-channel": "channel",
    "f-mine": "mine",
    "f-expiring": "expiring",
}
ROWS_AROUND = 11  # lines that are not rows of the page: header, 2 filter rows, the active filters, 2
#                   options, heading, Plus…, legend, message line, one spare (filters or legend wrapping)
NAME_MAX = 30  # a wider terminal widens the customer name up to this, the rest stays at the right
WIDE = 100  # from this width the expiry reads "expire dans 2 j"; below, "2 j" (and a shorter name)
HOURS_IN_SIGHT = 48  # the "expiring within 48 h" filter


def row_text(r: OrderRow, name_width: int = 15, now: datetime | None = None, wide: bool = False) -> str:
    flag = "!" if r.awaiting_decision else " "
    hold = words.hold(r.hold) if r.hold != "NONE" else ""
    expiry = expiry_words(r.authorized_until, now or datetime.now(), wide)
    return (
        f"{r.id:>7} {r.order_date.strftime('%d/%m/%y')} {r.customer_name[:name_width]:<{name_width}} "
        f"{words.channel(r.channel)[:9]:<9} {words.status(r.status)[:9]:<9} {hold[:8]:<8}"
        f"{amount(r.total):>10} {flag}" + (f" {expiry[:17]}" if wide else f"{expiry[:5]:>6}")
    )


def filter_words(f: OrderFilter) -> str:
    """The active filters in words, for the header of the list."""
    parts = []
    if f.created_by:
        parts.append(t("lists.f_mine"))
    if f.awaiting_decision:
        parts.append(t("lists.f_awaiting"))
    if f.status:
        parts.append(t("lists.f_status", status=words.status(f.status.value)))
    if f.hold:
        parts.append(t("lists.f_hold", hold=words.hold(f.hold.value)))
    if f.customer_id is not None:
        parts.append(t("lists.f_customer", customer=f.customer_id))
    if f.channel:
        parts.append(t("lists.f_channel", channel=words.channel(f.channel.value)))
    if f.since:
        parts.append(t("lists.f_since", date=day(f.since)))
    if f.expiring_within_h:
        parts.append(t("lists.f_expiring"))
    return t("lists.filters", filters=", ".join(parts) if parts else t("lists.f_none"))


class WorkOrdersScreen(ResultsMixin, OrderOptions, D400Screen):
    SCREEN_ID = "WRKORD"
    TITLE_KEY = "work.title"
    LEGEND_KEY = "legend.work"
    ALLOWED = ("2", "4", "5", "7", "8", "9", "B", "E", "L", "M", "R")
    BINDINGS = keys("prompt", "refresh", "create", "pages")

    def __init__(self, awaiting: bool = False, page_size: int | None = None) -> None:
        super().__init__()
        self.awaiting = awaiting
        self.page_size = page_size
        self.fixed_size = page_size is not None
        self.filter = OrderFilter(awaiting_decision=True if awaiting else None)
        self.top_id: int | None = None  # first row of the page shown: reloads keep the position
        self.more = False
        self.queue: list[tuple[int, int, str]] = []
        self.notes: list[str] = []
        self.typed: dict[int, str] = {}  # order id → option typed on a page since left (kept when paging)

    def wide(self) -> bool:
        return self.app.size.width >= WIDE

    def name_width(self) -> int:
        if not self.wide():
            return 12  # room for the expiry column at 80 columns
        return min(NAME_MAX, 15 + self.app.size.width - WIDE)

    def heading(self) -> str:
        base = t("work.heading", customer=t("lists.col_customer")[: self.name_width()].ljust(self.name_width()))
        return base + ("   " + t("work.col_expiry") if self.wide() else f"{t('work.col_expiry_short'):>8}")

    def size_for(self, height: int) -> int:
        return self.page_size if self.fixed_size and self.page_size else max(5, height - ROWS_AROUND)

    def compose(self) -> ComposeResult:
        self.page_size = self.size_for(self.app.size.height)
        yield from self.frame_top()
        with Vertical(classes="body", id="wrk-body"):
            with Horizontal(classes="row"):
                yield Static(t("work.f_status"), classes="lbl", markup=False)
                yield EntryField(width=9, upper=True, id="f-status")
                yield Static(t("work.f_hold"), classes="lbl", markup=False)
                yield EntryField(width=8, upper=True, id="f-hold")
                yield Static(t("work.f_customer"), classes="lbl", markup=False)
                yield EntryField(width=7, id="f-customer")
                yield Static(t("work.f_channel"), classes="lbl", markup=False)
                yield EntryField(width=8, upper=True, id="f-channel")
                yield Static(t("work.f_since"), classes="lbl", markup=False)
                yield EntryField(width=10, id="f-since")
            with Horizontal(classes="row"):
                yield Static(t("lists.position"), classes="lbl", markup=False)
                yield EntryField(width=7, id="f-position")
                yield Static(t("lists.mine"), classes="lbl", markup=False)
                yield EntryField(width=1, upper=True, id="f-mine")
                yield Static(t("work.f_expiring"), classes="lbl", markup=False)
                yield EntryField(width=1, upper=True, id="f-expiring")
            yield Static("", id="filters", classes="hint", markup=False)
            yield Static(t("work.options1"), classes="label", markup=False)
            yield Static(t("work.options2"), classes="label", markup=False)
            yield Subfile(self.heading(), self.page_size, id="orders")
        yield from self.frame_bottom()

    def default_filter(self) -> OrderFilter:
        mine = None if self.actor.supervisor else self.actor.name  # operators: "mes commandes" by default
        return OrderFilter(awaiting_decision=True if self.awaiting else None, created_by=mine)

    def reset(self, awaiting: bool = False) -> WorkOrdersScreen:
        """A fresh list (default filter, newest first) for an opening from the menu; the app keeps one
        composed instance. Returning from a panel opened from the list (5, 8, F6…) keeps the page."""
        self.awaiting = awaiting
        self.filter = self.default_filter()
        self.top_id = None
        self.queue, self.notes, self.typed, self.results = [], [], {}, []
        self.busy = False
        if self.is_mounted:
            for fid in ("#f-status", "#f-hold", "#f-customer", "#f-channel", "#f-since", "#f-position"):
                self.query_one(fid, EntryField).value = ""
            self.query_one("#f-mine", EntryField).value = "O" if self.filter.created_by else "N"
            self.query_one("#f-expiring", EntryField).value = "N"
            self.clear_errors()
            self.load()
            self.query_one(Subfile).focus_first()
        return self

    def on_mount(self) -> None:
        self.filter = self.default_filter()
        self.query_one("#f-mine", EntryField).value = "O" if self.filter.created_by else "N"
        self.query_one("#f-expiring", EntryField).value = "N"
        self.load()
        self.query_one(Subfile).focus_first()

    # -- paging ------------------------------------------------------------------------------------
    def keep_typed(self) -> None:
        """Options typed on the page about to be left are kept for the Enter that processes them."""
        sf = self.query_one(Subfile)
        shown = {int(k) for k in sf.keys}  # type: ignore[call-overload]
        for k in shown:
            self.typed.pop(k, None)
        for _i, key, code in sf.options():
            self.typed[int(key)] = code  # type: ignore[call-overload]

    def _show(self, rows: list[OrderRow], more: bool) -> None:
        assert self.page_size
        self.more = more
        self.top_id = rows[0].id if rows else None
        sf = self.query_one(Subfile)
        sf.set_heading(self.heading())
        now, wide = self.engine.clock(), self.wide()
        sf.set_rows([(r.id, row_text(r, self.name_width(), now, wide)) for r in rows], more)
        for i, r in enumerate(rows):
            if r.id in self.typed:
                sf.option_field(i).value = self.typed[r.id]
        self.query_one("#filters", Static).update(filter_words(self.filter))

    def load(self, after_id: int | None = None) -> None:
        """Rows from `after_id` (exclusive) downwards; one extra row tells "Plus…" from "Fin"."""
        assert self.page_size
        rows = self.engine.list_orders(self.filter, after_id=after_id, limit=self.page_size + 1)
        if not rows and after_id is not None:
            self.message(t("common.at_bottom"))
            return
        self._show(rows[: self.page_size], len(rows) > self.page_size)

    def reload(self) -> None:
        self.load(None if self.top_id is None else self.top_id + 1)

    def action_page_down(self) -> None:
        sf = self.query_one(Subfile)
        if not self.more or not sf.keys:
            self.message(t("common.at_bottom"))
            return
        self.keep_typed()
        self.message("")
        self.load(int(sf.keys[-1]))  # type: ignore[call-overload]

    def action_page_up(self) -> None:
        assert self.page_size
        if self.top_id is None:
            self.message(t("common.at_top"))
            return
        rows = self.engine.list_orders(self.filter, before_id=self.top_id, limit=self.page_size)
        if not rows:
            self.message(t("common.at_top"))
            return
        self.keep_typed()
        self.message("")
        self.load(rows[0].id + 1)

    async def on_resize(self, event: Resize) -> None:
        """A new page size on a resized terminal: the page is built again from its first row, so
        no row is skipped by the next PageDown, and the message line keeps what it said."""
        new = self.size_for(event.size.height)
        subfiles = self.query(Subfile)
        messages = self.query("#message")
        if not self.is_mounted or new == self.page_size or not subfiles or not messages:
            return
        self.keep_typed()
        said, error = self.message_text, messages.first().has_class("error")
        had_focus = self.focused is not None and self.focused.id is not None and self.focused.id.startswith("sfl-")
        await subfiles.first().remove()
        self.page_size = new
        await self.query_one("#wrk-body", Vertical).mount(Subfile(self.heading(), new, id="orders"))
        self.reload()
        self.message(said, error)
        if had_focus:
            self.query_one(Subfile).focus_first()

    def action_refresh(self) -> None:
        self.clear_errors()
        self.reload()

    def action_create(self) -> None:
        from .order_entry import OrderEntryScreen

        self.app.push_screen(OrderEntryScreen(), lambda _: self.reload())

    def action_prompt(self) -> None:
        """F4 on a filter field: its codes (or the customer search); elsewhere, say where it works."""
        from .prompt import PromptScreen, prompt_codes

        f = self.focused
        fid = getattr(f, "id", None) or ""
        if fid in CODE_FIELDS and isinstance(f, EntryField):
            prompt_codes(self, CODE_FIELDS[fid], f)
        elif fid == "f-customer" and isinstance(f, EntryField):
            field = f

            def chosen(key: object) -> None:
                if isinstance(key, int):
                    field.value = str(key)
                field.focus()

            self.app.push_screen(PromptScreen("customer"), chosen)
        elif fid.startswith("sfl-opt-") and isinstance(f, EntryField):
            prompt_codes(self, "order_option", f)
        else:
            self.message(t("lists.f4_where"))

    # -- filters -----------------------------------------------------------------------------------
    def read_filter(self) -> OrderFilter | None:
        def word(fid: str, table: dict[str, str], key: str) -> str | None:
            f = self.query_one(fid, EntryField)
            if not f.text:
                return None
            if f.text not in table:
                self.field_error(f, t(key))
                raise ValueError
            return table[f.text]

        try:
            status = word("#f-status", STATUS_WORDS, "work.bad_status")
            hold = word("#f-hold", HOLD_WORDS, "work.bad_hold")
            channel = word("#f-channel", CHANNEL_WORDS, "work.bad_channel")
        except ValueError:
            return None
        cust_f, since_f = self.query_one("#f-customer", EntryField), self.query_one("#f-since", EntryField)
        mine_f = self.query_one("#f-mine", EntryField)
        customer = None
        if cust_f.text:
            if not (cust_f.text.isascii() and cust_f.text.isdigit()) or len(cust_f.text) > 9:
                self.field_error(cust_f, t("work.bad_customer"))
                return None
            customer = int(cust_f.text)
        since: date | None = None
        if since_f.text:
            try:
                since = parse_day(since_f.text)
            except (ValueError, TypeError):
                self.field_error(since_f, t("work.bad_date"))
                return None
        if mine_f.text and mine_f.text not in MINE_WORDS:
            self.field_error(mine_f, t("lists.bad_mine"))
            return None
        mine = MINE_WORDS.get(mine_f.text, False)
        expiring_f = self.query_one("#f-expiring", EntryField)
        if expiring_f.text and expiring_f.text not in MINE_WORDS:
            self.field_error(expiring_f, t("work.bad_expiring"))
            return None
        return OrderFilter(
            status=m.OrderStatus(status) if status else None,
            hold=m.PaymentHold(hold) if hold else None,
            customer_id=customer,
            channel=m.Channel(channel) if channel else None,
            since=since,
            awaiting_decision=True if self.awaiting else None,
            created_by=self.actor.name if mine else None,
            expiring_within_h=HOURS_IN_SIGHT if MINE_WORDS.get(expiring_f.text, False) else None,
        )

    def read_position(self) -> int | None | bool:
        """The order number typed in "Début liste à": the list then starts at it (or the next older
        one). None when empty, False when invalid (message shown)."""
        f = self.query_one("#f-position", EntryField)
        if not f.text:
            return None
        if not (f.text.isascii() and f.text.isdigit()) or len(f.text) > 9:
            self.field_error(f, t("lists.bad_position"))
            return False
        return int(f.text)

    # -- options -----------------------------------------------------------------------------------
    @on(Input.Submitted)
    def process(self) -> None:
        if self.busy or self.queue:
            return
        self.clear_errors()
        sf = self.query_one(Subfile)
        opts = sf.options()
        for i, _key, code in opts:
            if code not in self.ALLOWED:
                self.field_error(sf.option_field(i), t("common.bad_option", code=code[:1]))
                return
        self.keep_typed()
        for oid, code in sorted(self.typed.items(), reverse=True):
            if code not in self.ALLOWED:  # typed on a page since left
                self.message(t("lists.bad_option_order", code=code[:1], order=oid), error=True)
                return
        if not self.typed:
            new = self.read_filter()
            if new is None:
                return
            pos = self.read_position()
            if pos is False:
                return
            if new != self.filter:
                self.filter = new
                self.top_id = None
            if isinstance(pos, int):
                self.query_one("#f-position", EntryField).value = ""
                self.load(pos + 1)
                return
            self.reload()
            return
        # every option typed, on this page and the pages left, newest order first (the list's order)
        on_page = {int(k): i for i, k in enumerate(sf.keys)}  # type: ignore[call-overload]
        todo = [(on_page.get(oid, -1), oid, code) for oid, code in sorted(self.typed.items(), reverse=True)]
        self.typed = {}
        self.start_options(todo)

    def clear_option(self, i: int) -> None:
        if i >= 0:
            self.query_one(Subfile).clear_option(i)

    def after_options(self) -> None:
        self.reload()
