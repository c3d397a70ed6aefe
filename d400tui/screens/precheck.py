"""PRECHK — supervisors: invoicing pre-check and capture runs with a live progress bar (the capture
after a confirmation of what it will capture), the result subfile — all rows or the refusals
only, the decision taken shown on each row, 5/B/L/M/R several at once — and the last runs."""

from __future__ import annotations

import asyncio
from datetime import date

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, ProgressBar, Static

from d400tui.domain import model as m
from d400tui.engine import USER_ERRORS
from d400tui.engine import list_views as lv
from d400tui.engine.workers import RunProgress
from d400tui.i18n import get_lang, t
from d400tui.i18n.render import tx
from d400tui.widgets import EntryField, FKeyLegend, MessageLine, Subfile

from . import words
from .base import D400Modal, D400Screen
from .fmt import amount, day, parse_day
from .keys import keys
from .options import OrderOptions
from .results import ResultsMixin


def run_line(r: m.PrecheckRun) -> str:
    running = "" if r.finished_at is not None else t("precheck.running_run")
    return running + t(
        "precheck.run",
        id=r.id,
        kind=t(f"precheck.kind_{r.kind}"),
        date=day(r.run_date),
        who=r.operator,
        selected=r.selected,
        approved=r.approved,
        refused=r.refused,
        unavailable=r.unavailable,
        skipped=r.skipped,
    )


def _rate(value: float) -> str:
    text = f"{value:.1f}"
    return t("precheck.rate", rate=text if get_lang() == "en" else text.replace(".", ","))


def figures_lines(p: RunProgress, width: int = 80) -> tuple[str, str]:
    """The live figures of an unfinished run — the whole run, then each worker — as the CLI shows
    them (engine.workers.progress): counts, rate, ETA; empty once the run is finished."""
    if p.finished:
        return "", ""
    eta = "" if p.eta_s is None else t("precheck.eta", time=f"{int(p.eta_s) // 60}:{int(p.eta_s) % 60:02d}")
    total = t("precheck.figures", id=p.run_id, done=p.done, planned=p.planned, rate=_rate(p.rate), eta=eta)
    each = [
        t(
            "precheck.worker_figures",
            n=i,
            done=w.done,
            rate=_rate(w.rate),
            state="" if w.state == "RUNNING" else t(f"precheck.worker_{w.state}"),
        ).strip()
        for i, w in enumerate(p.workers, 1)
    ]
    line = t("precheck.workers", n=len(p.workers), each="  ".join(each))
    return total, line[: max(10, width - 2)]


def decision_word(hold: tuple[str, bool] | None) -> str:
    """What became of the order of a result row: blocked, released, still to decide, or nothing."""
    if hold is None:
        return ""
    if hold[0] != "NONE":
        return words.hold(hold[0])
    return t("lists.to_decide") if hold[1] else ""


def result_text(r: m.RunResult, hold: tuple[str, bool] | None = None, width: int = 80) -> str:
    reason = f"{r.code} {tx(r.reason)}".strip()
    room = max(10, width - 50)
    return (
        f"{r.order_id:>7} {r.instalment_seq:>3} {t(f'precheck.outcome_{r.outcome}')[:12]:<12}"
        f"{amount(r.amount):>10} {decision_word(hold)[:9]:<9} {reason[:room]}"
    )


