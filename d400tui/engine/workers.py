"""Workers sharing one batch run, on one machine or several: each joins the run with a lease on the
database's clock and renews it while it works; the REQUESTED rows of a worker whose lease ran out
(killed, machine lost) are claimed again by another under the same idempotency keys, so the
acquirer replays its first answer — never a second hold. The last worker to leave writes the end
counts. Also what a progress display and the run report read. PostgreSQL coordinates; on SQLite a
run has one worker at a time."""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar

from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.store import leases
from d400tui.store.claims import PrecheckClaim
from d400tui.store.db import UnitOfWork

from . import owner
from .errors import EngineError
from .runs import BatchContext

log = logging.getLogger("d400.engine")

LEASE_S = 30.0
"""How long a worker that stopped renewing keeps its claims: 10 renewals missed (one every 3 s)."""
PERCENTILES = (50.0, 95.0, 99.0)


def _rss_kb() -> int:
    """This process's peak resident memory in kB. Linux: the program's own (VmHWM), as
    ru_maxrss keeps across exec the peak of the process that forked it — a bench that loaded a
    million orders reported its own 178 MB for workers whose peak was 148 (83 while working)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS counts bytes


class Lease:
    """One worker's membership of a run (this process): joined, renewed while it works, finished."""

    _here: ClassVar[set[int]] = set()  # runs this process works on: one worker per process and run

    def __init__(self, ctx: BatchContext, run_id: int, concurrency: int, lease_s: float = LEASE_S) -> None:
        if not 2.0 <= lease_s <= 3600.0:
            raise EngineError("engine.lease_range", field="lease")
        self.e, self.run_id, self.concurrency, self.lease_s = ctx, run_id, concurrency, lease_s
        self.me = owner.me()
        self.renewed = 0.0

    def join(self) -> None:
        """Register on the run: refused for a finished run, for a second worker in this process,
        and on SQLite while another worker holds a live lease on it."""
        if self.run_id in Lease._here:
            raise EngineError("engine.worker_twice", run=self.run_id)
        with self.e.unit(lock=True) as uow:  # SQLite: the write lock first, two joins never both pass
            run = uow.runs.get(self.run_id)
            if run is None:
                raise EngineError("engine.run_unknown", run=self.run_id)
            if run.finished_at is not None:
                raise EngineError("engine.run_finished", run=self.run_id)
            if not leases.shared(uow.session) and self._live_others(uow):
                raise EngineError("engine.workers_sqlite")
            leases.join(uow.session, self.run_id, self.me, self.concurrency, self.lease_s)
            uow.commit()
        Lease._here.add(self.run_id)

    def _live_others(self, uow: UnitOfWork) -> list[str]:
        now, rows = leases.workers(uow.session, self.run_id)
        return [w.worker for w in rows if w.worker != self.me and w.finished is None and w.lease_until >= now]

    def lost(self, uow: UnitOfWork) -> list[str]:
        """Workers whose claims are free: lease run out, or the process is gone (same machine)."""
        now, rows = leases.workers(uow.session, self.run_id)
        return [
            w.worker
            for w in rows
            if w.worker != self.me and (w.lease_until < now or (w.finished is None and owner.is_dead(w.worker)))
        ]

    def renew(self, uow: UnitOfWork, done: int = 0) -> None:
        """In the caller's transaction (a batch of answers written: its count goes with it)."""
        leases.renew(uow.session, self.run_id, self.me, self.lease_s, done, _rss_kb())

    def _renew_alone(self) -> None:
        with self.e.unit() as uow:
            self.renew(uow)
            uow.commit()

    async def keep(self) -> None:
        """Renew the lease every tenth of it until cancelled (a slow acquirer is no lost worker)."""
        while True:
            await asyncio.sleep(self.lease_s / 10)
            try:
                await asyncio.to_thread(self._renew_alone)
            except Exception as exc:  # the next renewal tries again; the lease outlasts several misses
                log.warning("run %s: lease not renewed: %s", self.run_id, exc)

    def take_over(self, n: int, now: datetime) -> list[PrecheckClaim]:
        """Up to `n` claims of lost workers, now ours (same rows, same keys), committed."""
        with self.e.unit() as uow:
            got = leases.take_over(uow.session, self.run_id, self.lost(uow), self.me, n, now)
            if got:
                log.info("run %s: %d claims of a lost worker taken over by %s", self.run_id, len(got), self.me)
            uow.commit()
            return got

    def others_in_flight(self, capture: bool = False) -> int:
        """Calls other live workers of the run have sent and not answered yet: wait for them (they
        may still die, and their claims then come back here after their lease)."""
        with self.e.unit() as uow:
            return leases.in_flight(uow.session, self.run_id, self._live_others(uow), capture)

    @property
    def poll_s(self) -> float:
        return min(1.0, self.lease_s / 4)

    async def drain(
        self, n: int, put: Callable[[PrecheckClaim], Awaitable[None]], turn: AbstractAsyncContextManager[object]
    ) -> None:
        """After the run's own pass: the claims of workers that lost their lease, handed to `put`,
        until no live worker of the run has a call in flight (it may still die). `turn`: the run's
        one-piece-at-a-time database lock."""
        while True:
            async with turn:
                got = await asyncio.to_thread(self.take_over, n, self.e.clock())
                waiting = 0 if got else await asyncio.to_thread(self.others_in_flight)
            for c in got:
                await put(c)
            if not got and not waiting:
                return
            if not got:
                await asyncio.sleep(self.poll_s)

    def still_mine(self, uow: UnitOfWork, auth_ids: list[int], capture: bool = False) -> set[int]:
        return leases.still_mine(uow.session, self.run_id, self.me, auth_ids, capture)

    def release(self) -> None:
        """This process no longer works on the run (ended or failed: another may join it)."""
        Lease._here.discard(self.run_id)

    def leave(self, now: datetime) -> bool:
        """Finished: True when this worker is the last one and closed the run (it writes the end
        counts, in a transaction of its own after this one)."""
        self.release()
        with self.e.unit() as uow:
            leases.finish(uow.session, self.run_id, self.me, _rss_kb())
            uow.commit()
        with self.e.unit() as uow:  # a new transaction: sees every other worker's own leave
            last = not self._live_others(uow) and leases.close_run(uow.session, self.run_id, now)
            uow.commit()
        return last


