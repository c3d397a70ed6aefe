"""The invoicing pre-check: authorize every due instalment before invoicing.

The hot path (tens of thousands of authorizations): it claims instalments in batches (several
workers on several machines can share one run), commits the REQUESTED rows before any call, keeps
`concurrency` calls in flight, and writes answers back in batches (store.claims, store.batch_writes)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from d400tui.acquirers.base import AcquirerResponse, AcquirerUnavailable, Outcome
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.validity import Initiator
from d400tui.store import claims
from d400tui.store.batch_writes import Answer, AnswerBatch, deadlock_retry, write_precheck_answers
from d400tui.store.claims import PrecheckClaim
from d400tui.store.db import UnitOfWork

from . import failover, owner, precheck_send, retry_rules
from .codes import NO_ANSWER, lookup
from .errors import EngineError
from .runs import BatchContext, Progress, quiet_gc
from .workers import LEASE_S, Lease, open_run

NO_TOKEN = Message("engine.skip_no_token")


def _gone(issuer: str | None) -> Message:
    return Message("engine.skip_token_acquirer_gone", acquirer=issuer or "")


@dataclass
class _Done:
    claim: PrecheckClaim
    resp: AcquirerResponse | None
    void_ok: bool | None
    sent: bool = True  # False: the request never left (no acquirer could be reached)
    latency_ms: float | None = None
    failed_over: Message | None = None  # sent to the secondary: what the token's issuer answered


class Precheck:
    def __init__(self, ctx: BatchContext) -> None:
        self.e = ctx

    def selection(self, run_date: date) -> list[tuple[int, int]]:
        """(order id, instalment seq) the pre-check would authorize at `run_date` (tests, CLI --dry-run)."""
        with self.e.unit() as uow:
            return claims.precheck_selection(uow.session, run_date, self.e.clock())

    def _claim(
        self, run_id: int, run_date: date, since: datetime, n: int, actor: str, after: int = 0
    ) -> tuple[list[PrecheckClaim], int]:
        """One claim in its own transaction (see claims.claim_precheck). The caller ends with a
        claim from 0, which picks up anything a concurrent claim left behind."""
        with self.e.unit() as uow:
            todo, last = claims.claim_precheck(
                uow.session,
                run_id,
                run_date,
                since,
                self.e.clock(),
                n,
                after,
                self.e.acquirer.name,
                actor,
                owner.me(),
                NO_TOKEN,
                precheck_send.configured(self.e),
                _gone,
                retry_rules.precheck_rule(self.e.clock()),
            )
            if last:
                uow.commit()
            return todo, last

    def _count_due(self, run_date: date, run_id: int, since: datetime) -> int:
        with self.e.unit() as uow:
            return claims.count_precheck_due(uow.session, run_date, run_id, since, self.e.clock())

    def start(self, actor: m.Actor, run_date: date | None = None, concurrency: int = 16) -> int:
        """Open a run (its start and the count due) for workers to join; returns its id."""
        self.e.require_supervisor(actor, Message("engine.what_precheck"))
        if not 1 <= concurrency <= 512:
            raise EngineError("engine.concurrency", field="concurrency")
        day = run_date or self.e.today()
        return open_run(self.e, actor, "PRECHECK", day, concurrency, lambda rid, at: self._count_due(day, rid, at))

    async def run(
        self,
        actor: m.Actor,
        run_date: date | None = None,
        concurrency: int = 16,
        progress: Progress | None = None,
        run_id: int | None = None,
        claim_size: int = 256,
        lease_s: float = LEASE_S,
    ) -> m.PrecheckRun:
        """Run the pre-check at `run_date`, or join run `run_id` as one more worker (engine.workers)."""
        self.e.require_supervisor(actor, Message("engine.what_precheck"))
        if not 1 <= concurrency <= 512:
            raise EngineError("engine.concurrency", field="concurrency")
        if run_id is None:
            run_id = self.start(actor, run_date, concurrency)
        with self.e.unit() as uow:  # a worker joining a run shares its date, start (and claims)
            joined = uow.runs.get(run_id)
            if joined is None or joined.kind != "PRECHECK":
                raise EngineError("engine.run_unknown", run=run_id)
            since, run_date = joined.started_at, joined.run_date
        lease = Lease(self.e, run_id, concurrency, lease_s)
        lease.join()
        keeper = asyncio.create_task(lease.keep())
        try:
            return await self._work(actor, run_date, concurrency, progress, run_id, claim_size, since, lease)
        finally:
            keeper.cancel()
            lease.release()

    async def _work(
        self,
        actor: m.Actor,
        run_date: date,
        concurrency: int,
        progress: Progress | None,
        run_id: int,
        claim_size: int,
        since: datetime,
        lease: Lease,
    ) -> m.PrecheckRun:
        total = self._count_due(run_date, run_id, since)
        claim_n = max(32, min(claim_size, concurrency * 2))  # measured: smaller batches keep the loop freer
        # one claim ahead at most: what a worker holds, other workers of the run cannot have
        queue: asyncio.Queue[PrecheckClaim | None] = asyncio.Queue(maxsize=claim_n)
        done: list[_Done] = []
        counter = [0]

        # Database work runs in threads, so the event loop keeps the acquirer calls flowing while
        # a batch is claimed or written (SQLite and psycopg release the GIL while they work). SQLite
        # has one writer: one piece at a time. PostgreSQL: claims (SKIP LOCKED) and writes (each
        # its own orders, locked in id order) overlap.
        with self.e.unit() as uow:
            db_turn = asyncio.Semaphore(claims.overlapping_writers(uow.session))
        # the writes under way, and those that failed (the end's gather raises theirs); a batch
        # written is let go — kept, each run held every answer to its end (~300 B an instalment)
        flushes: set[asyncio.Task[None]] = set()

        def written(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is None:
                flushes.discard(task)

        def flushing(batch: list[_Done]) -> None:
            task = asyncio.create_task(flush(batch))
            flushes.add(task)
            task.add_done_callback(written)

        async def flush(batch: list[_Done]) -> None:
            async with db_turn:
                orphans = await asyncio.to_thread(
                    deadlock_retry, partial(self._flush, run_id, batch, actor.name, lease)
                )
            for order_id, auth_id in orphans:
                await self.e.void(actor, order_id, auth_id)
            counter[0] += len(batch)
            if progress:
                progress(min(counter[0], total), total)

        async def producer() -> None:
            after = 0
            while True:
                async with db_turn:
                    got, last = await asyncio.to_thread(
                        deadlock_retry,
                        partial(self._claim, run_id, run_date, since, claim_n, actor.name, after),
                        lost_connection=True,  # a claim done twice only claims more
                    )
                if not last:
                    if not after:
                        break
                    after = 0  # the closing sweep from the start (see _claim)
                    continue
                after = last
                for c in got:
                    await queue.put(c)
            await lease.drain(claim_n, queue.put, db_turn)  # what workers that lost their lease left
            for _ in range(concurrency):
                await queue.put(None)

        async def worker() -> None:
            while (c := await queue.get()) is not None:
                void_ok: bool | None = None
                # the expired hold is voided where it is held (its row's acquirer), never at the
                # first acquirer by default: unknown there, its "no such authorization" would mark
                # a live hold voided. Not known: left void PENDING for the reconciler (the row says)
                if c.old_ref and c.old_key and c.old_acquirer:
                    try:
                        holder = self.e.acquirer_for(c.old_acquirer)
                        v = await holder.void(c.old_ref, c.old_key + "-void")
                        void_ok = v.outcome is Outcome.VOIDED
                    except AcquirerUnavailable:
                        void_ok = False
                started = time.perf_counter()
                resp, sent, moved = await precheck_send.send(self.e, c, db_turn, actor.name)
                done.append(_Done(c, resp, void_ok, sent, (time.perf_counter() - started) * 1000, moved))
                if len(done) >= claim_n:
                    batch = done[:]
                    done.clear()
                    flushing(batch)

        with quiet_gc():
            await asyncio.gather(producer(), *(worker() for _ in range(concurrency)))
            if done:
                flushing(done[:])
            await asyncio.gather(*flushes)
        if not lease.leave(self.e.clock()):  # other workers still at it: the last one ends the run
            with self.e.unit() as uow:
                run = uow.runs.get(run_id)
                assert run is not None
            if progress:
                progress(total, total)
            return run
        with self.e.unit() as uow:
            ends = claims.precheck_end_counts(uow.session, run_date, run_id)
            ended = uow.runs.get(run_id)
            assert ended is not None
            run = ended
            run.skipped += ends.unanswered
            run.selected = run.approved + run.refused + run.unavailable + run.skipped
            uow.audit(
                actor.name,
                "PRECHECK_END",
                None,
                run=run_id,
                approved=run.approved,
                refused=run.refused,
                unavailable=run.unavailable,
                skipped=run.skipped,
                awaiting_reconcile=ends.in_doubt,
                other_channels_or_methods=ends.others,
            )
            uow.commit()
            run.other_skipped = ends.others  # type: ignore[attr-defined]
        if progress:
            progress(total, total)
        return run

    def _flush(self, run_id: int, batch: list[_Done], actor: str, lease: Lease) -> list[tuple[int, int]]:
        """Write a batch of answers in one transaction; returns (order, authorization) to void.
        Only the rows still ours: a worker whose lease ran out while it waited lost them."""
        with self.e.unit() as uow:
            mine = lease.still_mine(uow, [d.claim.auth_id for d in batch if d.claim.auth_id is not None])
            batch = [d for d in batch if d.claim.auth_id in mine]
            if not batch:
                return []
            return self._write(uow, run_id, batch, actor, lease)

    def _write(
        self, uow: UnitOfWork, run_id: int, batch: list[_Done], actor: str, lease: Lease
    ) -> list[tuple[int, int]]:
        now = self.e.clock()
        out = AnswerBatch()  # a void that failed stays EXPIRED with void PENDING: the reconciler finishes it
        for d in batch:
            c, resp = d.claim, d.resp
            if d.void_ok is not None:
                if d.void_ok and c.old_auth_id is not None:
                    out.voided.append(c.old_auth_id)
                done = str(d.void_ok).lower()
                out.audit(
                    now,
                    actor,
                    "VOID",
                    c.order_id,
                    f'{{"run": {run_id}, "authorization": {c.old_auth_id}, '
                    f'"reason": "validity limit", "done": {done}}}',
                )
            if resp is None:
                state, code, cat, outcome = m.AuthState.UNKNOWN, NO_ANSWER, m.Category.UNAVAILABLE, "UNAVAILABLE"
                out.unavailable += 1
                out.refused_orders.add(c.order_id)
            elif resp.outcome is Outcome.APPROVED:
                state, code, cat, outcome = m.AuthState.APPROVED, resp.code, m.Category.APPROVED, "APPROVED"
                out.approved += 1
            else:
                rc = lookup(resp.code)
                state, code, cat = m.AuthState.DECLINED, resp.code, rc.category
                outcome = "UNAVAILABLE" if cat is m.Category.UNAVAILABLE else "REFUSED"
                if outcome == "UNAVAILABLE":
                    out.unavailable += 1
                else:
                    out.refused += 1
                out.refused_orders.add(c.order_id)
            # The validity model's window of a merchant-initiated authorization on the claim's brand
            # (Visa: 5 days, Stripe 4 days 18 hours) at the acquirer that approved it (the token's
            # issuer, or the secondary a failover sent it to): the next pre-check re-authorizes by it.
            approved = state is m.AuthState.APPROVED
            expires = now + self.e.validity(c.brand, Initiator.MIT, acquirer=c.acquirer) if approved else None
            label: str | Message = self.e.label(code) if d.sent else Message(failover.NOT_SENT)
            out.answers.append(
                Answer(
                    c.auth_id,
                    c.inst_id,
                    state.value,
                    code,
                    cat.value,
                    label,
                    resp.auth_code if resp else None,
                    resp.reference if resp else None,
                    now if resp else None,
                    expires,
                    resp.network if resp else None,
                    resp.cvv.value if resp and resp.cvv else None,
                )
            )
            out.results.append(
                dict(
                    run_id=run_id,
                    order_id=c.order_id,
                    instalment_seq=c.seq,
                    outcome=outcome,
                    amount=c.amount,
                    code=code,
                    category=cat.value,
                    reason=(d.failed_over or "") if outcome == "APPROVED" else label,
                    authorization_id=c.auth_id,
                    worker=lease.me,
                    latency_ms=d.latency_ms,
                )
            )
            moved = f', "failover_from": "{d.failed_over.params["first"]}"' if d.failed_over else ""
            out.audit(
                now,
                actor,
                "AUTHORIZE",
                c.order_id,
                f'{{"run": {run_id}, "authorization": {c.auth_id}, '
                f'"state": "{state.value}", "code": "{code}", "amount": "{c.amount}"{moved}}}',
            )
        orphans = write_precheck_answers(uow.session, run_id, out)
        lease.renew(uow, len(batch))
        uow.audits.append(out.audits)  # last: the chain head stays locked only until the commit
        uow.commit()
        return orphans
