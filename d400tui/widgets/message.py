"""The message line: errors and outcomes, on the last row."""

from __future__ import annotations

from textual.widgets import Static


class MessageLine(Static):
    def __init__(self) -> None:
        super().__init__("", id="message", markup=False)
        self.text = ""

    def show(self, text: str, error: bool = False) -> None:
        text = " ".join(str(text).split())[:300]
        self.text = text[:1].upper() + text[1:]  # a message starts with a capital, whoever wrote it
        self.set_class(error, "error")
        self.update(self.text)

    def clear(self) -> None:
        self.show("")
