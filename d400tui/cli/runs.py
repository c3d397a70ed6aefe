"""`d400 precheck`, `d400 capture`, `d400 run report` and `d400 reconcile`: the batch runs
(supervisors for all but reconcile), with a live progress display on stderr unless --json: each
worker's count, rate and state and the run's as a whole with its ETA, read from the database so
that workers on other machines show too. `--workers N` starts N worker processes on one run;
`d400 precheck worker --run ID` joins a run from any machine that reaches the database."""

from __future__ import annotations

import asyncio
import csv
import getpass
import os
import subprocess
import sys
import time
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from d400tui.cli.app import AsJson, app
from d400tui.cli.inputs import parse_date
from d400tui.cli.output import CliError, err, out, plain, print_json
from d400tui.cli.session import call, run, signed_engine, with_close
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.engine.errors import EngineError
from d400tui.i18n.render import tx

precheck_app = typer.Typer(help="Invoicing pre-check (supervisors).", invoke_without_command=True)
capture_app = typer.Typer(help="Capture of due payments (supervisors).", invoke_without_command=True)
run_app = typer.Typer(help="Batch runs (supervisors): the report of a run.")
app.add_typer(precheck_app, name="precheck")
app.add_typer(capture_app, name="capture")
app.add_typer(run_app, name="run")

Workers = typer.Option(1, "--workers", min=1, max=32, help="Worker processes on this run (PostgreSQL).")
Lease = typer.Option(30.0, "--lease", min=2.0, max=3600.0, help="Seconds a silent worker keeps its claims.")
POLL_S = 0.5


LISTED = ("REFUSED", "UNAVAILABLE", "SKIPPED")
LISTED_MAX = 200


def _run_summary(batch: m.PrecheckRun, as_json: bool, engine: Any, who: m.Actor) -> None:
    report = engine.run_report(who, batch.id)
    if as_json:
        results = engine.run_results(batch.id, limit=LISTED_MAX)
        print_json({"run": batch, "results": results, "workers": _shares(report)})
        return
    state = "" if batch.finished_at is not None else " (still running: other workers at it)"
    out.print(
        f"{batch.kind} run {batch.id} for {batch.run_date}{state}: selected {batch.selected}, "
        f"approved {batch.approved}, refused {batch.refused}, unavailable {batch.unavailable}, "
        f"skipped {batch.skipped}" + (f", released {n}" if (n := getattr(batch, "released", 0)) else ""),
        markup=False,
    )
    other = getattr(batch, "other_skipped", 0)
    if other:
        out.print(f"{other} due orders of other channels or methods left untouched (no real-time authorization)")
    if len(report.workers) > 1:
        for w, n, share, rate, _rss in report.workers:
            out.print(f"  worker {w}: {n} ({share:.1%}), {rate:.1f}/s", markup=False)
    # what someone must look at, whatever number of approvals came first (the first 200 results of
    # a run of thousands were all approvals, and its refusals and skips went unsaid)
    shown = sorted(
        (r for outcome in LISTED for r in engine.run_results(batch.id, limit=LISTED_MAX, outcome=outcome)),
        key=lambda r: r.id or 0,
    )[:LISTED_MAX]
    for r in shown:
        out.print(
            f"  order {r.order_id} instalment {r.instalment_seq} {r.amount} EUR: {r.outcome} {r.code} {tx(r.reason)}",
            markup=False,
        )
    more = batch.refused + batch.unavailable + batch.skipped - len(shown)
    if more > 0:
        out.print(f"  … and {more} more refused, unavailable or skipped (d400 run report {batch.id})", markup=False)


