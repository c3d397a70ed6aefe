"""The capture run: take the money of what is due, never above what was authorized, never twice.

Batched like the pre-check: claims of N due instalments (store.capture_batch), each decided by the
domain's rules and marked in flight — committed — before any call, so a process killed before its
answers are written leaves work the reconciler finishes (`capture_pending`); `concurrency` calls in
flight; answers written in batches in a thread. An order shipped in parcels is claimed with the
rest: its parcel decided by engine.parcels, its capture row committed with the claim."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import cast

from d400tui.acquirers.base import AcquirerUnavailable
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.store import capture_batch as store
from d400tui.store import leases, shipments
from d400tui.store.batch_writes import DatabaseBusy, database_errors

from . import parcels, shipped_capture
from .capture_batch import Answered, Sent, Window, audit_rows, decide_answers, decide_claims
from .capture_loop import Pipeline
from .capture_one import WHAT, CaptureOutcome, capture_one
from .errors import EngineError
from .runs import BatchContext, Progress, quiet_gc
from .steps import Context
from .workers import LEASE_S, Lease, open_run

log = logging.getLogger("d400.engine")
DB_BUSY = Message("engine.skip_db_busy")


def capture_window(concurrency: int, claim_size: int, overlap: bool) -> tuple[Window, int]:
    """The run's window and the size of a claim: at most concurrency + half of it claimed and
    unanswered, twice that ahead when claims go beside writes (PostgreSQL), and answers not yet
    written up to four claims' worth. Claimed + answered-unwritten never passes size + backlog."""
    ahead = concurrency // 2 * (2 if overlap else 1)
    chunk = max(1, min(max(1, claim_size), ahead))
    return Window(concurrency + ahead, backlog=max(4 * chunk, concurrency)), chunk


