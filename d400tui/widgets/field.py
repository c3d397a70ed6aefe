"""An entry field: compact Input, bounded length, optional uppercase, reverse image on error."""

from __future__ import annotations

from textual.widgets import Input


class EntryField(Input):
    DEFAULT_CSS = """
    EntryField { height: 1; border: none; padding: 0; }
    EntryField.error { text-style: reverse; }
    """

    def __init__(self, value: str = "", *, width: int, max_length: int | None = None, upper: bool = False,
                 password: bool = False, id: str | None = None, placeholder: str = "") -> None:
        # a steady cursor, as on a 5250: no blink timer per field, and snapshots that do not depend
        # on the blink phase (a panel built ahead and shown later would otherwise catch it "off")
        super().__init__(value, placeholder=placeholder, max_length=max_length or width, password=password,
                         id=id, compact=True, select_on_focus=False)
        self.cursor_blink = False
        self.upper = upper
        self.styles.width = width + 1

    @property
    def text(self) -> str:
        """The value without control characters, stripped (and uppercased where the ERP expects it)."""
        v = "".join(ch for ch in self.value if ch.isprintable()).strip()
        return v.upper() if self.upper else v

    def mark_error(self, on: bool = True) -> None:
        self.set_class(on, "error")