class _Display:
    """The run's progress as the database has it: one bar per worker and one for the run."""

    def __init__(self, engine: Any, who: m.Actor, run_id: int, label: str) -> None:
        self.engine, self.who, self.run_id = engine, who, run_id
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[eta]}"),
            TimeElapsedColumn(),
            console=err,
        )
        self.total = self.bar.add_task(f"{label} run {run_id}", total=None, rate="", eta="")
        self.rows: dict[str, TaskID] = {}

    def update(self) -> None:
        p = self.engine.run_progress(self.who, self.run_id)
        eta = "" if p.eta_s is None else f"ETA {int(p.eta_s) // 60}:{int(p.eta_s) % 60:02d}"
        self.bar.update(self.total, completed=p.done, total=max(p.planned, 1), rate=f"{p.rate:7.1f}/s", eta=eta)
        for w in p.workers:
            if w.worker not in self.rows:
                self.rows[w.worker] = self.bar.add_task(f"  {w.worker.rsplit(':', 1)[0]}", total=None, rate="", eta="")
            state = "" if w.state == "RUNNING" else w.state.lower()
            self.bar.update(
                self.rows[w.worker], completed=w.done, total=max(p.planned, 1), rate=f"{w.rate:7.1f}/s", eta=state
            )

    async def follow(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            await asyncio.to_thread(self.update)


def _identity_for_workers() -> None:
    """Worker processes sign on as this command did: asked once here, passed in their environment."""
    if os.environ.get("D400_OPERATOR") and os.environ.get("D400_PASSWORD"):
        return
    if not sys.stdin.isatty():
        raise CliError("sign on first: set D400_OPERATOR and D400_PASSWORD")
    os.environ["D400_OPERATOR"] = os.environ.get("D400_OPERATOR") or typer.prompt("Operator")
    os.environ["D400_PASSWORD"] = getpass.getpass("Password: ")


class _Kind:
    """What differs between a shared pre-check and a shared capture run, for the commands."""

    def __init__(self, kind: str, command: str, label: str, what: str) -> None:
        self.kind, self.command, self.label, self.what = kind, command, label, what

    def start(self, engine: Any, who: m.Actor, on: Any, conc: int) -> int:
        opener = engine.start_precheck if self.kind == "PRECHECK" else engine.start_capture
        return int(opener(who, on, conc))

    def work(self, engine: Any, who: m.Actor, conc: int, run_id: int, lease: float) -> Any:
        fn = engine.precheck if self.kind == "PRECHECK" else engine.capture
        return fn(who, None, conc, None, run_id=run_id, lease_s=lease)


PRECHECK = _Kind("PRECHECK", "precheck", "pre-check", "engine.what_precheck")
CAPTURE = _Kind("CAPTURE", "capture", "capture", "engine.what_capture")


def _in_process(
    k: _Kind, engine: Any, who: m.Actor, run_id: int | None, on: Any, conc: int, lease: float, quiet: bool
) -> Any:
    """This process is the (or a) worker of the run; the display follows the whole run."""
    if run_id is None:
        run_id = k.start(engine, who, on, conc)
    else:  # said before any bar is drawn (the engine refuses too)
        joined = engine.run_progress(who, run_id)
        if joined.kind != k.kind:
            raise EngineError("engine.run_unknown", run=run_id)
        if joined.finished:
            raise EngineError("engine.run_finished", run=run_id)
    show = None if quiet else _Display(engine, who, run_id, k.label)

    async def go() -> m.PrecheckRun:
        follower = asyncio.create_task(show.follow()) if show else None
        try:
            return await k.work(engine, who, conc, run_id, lease)
        finally:
            if follower:
                follower.cancel()

    if show is None:
        return run(with_close(engine, go()))
    with show.bar:
        batch = run(with_close(engine, go()))
        show.update()
    return batch


def _spawn(k: _Kind, engine: Any, who: m.Actor, on: Any, conc: int, lease: float, workers: int, quiet: bool) -> Any:
    """N worker processes on a new run, this one showing their progress until they all ended."""
    run_id = k.start(engine, who, on, conc)
    argv = [sys.executable, "-m", "d400tui", k.command, "worker", "--run", str(run_id)]
    argv += ["--concurrency", str(conc), "--lease", str(lease), "--json"]
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL) for _ in range(workers)]
    show = None if quiet else _Display(engine, who, run_id, k.label)
    if show:
        show.bar.start()
    try:
        while any(p.poll() is None for p in procs):
            if show:
                show.update()
            time.sleep(POLL_S)
        if show:
            show.update()
    finally:
        if show:
            show.bar.stop()
    for i, p in enumerate(procs, 1):
        if p.returncode:
            err.print(f"worker {i} of {workers} ended with exit code {p.returncode}", markup=False)
    batch = engine.run_report(who, run_id).run
    if batch.finished_at is None:
        raise CliError(f"run {run_id} unfinished: d400 {k.command} worker --run {run_id} finishes it")
    return batch