def open_run(
    ctx: BatchContext,
    actor: m.Actor,
    kind: str,
    run_date: date,
    concurrency: int,
    count_due: Callable[[int, datetime], int],
) -> int:
    """A new run of `kind` (PRECHECK, CAPTURE) for workers to join, with its planned total
    (`count_due(run id, its start)`) for their progress; returns its id."""
    run = m.PrecheckRun(kind, run_date, ctx.clock(), actor.name, concurrency)
    with ctx.unit() as uow:
        uow.runs.add(run)
        uow.audit(actor.name, f"{kind}_START", None, run_date=run_date, concurrency=concurrency)
        uow.commit()
    run_id = run.id or 0
    planned = count_due(run_id, run.started_at)
    with ctx.unit() as uow:
        leases.set_planned(uow.session, run_id, planned)
        uow.commit()
    return run_id


# -- what progress displays and the run report read -----------------------------------------------
@dataclass(frozen=True)
class WorkerFigures:
    worker: str
    concurrency: int
    done: int
    rate: float  # results per second since it joined
    state: str  # RUNNING | FINISHED | LOST
    elapsed_s: float
    max_rss_kb: int | None = None


@dataclass(frozen=True)
class RunProgress:
    run_id: int
    kind: str
    planned: int
    done: int
    rate: float
    eta_s: float | None  # None once finished, or before the first result
    elapsed_s: float
    finished: bool
    workers: list[WorkerFigures] = field(default_factory=list)
    # not finished and every worker's lease ran out (killed, or stopped on an error): nobody is at
    # it; its time stops at the last heartbeat instead of growing, and a worker joining finishes it
    stopped: bool = False


