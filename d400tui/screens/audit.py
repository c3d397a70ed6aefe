"""AUDIT — supervisors: the audit trail filtered by operator, order, action and dates, newest first,
paged from the database (PageDown/PageUp); F10 exports the filtered trail to a CSV file in the data
directory (formula cells neutralised by the engine)."""

from __future__ import annotations

import os
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Static

from d400tui.i18n import t
from d400tui.i18n.render import render_detail, tx
from d400tui.widgets import EntryField, Subfile

from .base import D400Screen
from .fmt import parse_day
from .keys import keys


def row_text(r: dict[str, Any]) -> str:
    head = f"{r['at']:%d/%m %H:%M:%S} {r['actor']:<8} {r['action']:<16} {r['order_id'] or '':>7}"
    return f"{head} {render_detail(r['detail'])}"


class AuditScreen(D400Screen):
    SCREEN_ID = "AUDIT"
    TITLE_KEY = "audit.title"
    LEGEND_KEY = "audit.legend"
    BINDINGS = keys("pages", f10="export")

    def __init__(self, page_size: int | None = None) -> None:
        super().__init__()
        self.page_size = page_size
        self.pages: list[int | None] = [None]  # the `before_id` of each page shown so far
        self.more = False

    def compose(self) -> ComposeResult:
        self.page_size = self.page_size or max(4, self.app.size.height - 11)
        yield from self.frame_top()
        with Vertical(classes="body"):
            with Horizontal(classes="row"):
                for key, wid, width in (
                    ("audit.actor", "f-actor", 10),
                    ("audit.order", "f-order", 8),
                    ("audit.action", "f-action", 16),
                ):
                    yield Static(t(key), classes="lbl", markup=False)
                    yield EntryField(width=width, upper=True, id=wid)
            with Horizontal(classes="row"):
                yield Static(t("audit.since"), classes="lbl", markup=False)
                yield EntryField(width=10, id="f-since")
                yield Static(t("audit.until"), classes="lbl", markup=False)
                yield EntryField(width=10, id="f-until")
            yield Subfile(t("audit.head"), self.page_size, id="trail")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self.query_one("#f-actor", EntryField).focus()
        self.show_page()

    def _filter(self) -> Any:
        from d400tui.engine.audit_view import AuditFilter

        q = self.query_one
        order = q("#f-order", EntryField).text
        if order and not order.isdigit():
            raise ValueError("f-order")
        dates = []
        for wid in ("f-since", "f-until"):
            text = q(f"#{wid}", EntryField).text
            try:
                dates.append(parse_day(text) if text else None)
            except ValueError as exc:
                raise ValueError(wid) from exc
        return AuditFilter(
            actor=q("#f-actor", EntryField).text or None,
            order_id=int(order) if order else None,
            action=q("#f-action", EntryField).text or None,
            since=dates[0],
            until=dates[1],
        )

    def show_page(self) -> None:
        from d400tui.engine import USER_ERRORS
        from d400tui.engine.audit_view import page

        self.clear_errors()
        try:
            f = self._filter()
            rows = page(self.engine, self.actor, f, self.pages[-1], (self.page_size or 4) + 1)
        except ValueError as exc:
            self.field_error(self.query_one(f"#{exc.args[0]}", EntryField), t("audit.bad_filter"))
            return
        except USER_ERRORS as exc:
            self.message(tx(exc), error=True)
            return
        self.more = len(rows) > (self.page_size or 4)
        rows = rows[: self.page_size]
        self.shown = rows
        self.query_one(Subfile).set_rows([(r["id"], row_text(r)) for r in rows], self.more)

    @on(Input.Submitted)
    def process(self) -> None:
        self.pages = [None]
        self.show_page()

    def action_page_down(self) -> None:
        if self.more and self.shown:
            self.pages.append(self.shown[-1]["id"])
            self.show_page()

    def action_page_up(self) -> None:
        if len(self.pages) > 1:
            self.pages.pop()
            self.show_page()

    def action_export(self) -> None:
        from d400tui.engine import USER_ERRORS
        from d400tui.engine.audit_view import export_csv

        self.clear_errors()
        try:
            f = self._filter()
        except ValueError as exc:
            self.field_error(self.query_one(f"#{exc.args[0]}", EntryField), t("audit.bad_filter"))
            return
        # a file of its own (never another export's), readable by its owner only, like the database
        path = self.d400.settings.data_dir / f"audit-{self.d400.d400_now():%Y%m%d-%H%M%S}-{os.getpid()}-{id(f):x}.csv"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
                n = export_csv(self.engine, self.actor, f, out, render_detail)
        except USER_ERRORS as exc:
            path.unlink(missing_ok=True)
            self.message(tx(exc), error=True)
            return
        except OSError as exc:
            self.message(t("audit.export_failed", error=exc.strerror or type(exc).__name__), error=True)
            return
        self.message(t("audit.exported", n=n, path=str(path)))


__all__ = ["AuditScreen"]