def batch_priority(nice: int) -> None:
    """Lower this process to CPU priority `nice` (never raise it: a worker started by a run that
    already lowered itself stays where it is). Where the OS has no such call, nothing happens."""
    if nice > 0 and hasattr(os, "setpriority"):
        now = os.getpriority(os.PRIO_PROCESS, 0)
        if now < nice:
            os.setpriority(os.PRIO_PROCESS, 0, nice)


def _shared(k: _Kind, run_id: int | None, on: str | None, conc: int, workers: int, lease: float, as_json: bool) -> None:
    """run_id None: a new run; 0: the newest run of its kind still going; else that run."""
    run_date = parse_date(on) if run_id is None else None
    if workers > 1:
        _identity_for_workers()
    engine, who = signed_engine()
    # refused before any progress bar is drawn (the run itself checks too), in the run's own words
    engine.require_supervisor(who, Message(k.what))
    batch_priority(engine.settings.batch_nice)  # the terminals first, as batch below interactive
    if run_id == 0:
        newest = engine.last_runs(k.kind, 1)
        if not newest or newest[0].finished_at is not None:
            raise CliError(f"no {k.label} run in progress: d400 {k.command} starts one")
        run_id = newest[0].id
    if workers > 1 and not engine.runs_shared():
        raise CliError(tx(Message("engine.workers_sqlite")))
    if workers > 1:
        batch = _spawn(k, engine, who, run_date, conc, lease, workers, as_json)
        run(engine.acquirer.close())
    else:
        batch = _in_process(k, engine, who, run_id, run_date, conc, lease, as_json)
    _run_summary(batch, as_json, engine, who)


@precheck_app.callback()
def precheck(
    ctx: typer.Context,
    on: str | None = typer.Option(None, "--date", help="Invoicing date YYYY-MM-DD (default today)."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, max=512, help="Calls in flight per worker."),
    workers: int = Workers,
    lease: float = Lease,
    as_json: AsJson = False,
) -> None:
    """Invoicing pre-check (supervisors): authorize what needs it; refusals listed for decision."""
    if ctx.invoked_subcommand is None:
        _shared(PRECHECK, None, on, concurrency, workers, lease, as_json)


@precheck_app.command("worker")
def precheck_worker(
    run_id: int | None = typer.Option(None, "--run", min=1, help="The run to join (its id)."),
    last: bool = typer.Option(False, "--last", help="Join the newest pre-check run still going."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, max=512, help="Calls in flight."),
    lease: float = Lease,
    as_json: AsJson = False,
) -> None:
    """Join pre-check run ID as one more worker, from any machine that reaches the database."""
    if (run_id is None) == (not last):
        raise CliError("--run ID or --last")
    _shared(PRECHECK, run_id or 0, None, concurrency, 1, lease, as_json)


@capture_app.callback()
def capture(
    ctx: typer.Context,
    on: str | None = typer.Option(None, "--date", help="Capture date YYYY-MM-DD (default today)."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=256, help="Captures in flight per worker."),
    workers: int = Workers,
    lease: float = Lease,
    as_json: AsJson = False,
) -> None:
    """Capture due payments (supervisors), never above what was authorized; rerunnable."""
    if ctx.invoked_subcommand is None:
        _shared(CAPTURE, None, on, concurrency, workers, lease, as_json)


@capture_app.command("worker")
def capture_worker(
    run_id: int | None = typer.Option(None, "--run", min=1, help="The run to join (its id)."),
    last: bool = typer.Option(False, "--last", help="Join the newest capture run still going."),
    concurrency: int = typer.Option(8, "--concurrency", min=1, max=256, help="Captures in flight."),
    lease: float = Lease,
    as_json: AsJson = False,
) -> None:
    """Join capture run ID as one more worker, from any machine that reaches the database."""
    if (run_id is None) == (not last):
        raise CliError("--run ID or --last")
    _shared(CAPTURE, run_id or 0, None, concurrency, 1, lease, as_json)


# -- the run report ------------------------------------------------------------------------------
def _shares(report: Any) -> list[dict[str, Any]]:
    return [
        {"worker": w, "results": n, "share": round(share, 4), "rate_per_s": round(rate, 1), "max_rss_kb": rss}
        for w, n, share, rate, rss in report.workers
    ]