class PrecheckScreen(ResultsMixin, OrderOptions, D400Screen):
    SCREEN_ID = "PRECHK"
    TITLE_KEY = "precheck.title"
    LEGEND_KEY = "legend.precheck"
    BINDINGS = keys("refresh", "pages", "prompt", f10="run")
    ALLOWED = ("5", "B", "L", "M", "R")

    def __init__(self, page_size: int | None = None) -> None:
        super().__init__()
        self.page_size = page_size
        self.run_id: int | None = None
        self.pages: list[int] = [0]
        self.more = False
        self.busy = False
        self.refusals_only = False
        self.queue: list[tuple[int, int, str]] = []
        self.notes: list[str] = []

    def compose(self) -> ComposeResult:
        self.page_size = self.page_size or max(4, self.app.size.height - 15)  # 3 last runs, workers line
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
            with Horizontal(classes="row"):
                yield ProgressBar(total=1, show_eta=False, id="progress")  # at rest: 0 %, not a pulsing bar
                yield Static("", id="figures", markup=False)
            yield Static("", id="workers", markup=False)
            yield Static("", id="runs", markup=False)
            with Horizontal(classes="row"):
                yield Static(t("lists.view"), classes="lbl", markup=False)
                yield EntryField("T", width=1, upper=True, id="view")
                yield Static(t("lists.view_hint"), classes="hint", markup=False)
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
        self.live: int | None = None  # the run whose figures are shown while it runs
        self.follow_last()
        self.set_interval(1.0, self.show_figures)

    def follow_last(self) -> None:
        """Follow the last run while it is unfinished: one started here, by the CLI or elsewhere."""
        runs = self.engine.last_runs(None, 1)
        self.live = runs[0].id if runs and runs[0].finished_at is None else self.live

    def show_figures(self) -> None:
        if self.live is None:
            return
        try:
            p = self.engine.run_progress(self.actor, self.live)
        except USER_ERRORS:
            self.live = None
            return
        total, each = figures_lines(p, self.app.size.width)
        self.query_one("#figures", Static).update(total)
        self.query_one("#workers", Static).update(each)
        if not p.finished:
            self.query_one(ProgressBar).update(total=max(p.planned, 1), progress=p.done)
        else:
            self.live = None
            self.show_runs()

    def show_runs(self) -> None:
        runs = self.engine.last_runs(None, 3)
        self.query_one("#runs", Static).update(
            "\n".join([t("precheck.last_runs")] + [run_line(r) for r in runs]) if runs else t("precheck.no_run")
        )

    def load(self) -> None:
        assert self.page_size
        sf = self.query_one(Subfile)
        if self.run_id is None:
            sf.set_rows([], False)
            return
        rows = lv.run_results(self.engine, self.run_id, self.pages[-1], self.page_size + 1, self.refusals_only)
        self.more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        holds = lv.order_holds(self.engine, [r.order_id for r in rows if r.outcome in lv.DECIDE])
        width = self.app.size.width
        sf.set_rows([((r.id, r.order_id), result_text(r, holds.get(r.order_id), width)) for r in rows], self.more)
        if not rows and self.refusals_only:
            self.message(t("lists.no_refusal"))

    def action_refresh(self) -> None:
        self.clear_errors()
        self.show_runs()
        self.follow_last()
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
        if capture:
            try:
                n, total = lv.capture_preview(self.engine, self.actor, run_date)
            except USER_ERRORS as exc:
                self.message(tx(exc), error=True)
                return
            if not n:
                self.message(t("lists.capture_nothing", date=day(run_date)))
                return
            from .confirm import ConfirmRunScreen

            text = t("lists.capture_confirm", n=n, amount=amount(total), date=day(run_date))
            self.app.push_screen(
                ConfirmRunScreen(t("lists.capture_title"), text),
                lambda ok: (
                    self._start(run_date, concurrency, True) if ok else self.message(t("lists.capture_not_done"))
                ),
            )
            return
        self._start(run_date, concurrency, False)

    def _start(self, run_date: date, concurrency: int, capture: bool) -> None:
        bar = self.query_one(ProgressBar)
        bar.update(total=None, progress=0)

        def progress(done: int, total: int) -> None:
            bar.update(total=max(total, 1), progress=done)

        self.busy = True
        self.message(t("precheck.running"))

        async def job() -> None:
            try:
                fn = self.engine.capture if capture else self.engine.precheck
                # the run opened first: its figures (every worker's) are followed from the database
                opener = self.engine.start_capture if capture else self.engine.start_precheck
                self.live = live = opener(self.actor, run_date, concurrency)
                if not capture:
                    run = await self.engine.precheck(self.actor, None, concurrency, progress, run_id=live)
                elif self.engine.settings.acquirer == "simulator":
                    # the in-process issuer answers without yielding: on the screen's loop a capture
                    # run held it for its whole length (no clock, no bar, no key). Its own loop in a
                    # thread; the issuer and the database are thread-safe, progress comes back here.
                    loop = asyncio.get_running_loop()
                    sent = [0]

                    def progress_here(done: int, total: int) -> None:
                        # a hundred steps at most: one repaint per instalment, from another thread,
                        # made the run 2.6 times longer (400 captures: 17.9 s against 6.8 s)
                        if done == total or done - sent[0] >= max(1, total // 100):
                            sent[0] = done
                            loop.call_soon_threadsafe(progress, done, total)

                    run = await asyncio.to_thread(
                        lambda: asyncio.run(fn(self.actor, None, concurrency, progress_here, run_id=live))
                    )
                else:
                    run = await fn(self.actor, None, concurrency, progress, run_id=live)
            except USER_ERRORS as exc:
                self.busy = False
                self.message(tx(exc), error=True)
                return
            self.busy = False
            self.show_figures()
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

    def action_prompt(self) -> None:
        from .prompt import prompt_codes

        f = self.focused
        fid = getattr(f, "id", None) or ""
        kinds = {"action": "action", "view": "view"}
        if isinstance(f, EntryField) and (fid in kinds or fid.startswith("sfl-opt-")):
            prompt_codes(self, kinds.get(fid, "result_option"), f)
        else:
            self.message(t("lists.f4_where"))

    def read_view(self) -> bool | None:
        f = self.query_one("#view", EntryField)
        if f.text not in ("", "T", "A", "R"):
            self.field_error(f, t("lists.bad_view"))
            return None
        return f.text == "R"

    @on(Input.Submitted)
    def process(self) -> None:
        if self.busy or self.queue:
            return
        self.clear_errors()
        sf = self.query_one(Subfile)
        opts = sf.options()
        if not opts:
            view = self.read_view()
            if view is None:
                return
            if view != self.refusals_only:
                self.refusals_only, self.pages = view, [0]
                self.load()
                return
            self.message(t("precheck.press_f10"))
            return
        for i, _key, code in opts:
            if code not in self.ALLOWED:
                self.field_error(sf.option_field(i), t("common.bad_option", code=code[:1]))
                return
        self.start_options([(i, key[1], code) for i, key, code in opts])  # type: ignore[index]

    def clear_option(self, i: int) -> None:
        if i >= 0:
            self.query_one(Subfile).clear_option(i)

    def after_options(self) -> None:
        self.load()


class RunsScreen(D400Modal):
    """The last 10 runs (action 3); 1 in front of one shows its results. Dismisses with the run id or None."""

    SCREEN_ID = "RUNS"
    LEGEND_KEY = "precheck.runs_legend"

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
