"""Function-key legend on the last rows."""

from __future__ import annotations

from textual.widgets import Static

from d400tui.softkeys import SoftKeyClick


class FKeyLegend(SoftKeyClick, Static):
    """Soft keys: a click on "F5=…" presses F5 (d400tui.softkeys), for terminals in a browser."""

    def __init__(self, legend: str) -> None:
        super().__init__(legend, id="fkeys", markup=False)