@dataclass(frozen=True)
class RunReport:
    run: m.PrecheckRun
    duration_s: float
    outcomes: dict[str, int]
    refusals: list[tuple[str, str, str, int]]  # outcome, category, code, count
    latency_ms: dict[str, float]  # p50, p95, p99 of the acquirer calls
    workers: list[tuple[str, int, float, float, int | None]]  # worker, results, share, rate, max RSS kB
    stopped: bool = False  # unfinished with no worker alive (RunProgress.stopped)


def _figures(uow: UnitOfWork, run_id: int) -> tuple[m.PrecheckRun, RunProgress]:
    run = uow.runs.get(run_id)
    if run is None:
        raise EngineError("engine.run_unknown", run=run_id)
    now, rows = leases.workers(uow.session, run_id)
    figures = []
    for w in rows:
        state = "FINISHED" if w.finished is not None else "LOST" if w.lease_until < now else "RUNNING"
        end = w.finished if w.finished is not None else w.heartbeat if state == "LOST" else now
        elapsed = max(end - w.started, 1e-3)
        figures.append(WorkerFigures(w.worker, w.concurrency, w.done, w.done / elapsed, state, elapsed, w.max_rss_kb))
    done = sum(f.done for f in figures)
    start = min((w.started for w in rows), default=now)
    finished = run.finished_at is not None
    stopped = not finished and bool(figures) and all(f.state == "LOST" for f in figures)
    end = max((w.finished or w.heartbeat for w in rows), default=now) if finished or stopped else now
    elapsed = max(end - start, 1e-3)
    rate = done / elapsed
    planned = max(run.planned or 0, done)
    eta = None if finished or stopped or not rate else max(planned - done, 0) / rate
    return run, RunProgress(run_id, run.kind, planned, done, rate, eta, elapsed, finished, figures, stopped)


def progress(ctx: BatchContext, actor: m.Actor, run_id: int) -> RunProgress:
    """Every worker's count, rate and state and the run's as a whole, with its ETA."""
    ctx.require_supervisor(actor, _what())
    with ctx.unit() as uow:
        return _figures(uow, run_id)[1]


def report(ctx: BatchContext, actor: m.Actor, run_id: int) -> RunReport:
    """One report per run, whoever did the work: counts per outcome and refusal category, the
    acquirer's latency percentiles, duration and each worker's share."""
    ctx.require_supervisor(actor, _what())
    with ctx.unit() as uow:
        run, prog = _figures(uow, run_id)
        outcomes = leases.outcome_counts(uow.session, run_id)
        refusals = leases.refusal_counts(uow.session, run_id)
        ranks = leases.latency_ranks(uow.session, run_id, PERCENTILES)
        counts = leases.worker_counts(uow.session, run_id)
    total = sum(counts.values()) or 1
    rates = {f.worker: f.rate for f in prog.workers}
    rss = {f.worker: f.max_rss_kb for f in prog.workers}
    names = [f.worker for f in prog.workers] + sorted(w for w in counts if w not in rates)
    shares = [(w, counts.get(w, 0), counts.get(w, 0) / total, rates.get(w, 0.0), rss.get(w)) for w in names]
    if run.finished_at is not None:
        duration = (run.finished_at - run.started_at).total_seconds()
    else:
        duration = prog.elapsed_s
    ranked = {f"p{p:g}": v for p, v in ranks.items()}
    return RunReport(run, max(duration, 0.0), outcomes, refusals, ranked, shares, prog.stopped)


def can_share(ctx: BatchContext) -> bool:
    with ctx.unit() as uow:
        return leases.shared(uow.session)


def _what() -> Message:
    return Message("engine.what_run_report")
