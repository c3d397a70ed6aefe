"""An entry field: compact Input, bounded length, optional uppercase, reverse image on error.

Like a 5250 field: a key that does not fit is refused with a message (never dropped silently), a
paste longer than the field is refused whole, and a fixed-length field says when it is complete
(`Full`) so the panel moves the cursor on (auto-advance)."""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.message import Message
from textual.widgets import Input

from d400tui.i18n import t


class EntryField(Input):
    class Full(Message):
        """The field is complete (auto-advance): the panel moves the cursor to the next field."""

        def __init__(self, field: EntryField) -> None:
            super().__init__()
            self.field = field

    class Refused(Message):
        """A key or a paste the field cannot take: the panel shows why on the message line."""

        def __init__(self, field: EntryField, text: str) -> None:
            super().__init__()
            self.field = field
            self.text = text

    def __init__(
        self,
        value: str = "",
        *,
        width: int,
        max_length: int | None = None,
        upper: bool = False,
        password: bool = False,
        id: str | None = None,
        placeholder: str = "",
        complete: Callable[[str], bool] | None = None,
        replace: bool = False,
    ) -> None:
        # a steady cursor, as on a 5250: no blink timer per field, and snapshots that do not depend
        # on the blink phase (a panel built ahead and shown later would otherwise catch it "off")
        super().__init__(
            value,
            placeholder=placeholder,
            max_length=max_length or width,
            password=password,
            id=id,
            compact=True,
            select_on_focus=replace,
        )  # replace: a prefilled code typed over
        self.cursor_blink = False
        self.upper = upper
        self.complete = complete
        # set by the panel while the value is wrong and must be corrected first (the card number)
        self.refuse_typing: str | None = None
        self.styles.width = width + 1

    @property
    def text(self) -> str:
        """The value without control characters, stripped (and uppercased where the ERP expects it)."""
        v = "".join(ch for ch in self.value if ch.isprintable()).strip()
        return v.upper() if self.upper else v

    def mark_error(self, on: bool = True) -> None:
        self.set_class(on, "error")
        if not on:
            self.refuse_typing = None

    def _refuse(self, text: str) -> None:
        self.app.bell()
        self.post_message(self.Refused(self, text))

    async def _on_key(self, event: events.Key) -> None:
        if event.is_printable and not self.disabled:
            if self.refuse_typing:
                event.stop()
                event.prevent_default()
                self._refuse(self.refuse_typing)
                return
            if self.selection.is_empty and len(self.value) >= (self.max_length or 0) > 0:
                event.stop()
                event.prevent_default()
                self._refuse(t("common.field_full", size=self.max_length))
                return
        await super()._on_key(event)
        if event.is_printable and self.complete is not None and self.complete(self.value):
            self.post_message(self.Full(self))

    def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()  # Input's own handler is called here, once
        lines = event.text.splitlines()
        line = lines[0] if lines else ""
        room = (self.max_length or 0) - len(self.value) + len(self.selected_text)
        if self.max_length and len(line) > room:
            self._refuse(t("common.paste_too_long", size=len(line), room=max(room, 0)))
            return
        if self.refuse_typing:
            self._refuse(self.refuse_typing)
            return
        super()._on_paste(event)
        if self.complete is not None and self.complete(self.value):
            self.post_message(self.Full(self))
