"""PRECHK — supervisors: invoicing pre-check and capture runs with a progress bar, the result
subfile (B/L on refused orders, 5 to display) and the last runs. Both rerunnable."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, ProgressBar, Static

from d400tui.domain import model as m
from d400tui.engine import USER_ERRORS
from d400tui.i18n import t
from d400tui.i18n.engine_text import tx
from d400tui.widgets import EntryField, FKeyLegend, MessageLine, Subfile

from .base import D400Modal, D400Screen
from .fmt import amount, day, parse_day


def run_line(r: m.PrecheckRun) -> str:
    return t("precheck.run", id=r.id, kind=t(f"precheck.kind_{r.kind}"), date=day(r.run_date), who=r.operator,
             selected=r.selected, approved=r.approved, refused=r.refused, unavailable=r.unavailable,
             skipped=r.skipped)


def result_text(r: m.RunResult) -> str:
    reason = f"{r.code} {tx(r.reason)}".strip()
    return (f"{r.order_id:>7} {r.instalment_seq:>3} {t(f'precheck.outcome_{r.outcome}')[:12]:<12}"
            f"{amount(r.amount):>10} {reason[:42]}")


class PrecheckScreen(D400Screen):
    SCREEN_ID = "PRECHK"
    TITLE_KEY = "precheck.title"
    LEGEND_KEY = "legend.precheck"
    BINDINGS = [*D400Screen.BINDINGS,
                Binding("f10", "run", t("key.f10"), show=False, id="d400.validate", tooltip=t("key.f10")),
                Binding("f5", "refresh", t("key.f5"), show=False, id="d400.refresh", tooltip=t("key.f5")),
                Binding("ctrl+r", "refresh", t("key.f5"), show=False, id="d400.refresh.ctrl", tooltip=t("key.f5")),
                Binding("pagedown", "page_down", show=False, id="d400.page_down", priority=True),
                Binding("pageup", "page_up", show=False, id="d400.page_up", priority=True)]

    def __init__(self, page_size: int | None = None) -> None:
        super().__init__()
        self.page_size = page_size
        self.run_id: int | None = None
        self.pages: list[int] = [0]
        self.more = False
        self.busy = False

    def compose(self) -> ComposeResult:
        self.page_size = self.page_size or max(4, self.app.size.height - 15)
        yield from self.frame_top()
        with Vertical(classes="body"):
            with Horizontal(classes="row"):
                yield Static(t("precheck.date"), classes="lbl", markup=False)
                yield EntryField(day(self.today()), width=10, id="run-date")
                yield Static(t("precheck.concurrency"), classes="lbl", markup=False)
                yield EntryField("16", width=3, id="concurrency")
                yield Static(t("precheck.action"), classes="lbl", markup=False)
                yield EntryField("1", width=1, id="action")
                yield Static(t("precheck.action_hint"), classes="hint", markup=False)
            yield ProgressBar(total=None, show_eta=False, id="progress")
            yield Static("", id="runs", markup=False)
            yield Static(t("precheck.options"), classes="label", markup=False)
            yield Subfile(t("precheck.heading"), self.page_size, id="results")
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self.show_runs()
        runs = self.engine.last_runs(None, 1)
        if runs:
            self.run_id = runs[0].id
        self.load()
        self.query_one("#run-date", EntryField).focus()

    def show_runs(self) -> None:
        runs = self.engine.last_runs(None, 3)
        self.query_one("#runs", Static).update(
            "\n".join([t("precheck.last_runs")] + [run_line(r) for r in runs]) if runs else t("precheck.no_run"))

    def load(self) -> None:
        assert self.page_size
        sf = self.query_one(Subfile)
        if self.run_id is None:
            sf.set_rows([], False)
            return
        rows = self.engine.run_results(self.run_id, self.pages[-1], self.page_size + 1)
        self.more = len(rows) > self.page_size
        sf.set_rows([((r.id, r.order_id), result_text(r)) for r in rows[: self.page_size]], self.more)

    def action_refresh(self) -> None:
        self.clear_errors()
        self.show_runs()
        self.load()

    def action_page_down(self) -> None:
        sf = self.query_one(Subfile)
        if not self.more or not sf.keys:
            self.message(t("common.at_bottom"))
            return
        self.pages.append(sf.keys[-1][0])  # type: ignore[index]
        self.load()

    def action_page_up(self) -> None:
        if len(self.pages) <= 1:
            self.message(t("common.at_top"))
            return
        self.pages.pop()
        self.load()

    # -- runs --------------------------------------------------------------------------------------
    def action_run(self) -> None:
        if self.busy:
            self.message(t("precheck.running"))
            return
        self.clear_errors()
        date_f, conc_f, act_f = (self.query_one(f"#{i}", EntryField) for i in ("run-date", "concurrency", "action"))
        try:
            run_date = parse_day(date_f.text)
        except (ValueError, TypeError):
            self.field_error(date_f, t("work.bad_date"))
            return
        if not (conc_f.text.isascii() and conc_f.text.isdigit()) or not 1 <= int(conc_f.text) <= 64:
            self.field_error(conc_f, t("precheck.bad_concurrency"))
            return
        if act_f.text not in ("1", "2", "3"):
            self.field_error(act_f, t("precheck.bad_action"))
            return
        if act_f.text == "3":
            self.app.push_screen(RunsScreen(self.engine.last_runs(None, 10)), self._run_chosen)
            return
        concurrency, capture = int(conc_f.text), act_f.text == "2"
        bar = self.query_one(ProgressBar)
        bar.update(total=None, progress=0)

        def progress(done: int, total: int) -> None:
            bar.update(total=max(total, 1), progress=done)

        self.busy = True
        self.message(t("precheck.running"))

        async def job() -> None:
            try:
                fn = self.engine.capture if capture else self.engine.precheck
                run = await fn(self.actor, run_date, concurrency, progress)
            except USER_ERRORS as exc:
                self.busy = False
                self.message(tx(exc), error=True)
                return
            self.busy = False
            bar.update(total=max(run.selected, 1), progress=max(run.selected, 1))
            self.run_id, self.pages = run.id, [0]
            self.show_runs()
            self.load()
            self.message(run_line(run))

        self.app.run_worker(job(), exclusive=True, group="batch", exit_on_error=False)

    def _run_chosen(self, run_id: object) -> None:
        if not isinstance(run_id, int):
            return
        self.run_id, self.pages = run_id, [0]
        self.load()
        run = next((r for r in self.engine.last_runs(None, 10) if r.id == run_id), None)
        if run is not None:
            self.message(t("precheck.shown_run", line=run_line(run)))

    @on(Input.Submitted)
    def process(self) -> None:
        if self.busy:
            return
        self.clear_errors()
        sf = self.query_one(Subfile)
        opts = sf.options()
        if not opts:
            self.message(t("precheck.press_f10"))
            return
        for i, _key, code in opts:
            if code not in ("5", "B", "L"):
                self.field_error(sf.option_field(i), t("common.bad_option", code=code[:1]))
                return
        self.queue = [(i, key[1], code) for i, key, code in opts]  # type: ignore[index]
        self.notes: list[str] = []
        self.next_option()

    def next_option(self) -> None:
        if not self.queue:
            self.load()
            if self.notes:
                self.message(" | ".join(self.notes[-3:]))
            return
        i, oid, code = self.queue.pop(0)
        self.query_one(Subfile).clear_option(i)
        if code == "5":
            from .display_order import DisplayOrderScreen

            self.app.push_screen(DisplayOrderScreen(oid), lambda _: self.next_option())
            return
        kind = m.DecisionKind.BLOCK if code == "B" else m.DecisionKind.RELEASE

        async def job() -> None:
            try:
                await self.engine.decide(self.actor, oid, kind)
                self.notes.append(t("decision.recorded", order=oid, decision=t(f"decision.kind_{kind.value}")))
            except USER_ERRORS as exc:
                self.notes.append(tx(exc))
            self.next_option()

        self.app.run_worker(job(), exclusive=True, group="decide", exit_on_error=False)


class RunsScreen(D400Modal):
    """The last 10 runs (action 3); 1 in front of one shows its results. Dismisses with the run id or None."""

    SCREEN_ID = "RUNS"
    LEGEND_KEY = "precheck.runs_legend"
    DEFAULT_CSS = """
    RunsScreen { align: center middle; }
    RunsScreen > #panel { width: 100%; max-width: 100; height: auto; border: heavy #40e0d0; background: black;
                          padding: 0 1; }
    """

    def __init__(self, runs: list[m.PrecheckRun]) -> None:
        super().__init__()
        self.runs = runs[:10]

    def compose(self) -> ComposeResult:
        with Vertical(id="panel"):
            yield Static(t("precheck.runs_title"), classes="strong", markup=False)
            yield Subfile(t("precheck.runs_head"), 10, id="runs-list")
            yield MessageLine()
            yield FKeyLegend(t(self.LEGEND_KEY))

    def on_mount(self) -> None:
        sf = self.query_one(Subfile)
        sf.set_rows([(r.id, run_line(r)) for r in self.runs], False)
        sf.focus_first()
        if not self.runs:
            self.message(t("precheck.no_run"))

    @on(Input.Submitted)
    def process(self) -> None:
        if self.select_from(self.query_one(Subfile)):
            return
