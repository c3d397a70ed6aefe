"""WRKORD — work with orders: a subfile paged from the database (keyset, newest first), filters, and
option codes typed in front of rows, processed top to bottom."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.domain import model as m
from d400tui.engine import USER_ERRORS, ValidationResult
from d400tui.engine.views import OrderFilter, OrderRow
from d400tui.i18n import t
from d400tui.i18n.engine_text import tx
from d400tui.widgets import EntryField, Subfile

from .base import D400Screen
from .fmt import amount, parse_day
from .order_entry import AuthorizingMixin

OPTIONS = ("2", "4", "5", "7", "8", "9", "B", "L")
STATUS_WORDS = {"VALIDATED": "VALIDATED", "VALIDEE": "VALIDATED", "VALIDÉE": "VALIDATED",
                "DRAFT": "DRAFT", "SAISIE": "DRAFT", "INVOICED": "INVOICED", "FACTUREE": "INVOICED",
                "FACTURÉE": "INVOICED", "CANCELLED": "CANCELLED", "ANNULEE": "CANCELLED", "ANNULÉE": "CANCELLED"}
HOLD_WORDS = {"NONE": "NONE", "AUCUN": "NONE", "BLOCKED": "BLOCKED", "BLOQUEE": "BLOCKED", "BLOQUÉE": "BLOCKED",
              "RELEASED": "RELEASED", "LIBEREE": "RELEASED", "LIBÉRÉE": "RELEASED"}
CHANNEL_WORDS = {"PHONE": "PHONE", "TEL": "PHONE", "MAIL": "MAIL", "COURRIER": "MAIL", "WEB": "WEB",
                 "SHOP": "SHOP", "MAGASIN": "SHOP"}


def row_text(r: OrderRow) -> str:
    flag = "!" if r.awaiting_decision else " "
    hold = t(f"hold.{r.hold}") if r.hold != "NONE" else ""
    return (f"{r.id:>7} {r.order_date.strftime('%d/%m/%y')} {r.customer_name[:17]:<17} {r.channel[:5]:<5} "
            f"{t(f'status.{r.status}')[:9]:<9} {hold[:8]:<8}{amount(r.total):>10} {flag}")


class WorkOrdersScreen(AuthorizingMixin, D400Screen):
    SCREEN_ID = "WRKORD"
    TITLE_KEY = "work.title"
    LEGEND_KEY = "legend.work"
    BINDINGS = [*D400Screen.BINDINGS,
                Binding("f5", "refresh", t("key.f5"), show=False, id="d400.refresh", tooltip=t("key.f5")),
                Binding("ctrl+r", "refresh", t("key.f5"), show=False, id="d400.refresh.ctrl", tooltip=t("key.f5")),
                Binding("f6", "create", t("key.f6"), show=False, id="d400.create", tooltip=t("key.f6")),
                Binding("pagedown", "page_down", show=False, id="d400.page_down", priority=True),
                Binding("pageup", "page_up", show=False, id="d400.page_up", priority=True)]

    def __init__(self, awaiting: bool = False, page_size: int | None = None) -> None:
        super().__init__()
        self.awaiting = awaiting
        self.page_size = page_size
        self.filter = OrderFilter(awaiting_decision=True if awaiting else None)
        self.top_id: int | None = None  # first row of the page shown: reloads keep the position
        self.more = False
        self.queue: list[tuple[int, int, str]] = []
        self.notes: list[str] = []

    def compose(self) -> ComposeResult:
        size = self.page_size or max(5, self.app.size.height - 11)
        self.page_size = size
        yield from self.frame_top()
        with Vertical(classes="body"):
            with Horizontal(classes="row"):
                yield Static(t("work.f_status"), classes="lbl", markup=False)
                yield EntryField(width=9, upper=True, id="f-status")
                yield Static(t("work.f_hold"), classes="lbl", markup=False)
                yield EntryField(width=8, upper=True, id="f-hold")
                yield Static(t("work.f_customer"), classes="lbl", markup=False)
                yield EntryField(width=7, id="f-customer")
                yield Static(t("work.f_channel"), classes="lbl", markup=False)
                yield EntryField(width=5, upper=True, id="f-channel")
                yield Static(t("work.f_since"), classes="lbl", markup=False)
                yield EntryField(width=10, id="f-since")
            yield Static(t("common.type_options"), markup=False)
            yield Static(t("work.options1"), classes="label", markup=False)
            yield Static(t("work.options2"), classes="label", markup=False)
            yield Subfile(t("work.heading"), size, id="orders")
        yield from self.frame_bottom()

    def reset(self, awaiting: bool = False) -> WorkOrdersScreen:
        """A fresh list (no filter, newest first) for an opening from the menu; the app keeps one
        composed instance. Returning from a panel opened from the list (5, 8, F6…) keeps the page."""
        self.awaiting = awaiting
        self.filter = OrderFilter(awaiting_decision=True if awaiting else None)
        self.top_id = None
        self.queue, self.notes = [], []
        self.busy = False
        if self.is_mounted:
            for fid in ("#f-status", "#f-hold", "#f-customer", "#f-channel", "#f-since"):
                self.query_one(fid, EntryField).value = ""
            self.clear_errors()
            self.load()
            self.query_one(Subfile).focus_first()
        return self

    def on_mount(self) -> None:
        self.load()
        self.query_one(Subfile).focus_first()

    # -- paging ------------------------------------------------------------------------------------
    def _show(self, rows: list[OrderRow], more: bool) -> None:
        assert self.page_size
        self.more = more
        self.top_id = rows[0].id if rows else None
        self.query_one(Subfile).set_rows([(r.id, row_text(r)) for r in rows], more)

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
        self.message("")
        self.load(rows[0].id + 1)

    def action_refresh(self) -> None:
        self.clear_errors()
        self.reload()

    def action_create(self) -> None:
        from .order_entry import OrderEntryScreen

        self.app.push_screen(OrderEntryScreen(), lambda _: self.reload())

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
        return OrderFilter(status=m.OrderStatus(status) if status else None,
                           hold=m.PaymentHold(hold) if hold else None, customer_id=customer,
                           channel=m.Channel(channel) if channel else None, since=since,
                           awaiting_decision=True if self.awaiting else None)

    # -- options -----------------------------------------------------------------------------------
    @on(Input.Submitted)
    def process(self) -> None:
        if self.busy or self.queue:
            return
        self.clear_errors()
        sf = self.query_one(Subfile)
        opts = sf.options()
        for i, _key, code in opts:
            if code not in OPTIONS:
                self.field_error(sf.option_field(i), t("common.bad_option", code=code[:1]))
                return
        if not opts:
            new = self.read_filter()
            if new is None:
                return
            if new != self.filter:
                self.filter = new
                self.top_id = None
            self.reload()
            return
        self.queue = [(i, int(key), code) for i, key, code in opts]  # type: ignore[call-overload]
        self.notes = []
        self.next_option()

    def next_option(self) -> None:
        if not self.queue:
            self.reload()
            if self.notes:
                self.message(" | ".join(self.notes[-3:]))
            return
        i, oid, code = self.queue.pop(0)
        self.query_one(Subfile).clear_option(i)
        try:
            self.run_option(oid, code)
        except USER_ERRORS as exc:
            self.done(tx(exc))

    def done(self, note: str | None = None) -> None:
        if note:
            self.notes.append(note)
        self.next_option()

    def engine_call(self, call: Callable[[], Any], ok: Callable[[ValidationResult], str]) -> None:
        self.run_auth(call, lambda res: self.done(ok(res)), lambda exc: self.done(tx(exc)))

    def run_option(self, oid: int, code: str) -> None:
        from .confirm import ConfirmScreen
        from .display_order import DisplayOrderScreen
        from .payment_change import PaymentChangeScreen

        if code == "5":
            self.app.push_screen(DisplayOrderScreen(oid), lambda _: self.done())
        elif code == "8":
            self.app.push_screen(PaymentChangeScreen(oid), lambda _: self.done())
        elif code == "2":
            from .order_entry import OrderEntryScreen

            order = self.engine.get_order(oid)
            order.ensure_open()
            self.app.push_screen(OrderEntryScreen(modify=order), lambda note: self.done(
                note if isinstance(note, str) else t("work.not_done", order=oid)))
        elif code in ("B", "L"):
            kind = m.DecisionKind.BLOCK if code == "B" else m.DecisionKind.RELEASE
            self.engine_call(lambda: self.engine.decide(self.actor, oid, kind),
                             lambda res: t("decision.recorded", order=oid, decision=t(f"decision.kind_{kind.value}")))
        elif code == "4":
            order = self.engine.get_order(oid)

            def confirmed_delete(ok: object) -> None:
                if not ok:
                    self.done(t("work.not_done", order=oid))
                    return
                self.engine_call(lambda: self.engine.delete_order(self.actor, oid),
                                 lambda res: t("work.deleted", order=oid) + void_note(res))

            self.app.push_screen(ConfirmScreen("delete", order), confirmed_delete)
        elif code == "7":
            order = self.engine.get_order(oid)

            def confirmed_cancel(reason: object) -> None:
                if not reason:
                    self.done(t("work.not_done", order=oid))
                    return
                self.engine_call(lambda: self.engine.cancel_order(self.actor, oid, str(reason)),
                                 lambda res: t("work.cancelled", order=oid) + void_note(res))

            self.app.push_screen(ConfirmScreen("cancel", order), confirmed_cancel)
        elif code == "9":
            order = self.engine.get_order(oid)
            if not any(i.is_deferred(order.order_date) for i in order.pending_instalments()):
                self.done(t("work.no_deferred", order=oid))
                return

            def confirmed_deferred(choice: object) -> None:
                if not choice:
                    self.done(t("work.not_done", order=oid))
                    return
                seq, pay_now = choice  # type: ignore[misc]
                self.engine_call(lambda: self.engine.cancel_deferred(self.actor, oid, seq, pay_now),
                                 lambda res: deferred_note(res, oid, seq, pay_now))

            self.app.push_screen(ConfirmScreen("deferred", order), confirmed_deferred)


def void_note(res: ValidationResult) -> str:
    if not res.voids:
        return ""
    return " — " + "; ".join(tx(v.message) for v in res.voids)


def deferred_note(res: ValidationResult, oid: int, seq: int, pay_now: bool) -> str:
    text = t("work.deferred_paid" if pay_now else "work.deferred_dropped", order=oid, seq=seq) + void_note(res)
    f = res.failed
    if f is not None:
        text += " — " + t("entry.awaiting", order=oid, headline=t(f"category.{f.category.value}"), code=f.code)
    return text
