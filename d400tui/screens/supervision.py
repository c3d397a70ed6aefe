"""SUPERV — supervisors: today's and the period's authorization figures, a chart of refusals by
category. Every POLL_S seconds a cheap change marker is read (engine.stats.change_marker) and the
figures reload when it moved, so a pre-check or an order on another terminal shows up within
seconds; a full reload every REFRESH_S seconds regardless, and on F5. The figures come from
d400tui.engine.stats, the same as `d400 stats`; the engine refuses them to an operator, and the
screen shows that refusal on its message line."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from d400tui.i18n import t
from d400tui.i18n.render import tx

from .base import D400Screen
from .keys import keys

REFRESH_S = 10.0
POLL_S = 1.5
CATEGORIES = ("IDENTIFICATION", "BLOCKED", "CEILING", "UNAVAILABLE", "OTHER", "NOT_ACCEPTED")


def _num(v: object) -> str:
    return t("supervision.none") if v is None else str(v)


def figures_text(data: dict[str, Any]) -> str:
    """The figures as fixed columns: today, then the period."""
    today, period = data["today"], data["period"]

    def decided(f: dict[str, Any]) -> str:
        per = f["decisions_by_operator"].values()
        return f"{sum(p['blocked'] for p in per)}/{sum(p['released'] for p in per)}"

    def rate(f: dict[str, Any]) -> str:
        return _num(f["acceptance_rate"]) + (" %" if f["acceptance_rate"] is not None else "")

    rows = [
        (t("supervision.requested"), _num(today["requested"]), _num(period["requested"])),
        (t("supervision.rate"), rate(today), rate(period)),
        (t("supervision.unavailable"), _num(today["unavailable_minutes"]), _num(period["unavailable_minutes"])),
        (
            t("supervision.latency"),
            f"{_num(today['latency_p50_ms'])}/{_num(today['latency_p95_ms'])}",
            f"{_num(period['latency_p50_ms'])}/{_num(period['latency_p95_ms'])}",
        ),
        (t("supervision.blocked"), decided(today), decided(period)),
    ]
    lines = [t("supervision.head", since=period["first_day"])]
    lines += [f"{label:<22} {a:>10}     {b:>10}" for label, a, b in rows]
    lines += ["", t("supervision.lapsing", n=data["holds_lapsing"]), t("supervision.voids", n=data["voids_pending"])]
    return "\n".join(lines)


class SupervisionScreen(D400Screen):
    SCREEN_ID = "SUPERV"
    TITLE_KEY = "supervision.title"
    LEGEND_KEY = "supervision.legend"
    BINDINGS = keys("refresh")

    def __init__(self, refresh_s: float | None = REFRESH_S, poll_s: float | None = POLL_S) -> None:
        super().__init__()
        self.refresh_s = refresh_s
        self.poll_s = poll_s
        self.busy = False
        self.data: dict[str, Any] | None = None
        self.marker: tuple[object, ...] | None = None
        self.loads = 0

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="body"):
            yield Static(t("supervision.loading"), id="figures", markup=False)
            with Horizontal(id="chart-row"):
                yield Static(t("supervision.chart"), classes="label", markup=False)
            yield self._chart()
        yield from self.frame_bottom()

    @staticmethod
    def _chart() -> Any:
        from textual_plotext import PlotextPlot

        chart = PlotextPlot(id="chart")
        chart.styles.height = "1fr"
        return chart

    def on_mount(self) -> None:
        self.action_refresh()
        if self.refresh_s:
            self.set_interval(self.refresh_s, self.action_refresh)
        if self.poll_s:
            self.set_interval(self.poll_s, self.poll)

    def action_refresh(self) -> None:
        self._start(self._load)

    def poll(self) -> None:
        """Reload only if the change marker moved since the figures shown were read."""
        self._start(self._poll)

    def _start(self, work: Any) -> None:
        if self.busy:
            return
        self.busy = True
        self.run_worker(work, thread=True, exit_on_error=False, group="supervision")

    def _poll(self) -> None:
        from d400tui.engine import USER_ERRORS
        from d400tui.engine.stats import change_marker

        try:
            moved = change_marker(self.engine, self.actor) != self.marker
        except USER_ERRORS:  # refused: the first load already said so on the message line
            moved = False
        if moved:
            self._load()
        else:
            self.app.call_from_thread(setattr, self, "busy", False)

    def _load(self) -> None:
        from d400tui.engine import USER_ERRORS
        from d400tui.engine.stats import change_marker, supervision

        try:
            marker = change_marker(self.engine, self.actor)  # read first: a write after it moves it again
            data = supervision(self.engine, self.actor).as_json()
            self.marker = marker
        except USER_ERRORS as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._show, data)

    def _failed(self, exc: Exception) -> None:
        self.busy = False
        self.message(tx(exc), error=True)

    def _show(self, data: dict[str, Any]) -> None:
        self.busy = False
        self.loads += 1
        self.data = data
        self.query_one("#figures", Static).update(figures_text(data))
        chart = self.query_one("#chart")
        plt = chart.plt
        plt.clear_data()
        refusals = data["period"]["refusals_by_category"]
        labels = [t(f"category.{c}") if c in CATEGORIES else c for c in refusals]
        if refusals:
            plt.bar([lb[:16] for lb in labels], list(refusals.values()), orientation="horizontal", width=0.3)
        plt.xticks([])
        chart.refresh()
