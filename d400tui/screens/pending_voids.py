"""VOIDS — supervisors: voids that did not get through (the acquirer was down), the hold that has
sat longest on a cardholder's account first (Visa's misuse-of-authorization clock), each with its
age, its tries and its next try on the backoff. R=retry this one now, 5=display the order,
F10=retry those whose next try has come, PageDown/PageUp the next/previous page (the list is read
whole, in its clock order, and paged here). Rights and audit are the engine's (engine/pending_voids)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

from d400tui.i18n import t
from d400tui.i18n.render import age_words, tx
from d400tui.widgets import Subfile

from .base import D400Screen
from .fmt import amount
from .keys import keys

OPTIONS = ("R", "5")


def when(at: datetime | None, now: datetime) -> str:
    if at is None:
        return t("voids.never")
    return t("voids.now") if at <= now else f"{at:%d/%m %H:%M}"


def heading() -> str:
    """The column words over the row text (which starts two columns right, after the option)."""
    o, c, a, k, h, n, last, nxt = t("voids.cols").split("|")
    return f"Op{o:>7} {c:<12} {a:>10} {k:>5} {h:>7} {n:>6} {last:<11} {nxt}"


def row_text(p: Any, now: datetime) -> str:
    last = f"{p.last_try:%d/%m %H:%M}" if p.last_try else t("voids.never")
    nxt = when(p.next_try, now) if p.last_try else t("voids.now")
    return (
        f"{p.order_id:>7} {p.customer_name[:12]:<12} {amount(p.amount):>10} {p.card[-4:]:>5} "
        f"{age_words(p.held_since, now):>7} {p.attempts:>6} {last:<11} {nxt}"
    )


class PendingVoidsScreen(D400Screen):
    SCREEN_ID = "VOIDS"
    TITLE_KEY = "voids.title"
    LEGEND_KEY = "voids.legend"
    BINDINGS = keys("refresh", "pages", f10="retry_due")

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[Any] = []
        self.rows: list[Any] = []
        self.top = 0  # index in `rows` of the page's first row (kept by a reload when it still exists)
        self.busy = False

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="body"):
            yield Static(t("voids.clock"), classes="label", markup=False)
            yield Subfile(heading(), max(4, self.app.size.height - 10), id="voids")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self.show_list()

    def show_list(self) -> None:
        from d400tui.engine import USER_ERRORS

        try:
            self.rows = self.engine.pending_voids(self.actor)
        except USER_ERRORS as exc:
            self.message(tx(exc), error=True)
            return
        size = self.query_one(Subfile).page_size
        self.top = min(self.top, max(0, (len(self.rows) - 1) // size * size))
        self.show_page()
        if not self.rows:
            self.message(t("voids.none"))

    def show_page(self) -> None:
        sf = self.query_one(Subfile)
        self.shown = self.rows[self.top : self.top + sf.page_size]
        now = self.engine.clock()
        sf.set_rows([(p.auth_id, row_text(p, now)) for p in self.shown], self.top + sf.page_size < len(self.rows))
        sf.focus_first()

    def action_page_down(self) -> None:
        size = self.query_one(Subfile).page_size
        if self.top + size >= len(self.rows):
            self.message(t("common.at_bottom"))
            return
        self.top += size
        self.message("")
        self.show_page()

    def action_page_up(self) -> None:
        if self.top == 0:
            self.message(t("common.at_top"))
            return
        self.top = max(0, self.top - self.query_one(Subfile).page_size)
        self.message("")
        self.show_page()

    def action_refresh(self) -> None:
        self.clear_errors()
        self.show_list()

    def action_retry_due(self) -> None:
        if not self.busy:
            self.busy = True
            self.run_worker(self._retry(None), exit_on_error=False, group="voids")

    @on(Input.Submitted)
    def process(self) -> None:
        if self.busy:
            return
        self.clear_errors()
        sf = self.query_one(Subfile)
        for i, key, code in sf.options():
            if code not in OPTIONS:
                self.field_error(sf.option_field(i), t("common.bad_option", code=code[:1]))
                return
            found = next(p for p in self.shown if p.auth_id == int(key))  # type: ignore[call-overload]
            sf.clear_option(i)
            if code == "5":
                from .display_order import DisplayOrderScreen

                self.app.push_screen(DisplayOrderScreen(found.order_id), lambda _: self.show_list())
                return
            self.busy = True
            self.run_worker(self._retry(found.auth_id), exit_on_error=False, group="voids")
            return

    async def _retry(self, auth_id: int | None) -> None:
        from d400tui.engine import USER_ERRORS

        try:
            if auth_id is None:
                report = await self.engine.retry_voids(self.actor)
                said = t("voids.retried", settled=len(report.settled), still=len(report.still_unknown))
            else:
                outcome = await self.engine.retry_void(self.actor, auth_id)
                said = tx(outcome.message)
        except USER_ERRORS as exc:
            self.busy = False
            self.message(tx(exc), error=True)
            return
        self.busy = False
        self.show_list()
        self.message(said)