class Capture:
    def __init__(self, ctx: BatchContext) -> None:
        self.e = ctx
        self.latency: dict[int, float] = {}  # authorization id → the capture call's time (ms)
        self._overlap = False

    def start(self, actor: m.Actor, run_date: date | None = None, concurrency: int = 8) -> int:
        """Open a capture run for workers to join (engine.workers); returns its id."""
        self.e.require_supervisor(actor, WHAT)
        if not 1 <= concurrency <= 512:
            raise EngineError("engine.concurrency", field="concurrency")
        day = run_date or self.e.today()

        def due(run_id: int, _at: object) -> int:
            with self.e.unit() as uow:
                return store.count_capture_due(uow.session, day, run_id)

        return open_run(self.e, actor, "CAPTURE", day, concurrency, due)

    def selection(self, run_date: date) -> list[tuple[int, int, Decimal]]:
        """(order id, seq, amount) a capture run at `run_date` would take (tests, CLI --dry-run)."""
        with self.e.unit() as uow:
            return store.capture_worklist(uow.session, run_date)

    async def run(
        self,
        actor: m.Actor,
        run_date: date | None = None,
        concurrency: int = 8,
        progress: Progress | None = None,
        run_id: int | None = None,
        claim_size: int = 256,
        lease_s: float = LEASE_S,
    ) -> m.PrecheckRun:
        """Capture what is due: validated, not blocked, phone card orders whose instalment is due
        and holds a live, unexpired authorization; or join run `run_id` started elsewhere. Never
        above what was authorized; rerunnable. Runs at once share the work: a run takes each
        instalment once; one in flight or unsettled elsewhere is counted skipped with the reason;
        a failure on one batch is counted on its instalments, left to the reconciler. The run
        always records its end."""
        self.e.require_supervisor(actor, WHAT)
        if not 1 <= concurrency <= 512:
            raise EngineError("engine.concurrency", field="concurrency")
        if run_id is None:
            run_id = self.start(actor, run_date, concurrency)
        with self.e.unit() as uow:  # a worker joining a run captures its date
            joined = uow.runs.get(run_id)
            if joined is None or joined.kind != "CAPTURE":
                raise EngineError("engine.run_unknown", run=run_id)
            run_date = joined.run_date
            total = store.count_capture_due(uow.session, run_date, run_id)
            self._overlap = leases.shared(uow.session)  # PostgreSQL: a claim and a write at once
        self.lease = lease = Lease(self.e, run_id, concurrency, lease_s)
        lease.join()
        keeper = asyncio.create_task(lease.keep())
        # Claimed and unanswered: at most concurrency + half of it (the next calls are ready when
        # answers come back; a run started beside this one finds the rest free). Claims beside
        # writes (PostgreSQL): twice that ahead, so each claim and write is of a whole concurrency
        # (half of it cost 1.4 times the statements a capture, measured).
        claim_size = max(1, claim_size)
        window, chunk = capture_window(concurrency, claim_size, self._overlap)  # claims half a concurrency
        # ahead (a second run finds the rest free); beside writes a whole one: 1.4× fewer statements
        counter = [0]

        def tick(n: int) -> None:
            counter[0] += n
            if progress:
                progress(min(counter[0], total), total)

        def claim(n: int, after: int) -> Awaitable[tuple[list[Sent], int, int]]:
            return asyncio.to_thread(self._claim, run_id, run_date, n, actor.name, after)

        async def write(batch: list[Answered], owed: int) -> None:
            again = await asyncio.to_thread(self._write, run_id, batch, actor.name, owed)
            await shipped_capture.reauthorize_all(cast(Context, self.e), actor, run_id, again)

        pipe = Pipeline(run_id, window, concurrency, chunk, claim_size, claim, write, self._overlap, tick=tick)

        async def caller() -> None:
            while (s := await pipe.queue.get()) is not None:
                pipe.answered(await self._try(s))

        try:
            with quiet_gc():
                await asyncio.gather(pipe.run(), *(caller() for _ in range(concurrency)))
                if pipe.owed:  # decided without a call after the last write: the lease's count
                    await asyncio.to_thread(self._count_done, pipe.owed)
                await self._drain(actor, run_id, concurrency, tick)
        finally:
            keeper.cancel()
            run = self._end(run_id, actor.name)
            lease.release()
        if progress:
            progress(total, total)
        return run

    def _claim(self, run_id: int, run_date: date, n: int, actor: str, after: int) -> tuple[list[Sent], int, int]:
        """One claim in its own transaction: (captures to send, highest id taken or 0, how many
        were decided without a call). A claim that fails leaves nothing taken."""
        now = self.e.clock()
        with self.e.unit() as uow:
            cands, last = store.claim_captures(uow.session, run_id, run_date, n, after)
            if not last:
                return [], 0, 0
            claims, sent = decide_claims(run_id, cands, run_date, now, actor, self._caps)
            store.mark_claimed(uow.session, run_id, now, self.lease.me, claims)
            for r in claims.results:
                r["worker"] = self.lease.me
            if not self._overlap:  # at once with a write, the lease's row would make it wait
                self.lease.renew(uow, len(cands) - len(sent))
            uow.audits.append(claims.audits)  # last: the chain head stays locked only until the commit
            uow.commit()
        return sent, last, len(cands) - len(sent)

    def _caps(self, acquirer: str) -> frozenset[str]:
        return frozenset(self.e.acquirer_for(acquirer).capabilities)

    async def _try(self, s: Sent) -> Answered:
        """`_send`; a path that fails is lost on this instalment only (it may have been sent): the
        reconciler settles it."""
        try:
            with database_errors():
                return await self._send(s)
        except (EngineError, m.DomainError, DatabaseBusy) as exc:
            log.warning("capture of order %s instalment %s not done: %s", s.cand.order_id, s.cand.seq, exc)
            return Answered(s, None, exc.message if isinstance(exc, EngineError | m.DomainError) else DB_BUSY)

    async def _send(self, s: Sent) -> Answered:
        """One claimed capture to the acquirer (a parcel: its call and the release after it)."""
        sent = time.perf_counter()
        holder = self.e.acquirer_for(s.auth.acquirer)  # the acquirer that holds it (failover)
        try:
            if s.parcel is not None:
                resp, released, op = await parcels.send(holder, s.auth.acquirer_ref or "", s.parcel)
                return Answered(s, resp, None, released, op)
            return Answered(s, await holder.capture(s.auth.acquirer_ref or "", s.cand.amount, s.key))
        except AcquirerUnavailable:
            return Answered(s, None)
        finally:
            self.latency[s.auth.id] = (time.perf_counter() - sent) * 1000

    async def _drain(self, actor: m.Actor, run_id: int, concurrency: int, tick: Callable[[int], None]) -> None:
        """After the run's own pass: the captures in flight of workers that lost their lease, sent
        again under their key, until no live worker of the run has one in flight."""
        gate = asyncio.Semaphore(concurrency)

        async def again(s: Sent) -> Answered:
            async with gate:
                return await self._try(s)

        while True:
            got = await asyncio.to_thread(self._take_over, run_id, 4 * concurrency)
            if got:
                batch = list(await asyncio.gather(*(again(s) for s in got)))
                more = await asyncio.to_thread(self._write, run_id, batch, actor.name)
                tick(len(batch))
                await shipped_capture.reauthorize_all(cast(Context, self.e), actor, run_id, more)
            elif await asyncio.to_thread(self.lease.others_in_flight, True):
                await asyncio.sleep(self.lease.poll_s)
            else:
                return

    def _take_over(self, run_id: int, n: int) -> list[Sent]:
        """A lost worker's captures in flight, now ours: a parcel sent again as its capture row says."""
        with self.e.unit() as uow:
            cands = leases.take_over_captures(uow.session, run_id, self.lease.lost(uow), self.lease.me, n)
            got = shipped_capture.sent_again(uow, cands)
            uow.commit()
        return got

    def _count_done(self, n: int) -> None:
        with self.e.unit() as uow:
            self.lease.renew(uow, n)
            uow.commit()

    def _write(
        self, run_id: int, batch: list[Answered], actor: str, owed: int = 0
    ) -> list[tuple[int, int, int, Decimal]]:
        """Write a batch of answers (`owed`: claims decided without a call, for the lease's count);
        the parcels to authorize again for what remains."""
        try:
            with database_errors():
                return self._record_capture(run_id, batch, actor, owed)
        except (DatabaseBusy, EngineError) as exc:
            # The answers could not be written: the captures stay in flight for the reconciler,
            # which must not take this (living) process for their waiting sender.
            log.warning("capture answers of run %s not written (%s): left to the reconciler", run_id, exc)
            left = [Answered(x.sent, None, DB_BUSY) for x in batch]
            with contextlib.suppress(DatabaseBusy), database_errors(), self.e.unit(lock=True) as uow:
                b, _ = decide_answers(run_id, left, {}, self.e.label)
                for r in b.results:  # whose they were: the run report's shares name a worker
                    r["worker"] = self.lease.me
                store.write_capture_answers(uow.session, run_id, self.e.clock(), b)
                uow.commit()
            return []

    def _record_capture(
        self, run_id: int, batch: list[Answered], actor: str, owed: int = 0
    ) -> list[tuple[int, int, int, Decimal]]:
        """Write a batch of answers in one transaction, the orders locked."""
        now = self.e.clock()
        with self.e.unit(lock=True) as uow:  # SQLite: the write lock before reading what to write
            # what is still ours (a lost lease: another worker's now), as it is now, locked
            current = store.mine_answered(uow.session, run_id, self.lease.me, [x.sent.auth.id for x in batch])
            batch = [x for x in batch if x.sent.auth.id in current]
            keys = shipments.in_flight_keys(uow.session, [x.sent.auth.id for x in batch if x.sent.parcel])
            b, details = decide_answers(run_id, batch, current, self.e.label, now, keys)
            for r in b.results:
                r["worker"], r["latency_ms"] = self.lease.me, self.latency.pop(r["authorization_id"], None)
            self.lease.renew(uow, len(batch) + owed)
            status = store.write_capture_answers(uow.session, run_id, now, b)
            uow.audits.append(audit_rows(now, actor, details, status))
            uow.commit()
        for order_id, st in status.items():
            if st not in (m.OrderStatus.INVOICED.value, m.OrderStatus.VALIDATED.value):
                log.error("order %s captured while %s: refund it", order_id, st)
        return b.again

    def _end(self, run_id: int, actor: str) -> m.PrecheckRun:
        """Record the run's end with its counts: the last of its workers to leave does."""
        last = self.lease.leave(self.e.clock())
        with self.e.unit() as uow:
            run = uow.runs.get(run_id)
            assert run is not None
            if not last:
                return run
            # a parcel's release of the rest: no counter of the run's own, its lines are counted
            released = leases.outcome_counts(uow.session, run_id).get("RELEASED", 0)
            run.released = released  # type: ignore[attr-defined]
            run.selected = run.approved + run.refused + run.unavailable + run.skipped + released
            uow.audit(
                actor,
                "CAPTURE_END",
                None,
                run=run_id,
                captured=run.approved,
                refused=run.refused,
                unavailable=run.unavailable,
                skipped=run.skipped,
                released=released,
                done=run.selected,
            )
            uow.commit()
        return run

    async def capture_one(
        self, actor: m.Actor, order_id: int, seq: int, run_date: date | None = None, amount: Decimal | None = None
    ) -> CaptureOutcome:
        """Capture one instalment, `amount` or what it is due (see capture_one.py)."""
        return await capture_one(self.e, actor, order_id, seq, run_date, amount)