def _report_dict(report: Any) -> dict[str, Any]:
    r = report.run
    return {
        "run": r.id,
        "kind": r.kind,
        "run_date": r.run_date,
        "operator": r.operator,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "stopped": report.stopped,
        "duration_s": round(report.duration_s, 3),
        "planned": r.planned,
        "outcomes": report.outcomes,
        "refusals": [{"outcome": o, "category": c, "code": code, "count": n} for o, c, code, n in report.refusals],
        "latency_ms": {k: round(v, 2) for k, v in report.latency_ms.items()},
        "workers": _shares(report),
    }


def _csv_rows(d: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(section, key, value): one long table, so one CSV carries the whole report."""
    rows: list[tuple[str, str, Any]] = [
        ("run", k, d[k]) for k in ("run", "kind", "run_date", "operator", "started_at", "finished_at", "duration_s")
    ]
    rows += [("run", "planned", d["planned"])]
    rows += [("outcome", k, v) for k, v in d["outcomes"].items()]
    rows += [("refusal", f"{x['outcome']}/{x['category']}/{x['code']}", x["count"]) for x in d["refusals"]]
    rows += [("latency_ms", k, v) for k, v in d["latency_ms"].items()]
    for w in d["workers"]:
        rows += [("worker", w["worker"], w["results"]), ("worker_share", w["worker"], w["share"])]
        rows += [
            ("worker_rate_per_s", w["worker"], w["rate_per_s"]),
            ("worker_max_rss_kb", w["worker"], w["max_rss_kb"]),
        ]
    return rows


@run_app.command("report")
def run_report(
    run_id: int = typer.Argument(..., min=1, metavar="ID", help="The run's id (d400 precheck prints it)."),
    as_json: AsJson = False,
    as_csv: bool = typer.Option(False, "--csv", help="One CSV table: section,key,value."),
) -> None:
    """The report of one run, whoever did the work: counts per outcome and refusal category,
    acquirer latency p50/p95/p99, duration, each worker's share."""
    if as_json and as_csv:
        raise CliError("--json or --csv, not both")

    async def get(engine: Any, who: m.Actor) -> Any:
        return engine.run_report(who, run_id)

    d = plain(_report_dict(call(get)))
    if as_json:
        print_json(d)
        return
    if as_csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(("section", "key", "value"))
        for section, key, value in _csv_rows(d):
            w.writerow((section, key, "" if value is None else value))
        return
    command = "precheck" if d["kind"] == "PRECHECK" else "capture"
    state = (
        "finished"
        if d["finished_at"]
        else f"stopped, no worker alive (d400 {command} worker --run {d['run']} finishes it)"
        if d["stopped"]
        else "unfinished"
    )
    out.print(
        f"{d['kind']} run {d['run']} for {d['run_date']} by {d['operator']}: {state}, "
        f"{d['duration_s']:.1f} s, planned {d['planned'] or 0}",
        markup=False,
    )
    out.print("outcomes: " + (", ".join(f"{k} {v}" for k, v in d["outcomes"].items()) or "none"), markup=False)
    for x in d["refusals"]:
        out.print(f"  {x['outcome']} {x['category'] or '-'} {x['code'] or '-'}: {x['count']}", markup=False)
    lat = d["latency_ms"]
    out.print("acquirer latency: " + ("  ".join(f"{k} {v:.1f} ms" for k, v in lat.items()) or "no call"), markup=False)
    for x in d["workers"]:
        rss = f", max RSS {x['max_rss_kb'] / 1024:.0f} MB" if x["max_rss_kb"] else ""
        out.print(
            f"worker {x['worker']}: {x['results']} ({x['share']:.1%}), {x['rate_per_s']:.1f}/s{rss}", markup=False
        )


@app.command("reconcile")
def reconcile(as_json: AsJson = False) -> None:
    """Settle UNKNOWN authorizations with the acquirer and finish pending voids."""
    report = call(lambda engine, who: engine.reconcile(who))
    if as_json:
        print_json({"settled": report.settled, "still_unknown": report.still_unknown})
        return
    for line in report.lines or ["nothing to reconcile"]:
        out.print(tx(line), markup=False)
    if report.still_unknown:
        raise typer.Exit(4)
