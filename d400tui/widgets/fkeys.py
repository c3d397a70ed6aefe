"""Function-key legend on the last rows."""

from __future__ import annotations

from textual.widgets import Static


class FKeyLegend(Static):
    DEFAULT_CSS = "FKeyLegend { height: auto; max-height: 2; }"

    def __init__(self, legend: str) -> None:
        super().__init__(legend, id="fkeys", markup=False)
