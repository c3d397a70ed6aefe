"""A subfile: one page of rows, an option field in front of each, "Plus…"/"Fin" at the lower right.

The page comes from the database (keyset paging by the owner); the widget keeps only what is shown."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from d400tui.i18n import t

from .field import EntryField


class SubfileRow(Horizontal):
    DEFAULT_CSS = "SubfileRow { height: 1; } SubfileRow > Static { width: 1fr; }"


class Subfile(Vertical):
    DEFAULT_CSS = """
    Subfile { height: auto; }
    Subfile #sfl-more { text-align: right; height: 1; }
    Subfile .sfl-head { height: 1; }
    """

    def __init__(self, heading: str, page_size: int, id: str | None = None, option_width: int = 1) -> None:
        super().__init__(id=id)
        self.heading = heading
        self.page_size = page_size
        self.option_width = option_width
        self.keys: list[object] = []

    def compose(self) -> ComposeResult:
        yield Static(self.heading, classes="sfl-head label", markup=False)
        for i in range(self.page_size):
            with SubfileRow(id=f"sfl-row-{i}"):
                yield EntryField(width=self.option_width, upper=True, id=f"sfl-opt-{i}")
                yield Static("", id=f"sfl-text-{i}", markup=False)
        yield Static("", id="sfl-more", markup=False)

    def set_rows(self, rows: list[tuple[object, str]], more: bool) -> None:
        self.keys = [k for k, _ in rows][: self.page_size]
        for i in range(self.page_size):
            opt = self.query_one(f"#sfl-opt-{i}", EntryField)
            opt.value = ""
            opt.mark_error(False)
            if i < len(rows):
                self.query_one(f"#sfl-text-{i}", Static).update(rows[i][1])
                opt.display = True
            else:
                self.query_one(f"#sfl-text-{i}", Static).update("")
                opt.display = False
        self.query_one("#sfl-more", Static).update(t("common.more") if more else t("common.bottom"))

    def options(self) -> list[tuple[int, object, str]]:
        """(row index, key, option typed) for every row with an option, top to bottom."""
        out = []
        for i, key in enumerate(self.keys):
            code = self.query_one(f"#sfl-opt-{i}", EntryField).text
            if code:
                out.append((i, key, code))
        return out

    def option_field(self, i: int) -> EntryField:
        return self.query_one(f"#sfl-opt-{i}", EntryField)

    def clear_option(self, i: int) -> None:
        f = self.option_field(i)
        f.value = ""
        f.mark_error(False)

    def focus_first(self) -> None:
        if self.keys:
            self.option_field(0).focus()
