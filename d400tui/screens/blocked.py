"""BLOCKED — supervisors: orders on payment hold, oldest first, each with what the operator was
shown (category, code, label) and decided; L=release, B=keep blocked, 8=change payment, 5=display.
An operator's release request of a lost or stolen card is marked "L?": L approves it, B refuses it
(four eyes: the engine refuses the asker's own approval). Decisions go through
d400tui.engine.blocked_queue (supervisor-checked, audited by the engine)."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input

from d400tui.i18n import t
from d400tui.i18n.render import tx
from d400tui.widgets import Subfile

from .base import D400Screen
from .fmt import amount
from .keys import keys

OPTIONS = ("L", "B", "8", "5")


def row_text(b: Any) -> str:
    r, d = b.row, b.decision
    seen = f"{d.shown_code} {tx(d.shown_label)}"[:16] if d else ""
    who = f"{d.operator:<8} {d.at:%d/%m %H:%M}" if d else ""
    if b.request is not None:  # four eyes: the operator's L waits for a supervisor other than them
        who = f"{b.request.asked_by:<8} {b.request.asked_at:%d/%m %H:%M} {t('blocked.asked')}"
    return f"{r.id:>7} {r.order_date:%d/%m} {r.customer_name[:11]:<11} {amount(r.total):>9} {seen:<16} {who}"


class BlockedScreen(D400Screen):
    SCREEN_ID = "BLOCKED"
    TITLE_KEY = "blocked.title"
    LEGEND_KEY = "blocked.legend"
    BINDINGS = keys("refresh", "pages")

    def __init__(self, page_size: int | None = None) -> None:
        super().__init__()
        self.page_size = page_size
        self.pages: list[int] = [0]  # the `after_id` of each page shown so far
        self.more = False
        self.shown: list[Any] = []
        self.busy = False

    def compose(self) -> ComposeResult:
        self.page_size = self.page_size or max(4, self.app.size.height - 9)
        yield from self.frame_top()
        with Vertical(classes="body"):
            yield Subfile(t("blocked.head"), self.page_size, id="queue")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self.show_page()

    def show_page(self) -> None:
        from d400tui.engine import USER_ERRORS
        from d400tui.engine.blocked_queue import queue

        try:
            rows = queue(self.engine, self.actor, self.pages[-1], (self.page_size or 4) + 1)
        except USER_ERRORS as exc:
            self.message(tx(exc), error=True)
            return
        self.more = len(rows) > (self.page_size or 4)
        self.shown = rows[: self.page_size]
        sf = self.query_one(Subfile)
        sf.set_rows([(b.row.id, row_text(b)) for b in self.shown], self.more)
        sf.focus_first()
        if any(b.request is not None for b in self.shown):
            self.message(t("blocked.asked_note"))

    def action_refresh(self) -> None:
        self.pages = [0]
        self.show_page()

    def action_page_down(self) -> None:
        if self.more and self.shown:
            self.pages.append(self.shown[-1].row.id)
            self.show_page()

    def action_page_up(self) -> None:
        if len(self.pages) > 1:
            self.pages.pop()
            self.show_page()

    @on(Input.Submitted)
    def process(self) -> None:
        if self.busy:
            return
        self.clear_errors()
        sf = self.query_one(Subfile)
        for i, oid, code in sf.options():
            if code not in OPTIONS:
                self.field_error(sf.option_field(i), t("common.bad_option", code=code[:1]))
                return
            self.run_option(int(oid), code)
            return

    def run_option(self, oid: int, code: str) -> None:
        if code == "5":
            from .display_order import DisplayOrderScreen

            self.app.push_screen(DisplayOrderScreen(oid), lambda _: self.show_page())
        elif code == "8":
            from .payment_change import PaymentChangeScreen

            self.app.push_screen(PaymentChangeScreen(oid), lambda _: self.show_page())
        else:
            self.busy = True
            asked = next((b.request for b in self.shown if b.row.id == oid and b.request is not None), None)
            self.run_worker(self._decide(oid, code == "L", asked), exit_on_error=False, group="blocked")

    async def _decide(self, oid: int, release: bool, asked: Any = None) -> None:
        from d400tui.engine import USER_ERRORS
        from d400tui.engine.blocked_queue import decide

        try:
            await decide(self.engine, self.actor, oid, release)
        except USER_ERRORS as exc:
            self.busy = False
            self.message(tx(exc), error=True)
            return
        self.busy = False
        self.show_page()
        if asked is not None:  # a request approved or refused: say whose
            self.message(t("blocked.approved" if release else "blocked.refused", order=oid, name=asked.asked_by))
        else:
            self.message(t("blocked.released" if release else "blocked.kept", order=oid))
