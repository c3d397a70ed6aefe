"""Top line: screen id left, title centred, date and time right (5250 habit)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class HeaderLine(Static):
    def __init__(self, screen_id: str, title: str) -> None:
        super().__init__(id="header")
        self.screen_id = screen_id
        self.title_text = title

    def on_mount(self) -> None:
        self.set_interval(1.0, self.refresh)

    def render(self) -> Text:
        now = getattr(self.app, "d400_now", None)
        stamp = now().strftime("%d/%m/%Y %H:%M:%S") if now else ""
        width = max(self.size.width, 40)
        left, right = self.screen_id, stamp
        mid = self.title_text[: max(0, width - len(left) - len(right) - 2)]
        start = max(len(left) + 1, (width - len(mid)) // 2)
        line = left.ljust(start) + mid
        line = line.ljust(width - len(right)) + right
        text = Text(line)
        text.stylize("bold", start, start + len(mid))
        return text
