"""A subfile: one page of rows, an option field in front of each, "Plus…"/"Fin" at the lower right.

The page comes from the database (keyset paging by the owner); the widget keeps only what is shown."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from d400tui.i18n import t

from .field import EntryField


class Subfile(Vertical):
    def __init__(self, heading: str, page_size: int, id: str | None = None, option_width: int = 1) -> None:
        super().__init__(id=id)
        self.heading = heading
        self.page_size = page_size
        self.option_width = option_width
        self.keys: list[object] = []

    def compose(self) -> ComposeResult:
        # one column of option fields and one Static for every row's text: a page is page_size + 5
        # widgets, not 3 × page_size, which is what the first page of a list costs to style and lay out
        yield Static(self.heading, classes="sfl-head label", markup=False)
        with Horizontal(id="sfl-body"):
            with Vertical(id="sfl-opts"):
                for i in range(self.page_size):
                    yield EntryField(width=self.option_width, upper=True, id=f"sfl-opt-{i}")
            text = Static("", id="sfl-text", markup=False)
            text.styles.height = self.page_size  # "Plus…"/"Fin" stays at the lower right of the page
            yield text
        yield Static("", id="sfl-more", markup=False)

    def set_rows(self, rows: list[tuple[object, str]], more: bool) -> None:
        self.keys = [k for k, _ in rows][: self.page_size]
        for i in range(self.page_size):
            opt = self.query_one(f"#sfl-opt-{i}", EntryField)
            opt.value = ""
            opt.mark_error(False)
            opt.visible = i < len(rows)
        texts = "\n".join(text for _, text in rows[: self.page_size])
        self.query_one("#sfl-text", Static).update(Text(texts, no_wrap=True, overflow="crop"))
        self.query_one("#sfl-more", Static).update(t("common.more") if more else t("common.bottom"))

    def set_heading(self, heading: str) -> None:
        """A heading whose columns follow the rows' (wider on a wider terminal)."""
        if heading != self.heading:
            self.heading = heading
            self.query_one(".sfl-head", Static).update(heading)

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
