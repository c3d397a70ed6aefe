"""Batch runs: the invoicing pre-check and the capture run.

The pre-check is the hot path (tens of thousands of authorizations): it claims instalments in
batches (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers on several machines can share
one run), commits the REQUESTED rows before any call, keeps `concurrency` calls in flight, and
writes answers back in batches with SQLAlchemy Core."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from d400tui.acquirers.base import AcquirerResponse, AcquirerUnavailable, Outcome, PaymentSource
from d400tui.domain import model as m
from d400tui.store import tables as t

from . import owner
from .codes import NO_ANSWER, lookup
from .errors import EngineError

if TYPE_CHECKING:
    from .service import Engine

log = logging.getLogger("d400.engine")
Progress = Callable[[int, int], None]
PENDING, VALIDATED, PHONE, CARD = "PENDING", "VALIDATED", "PHONE", "CARD"
STALE_RUN = timedelta(hours=2)  # a run unfinished after this long died (killed process): its claims are free


@dataclass
class _Claim:
    inst_id: int
    order_id: int
    seq: int
    amount: Decimal
    token: str | None
    brand: str = "UNKNOWN"
    auth_id: int | None = None
    key: str = ""
    old_auth_id: int | None = None
    old_ref: str | None = None
    old_key: str | None = None


@dataclass
class _Done:
    claim: _Claim
    resp: AcquirerResponse | None
    void_ok: bool | None


@contextlib.contextmanager
def _quiet_gc() -> Any:
    """A run keeps thousands of calls in flight on one event loop; the cyclic collector's full
    passes over the long-lived objects (engine, mappers, caches) paused that loop up to 100 ms,
    1.3 s per 20,000 authorizations (measured, bench/bench_engine.py). Objects alive when the run
    starts are frozen out of collection for its length; new garbage is still collected."""
    frozen = gc.isenabled() and gc.get_freeze_count() == 0
    if frozen:
        gc.collect()
        gc.freeze()
    try:
        yield
    finally:
        if frozen:
            gc.unfreeze()


def _unindexed(column: Any) -> Any:
    """`+column`: the same value, but SQLite will not pick an index on it for the plan."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def _day_end(d: date) -> datetime:
    return datetime.combine(d + timedelta(days=1), time.min)


class Batches:
    def __init__(self, engine: Engine) -> None:
        self.e = engine

    # -- selection ---------------------------------------------------------------------------
    def _due_where(self, run_date: date, walk_pk: bool = False) -> Any:
        """walk_pk: written so that SQLite walks the primary key (claims, in id order from where the
        last one stopped) rather than the (state, due date) index, which made it sort every due
        instalment again at each claim (5-10 ms a claim, measured). PostgreSQL plans the id range
        without being told."""
        i, o = t.instalments, t.orders
        state, status = i.c.state, o.c.status
        if walk_pk and self.e.db.dialect == "sqlite":
            state, status = _unindexed(state), _unindexed(status)
        return and_(
            state == PENDING, i.c.due_date <= run_date,
            status == VALIDATED, o.c.channel == PHONE, o.c.payment_method == CARD,
        )

    def _precheck_where(self, run_date: date, run_id: int, since: datetime, walk_pk: bool = False) -> Any:
        """Due, not in flight, not tried by this run nor by any run that overlapped it (two
        pre-checks at the same time never ask twice for one instalment; a rerun started after
        they ended retries refusals), and with no authorization valid through the run date."""
        i, r = t.instalments, t.precheck_runs
        over = select(r.c.id).where(or_(r.c.finished_at < since, r.c.started_at < self.e.clock() - STALE_RUN))
        return and_(
            self._due_where(run_date, walk_pk),
            i.c.auth_pending.is_(False),
            or_(i.c.precheck_run_id.is_(None),
                and_(i.c.precheck_run_id != run_id, i.c.precheck_run_id.in_(over))),
            or_(i.c.authorized_until.is_(None), i.c.authorized_until < _day_end(run_date)),
        )

    def precheck_selection(self, run_date: date) -> list[tuple[int, int]]:
        """(order id, instalment seq) the pre-check would authorize at `run_date` (tests, CLI --dry-run)."""
        i, o = t.instalments, t.orders
        with self.e._unit() as uow:
            rows = uow.session.execute(
                select(i.c.order_id, i.c.seq).join(o, o.c.id == i.c.order_id)
                .where(self._precheck_where(run_date, -1, self.e.clock())).order_by(i.c.order_id, i.c.seq)
            ).all()
        return [(r[0], r[1]) for r in rows]

    def _claim(self, run_id: int, run_date: date, since: datetime, n: int, actor: str,
               after: int = 0) -> tuple[list[_Claim], int]:
        """Claim up to n instalments with an id above `after`; returns the claims to authorize and
        the highest id claimed (0 when none was), so the next claim starts there: a run is one pass
        over the table (see _due_where's walk_pk). The caller ends with a claim from 0, which picks
        up anything a concurrent claim left behind."""
        i, o, a = t.instalments, t.orders, t.authorizations
        now = self.e.clock()
        with self.e._unit() as uow:
            s = uow.session
            q = (
                select(i.c.id, i.c.order_id, i.c.seq, i.c.amount, i.c.authorized_until, o.c.card_token,
                       o.c.card_brand, o.c.card_first6, o.c.card_last4, o.c.card_expiry)
                .join(o, o.c.id == i.c.order_id)
                .where(i.c.id > after, self._precheck_where(run_date, run_id, since, walk_pk=True))
                .order_by(i.c.id).limit(n)
            )
            if self.e.db.dialect == "postgresql":
                # orders too: an order a terminal is changing right now is left for a later claim,
                # and no lock is ever waited for here (no deadlock with terminals)
                q = q.with_for_update(of=[o, i], skip_locked=True)
            else:
                # SQLite: take the write lock before selecting (a no-op write opens the transaction),
                # so two claims never read the same free instalments.
                s.execute(update(t.precheck_runs).where(t.precheck_runs.c.id == run_id)
                          .values(selected=t.precheck_runs.c.selected))
            rows = s.execute(q).all()
            if not rows:
                return [], 0
            claims = [_Claim(r[0], r[1], r[2], r[3], r[5], r[6] or "UNKNOWN") for r in rows]
            cards = {r[0]: r for r in rows}
            expired_ids = [r[0] for r in rows if r[4] is not None]
            old: dict[int, tuple[int, str | None, str]] = {}
            if expired_ids:
                for aid, inst_id, ref, key in s.execute(
                    select(a.c.id, a.c.instalment_id, a.c.acquirer_ref, a.c.idempotency_key).where(
                        a.c.instalment_id.in_(expired_ids), a.c.state == m.AuthState.APPROVED.value,
                        a.c.kind == m.AuthKind.AUTHORIZE.value)
                ):
                    old[inst_id] = (aid, ref, key)
                if old:
                    s.execute(update(a).where(a.c.id.in_([v[0] for v in old.values()])).values(
                        state=m.AuthState.EXPIRED.value, void_state=m.VoidState.PENDING.value))
            todo = [c for c in claims if c.token]
            for c in todo:
                c.key = secrets.token_hex(16)  # 128 random bits, as uuid4 but a third of the cost
                if c.inst_id in old:
                    c.old_auth_id, c.old_ref, c.old_key = old[c.inst_id]
            if todo:
                # Plain executemany, then the ids read back by their unique keys: SQLite has no
                # sentinel for an ordered RETURNING and SQLAlchemy fell back to one INSERT per row.
                same = dict(kind=m.AuthKind.AUTHORIZE.value, state=m.AuthState.REQUESTED.value,
                            captured_amount=Decimal(0), acquirer=self.e.acquirer.name, requested_at=now,
                            void_state=m.VoidState.NONE.value, operator=actor, owner=owner.me())
                s.execute(
                    insert(a),
                    [dict(same, order_id=c.order_id, instalment_id=c.inst_id, amount=c.amount, idempotency_key=c.key,
                          card_brand=card[6] or "UNKNOWN", card_first6=card[7] or "", card_last4=card[8] or "",
                          card_expiry=card[9] or "")
                     for c in todo for card in (cards[c.inst_id],)],
                )
                ids = dict(s.execute(select(a.c.idempotency_key, a.c.id)
                                     .where(a.c.idempotency_key.in_([c.key for c in todo]))).all())
                for c in todo:
                    c.auth_id = ids[c.key]
            s.execute(update(i).where(i.c.id.in_([c.inst_id for c in claims])).values(
                precheck_run_id=run_id, authorized_until=None))
            if todo:
                s.execute(update(i).where(i.c.id.in_([c.inst_id for c in todo])).values(auth_pending=True))
            skipped = [c for c in claims if not c.token]
            if skipped:
                s.execute(insert(t.run_results), [
                    dict(run_id=run_id, order_id=c.order_id, instalment_seq=c.seq, outcome="SKIPPED",
                         amount=c.amount, code="", category="", reason="carte à ressaisir (pas de jeton)",
                         authorization_id=None) for c in skipped])
                s.execute(update(t.precheck_runs).where(t.precheck_runs.c.id == run_id).values(
                    skipped=t.precheck_runs.c.skipped + len(skipped)))
            uow.commit()
            return todo, rows[-1][0]

    # -- the pre-check -------------------------------------------------------------------------
    async def precheck(self, actor: m.Actor, run_date: date | None = None, concurrency: int = 16,
                       progress: Progress | None = None, run_id: int | None = None,
                       claim_size: int = 256) -> m.PrecheckRun:
        self.e.require_supervisor(actor, "pré-contrôle de facturation")
        if not 1 <= concurrency <= 512:
            raise EngineError("concurrence entre 1 et 512", field="concurrency")
        run_date = run_date or self.e.today()
        if run_id is None:
            run = m.PrecheckRun("PRECHECK", run_date, self.e.clock(), actor.name, concurrency)
            with self.e._unit() as uow:
                uow.runs.add(run)
                uow.audit(actor.name, "PRECHECK_START", None, run_date=run_date, concurrency=concurrency)
                uow.commit()
            run_id = run.id or 0
        with self.e._unit() as uow:  # a worker joining a run shares its start (and its claims)
            joined = uow.runs.get(run_id)
            if joined is None:
                raise EngineError(f"pré-contrôle {run_id} inconnu")
            since = joined.started_at
        total = self._count_due(run_date, run_id, since)
        queue: asyncio.Queue[_Claim | None] = asyncio.Queue(maxsize=max(claim_size, concurrency * 2))
        done: list[_Done] = []
        counter = [0]
        claim_n = max(32, min(claim_size, concurrency * 2))  # measured: smaller batches keep the loop freer

        # Database work runs in a thread, one piece at a time, so the event loop keeps the
        # acquirer calls flowing while a batch is claimed or written (SQLite and psycopg release
        # the GIL while they work).
        db_turn = asyncio.Lock()
        flushes: list[asyncio.Task[None]] = []

        async def flush(batch: list[_Done]) -> None:
            async with db_turn:
                orphans = await asyncio.to_thread(self._flush, run_id, batch, actor.name)
            for order_id, auth_id in orphans:
                await self.e._void(actor, order_id, auth_id)
            counter[0] += len(batch)
            if progress:
                progress(min(counter[0], total), total)

        async def producer() -> None:
            after = 0
            while True:
                async with db_turn:
                    claims, last = await asyncio.to_thread(
                        self._claim, run_id, run_date, since, claim_n, actor.name, after)
                if not last:
                    if not after:
                        break
                    after = 0  # the closing sweep from the start (see _claim)
                    continue
                after = last
                for c in claims:
                    await queue.put(c)
            for _ in range(concurrency):
                await queue.put(None)

        async def worker() -> None:
            while (c := await queue.get()) is not None:
                void_ok: bool | None = None
                if c.old_ref and c.old_key:
                    try:
                        v = await self.e.acquirer.void(c.old_ref, c.old_key + "-void")
                        void_ok = v.outcome is Outcome.VOIDED
                    except AcquirerUnavailable:
                        void_ok = False
                try:
                    resp: AcquirerResponse | None = await self.e.acquirer.authorize(
                        PaymentSource(token=c.token), c.amount, c.key)
                except AcquirerUnavailable:
                    resp = None
                done.append(_Done(c, resp, void_ok))
                if len(done) >= claim_n:
                    batch = done[:]
                    done.clear()
                    flushes.append(asyncio.create_task(flush(batch)))

        with _quiet_gc():
            await asyncio.gather(producer(), *(worker() for _ in range(concurrency)))
            if done:
                flushes.append(asyncio.create_task(flush(done[:])))
            await asyncio.gather(*flushes)
        with self.e._unit() as uow:
            i, o = t.instalments, t.orders
            frozen = uow.session.scalar(
                select(func.count()).select_from(i.join(o, o.c.id == i.c.order_id))
                .where(self._due_where(run_date), i.c.auth_pending.is_(True))) or 0
            others = uow.session.scalar(
                select(func.count()).select_from(i.join(o, o.c.id == i.c.order_id)).where(
                    i.c.state == PENDING, i.c.due_date <= run_date, o.c.status == VALIDATED,
                    or_(o.c.channel != PHONE, o.c.payment_method != CARD))) or 0
            run = uow.runs.get(run_id)
            assert run is not None
            run.skipped += frozen
            run.selected = run.approved + run.refused + run.unavailable + run.skipped
            run.finished_at = self.e.clock()
            uow.audit(actor.name, "PRECHECK_END", None, run=run_id, approved=run.approved, refused=run.refused,
                      unavailable=run.unavailable, skipped=run.skipped, awaiting_reconcile=frozen,
                      other_channels_or_methods=others)
            uow.commit()
            run.other_skipped = others  # type: ignore[attr-defined]
        if progress:
            progress(total, total)
        return run

    def _count_due(self, run_date: date, run_id: int, since: datetime) -> int:
        i, o = t.instalments, t.orders
        with self.e._unit() as uow:
            return uow.session.scalar(
                select(func.count()).select_from(i.join(o, o.c.id == i.c.order_id))
                .where(self._precheck_where(run_date, run_id, since))) or 0

    def _flush(self, run_id: int, batch: list[_Done], actor: str) -> list[tuple[int, int]]:
        """Write a batch of answers in one transaction; returns (order, authorization) to void."""
        if not batch:
            return []
        now = self.e.clock()
        a, i, o = t.authorizations, t.instalments, t.orders
        auth_rows, inst_rows, results, audits = [], [], [], []
        refused_orders: set[int] = set()
        voided = []  # a void that failed stays EXPIRED with void PENDING: the reconciler finishes it
        counts = {"approved": 0, "refused": 0, "unavailable": 0}
        for d in batch:
            c, resp = d.claim, d.resp
            if d.void_ok is not None:
                if d.void_ok:
                    voided.append(c.old_auth_id)
                audits.append(dict(at=now, actor=actor, action="VOID", order_id=c.order_id,
                                   detail=f'{{"run": {run_id}, "authorization": {c.old_auth_id}, '
                                          f'"reason": "validity limit", "done": {str(d.void_ok).lower()}}}'))
            if resp is None:
                state, code, cat, outcome = m.AuthState.UNKNOWN, NO_ANSWER, m.Category.UNAVAILABLE, "UNAVAILABLE"
                counts["unavailable"] += 1
                refused_orders.add(c.order_id)
            elif resp.outcome is Outcome.APPROVED:
                state, code, cat, outcome = m.AuthState.APPROVED, resp.code, m.Category.APPROVED, "APPROVED"
                counts["approved"] += 1
            else:
                rc = lookup(resp.code)
                state, code, cat = m.AuthState.DECLINED, resp.code, rc.category
                outcome = "UNAVAILABLE" if cat is m.Category.UNAVAILABLE else "REFUSED"
                counts["unavailable" if outcome == "UNAVAILABLE" else "refused"] += 1
                refused_orders.add(c.order_id)
            # The validity window is per brand; the claim kept the brand on the row.
            expires = now + self.e.validity(c.brand) if state is m.AuthState.APPROVED else None
            label = self.e.label(code)
            auth_rows.append(dict(b_id=c.auth_id, b_state=state.value, b_code=code, b_cat=cat.value, b_label=label,
                                  b_auth_code=resp.auth_code if resp else None,
                                  b_ref=resp.reference if resp else None,
                                  b_answered=now if resp else None, b_expires=expires))
            inst_rows.append(dict(b_id=c.inst_id, b_pending=state is m.AuthState.UNKNOWN, b_until=expires))
            results.append(dict(run_id=run_id, order_id=c.order_id, instalment_seq=c.seq, outcome=outcome,
                                amount=c.amount, code=code, category=cat.value,
                                reason="" if outcome == "APPROVED" else label, authorization_id=c.auth_id))
            audits.append(dict(at=now, actor=actor, action="AUTHORIZE", order_id=c.order_id,
                               detail=f'{{"run": {run_id}, "authorization": {c.auth_id}, "state": "{state.value}", '
                                      f'"code": "{code}", "amount": "{c.amount}"}}'))
        auth_rows.sort(key=lambda r: r["b_id"])
        inst_rows.sort(key=lambda r: r["b_id"])
        with self.e._unit() as uow:
            s = uow.session
            conn = s.connection()
            if self.e.db.dialect == "postgresql":
                # Lock the orders first, in id order — the order terminals lock them in (order row,
                # then its instalments and authorizations) — so the two never deadlock.
                conn.execute(select(o.c.id).where(o.c.id.in_(sorted({d.claim.order_id for d in batch})))
                             .order_by(o.c.id).with_for_update())
            conn.execute(
                update(a).where(a.c.id == bindparam("b_id"), a.c.state == m.AuthState.REQUESTED.value).values(
                    state=bindparam("b_state"), response_code=bindparam("b_code"), category=bindparam("b_cat"),
                    label=bindparam("b_label"), auth_code=bindparam("b_auth_code"),
                    acquirer_ref=bindparam("b_ref"), answered_at=bindparam("b_answered"),
                    expires_at=bindparam("b_expires")),
                auth_rows,
            )
            conn.execute(
                update(i).where(i.c.id == bindparam("b_id")).values(
                    auth_pending=bindparam("b_pending"), authorized_until=bindparam("b_until")),
                inst_rows,
            )
            if voided:
                conn.execute(update(a).where(a.c.id.in_(voided)).values(
                    state=m.AuthState.VOIDED.value, void_state=m.VoidState.DONE.value))
            if refused_orders:
                conn.execute(update(o).where(o.c.id.in_(refused_orders)).values(
                    awaiting_decision=True, version=o.c.version + 1))
            conn.execute(insert(t.run_results), results)
            r = t.precheck_runs
            conn.execute(update(r).where(r.c.id == run_id).values(
                approved=r.c.approved + counts["approved"], refused=r.c.refused + counts["refused"],
                unavailable=r.c.unavailable + counts["unavailable"]))
            # Holds made for orders cancelled, deleted or re-paid on a terminal while the call was in
            # flight: marked for void here, voided by the caller right after.
            approved_ids = [c.auth_id for c in (d.claim for d in batch) if c.auth_id is not None]
            orphans = [tuple(row) for row in conn.execute(
                select(a.c.order_id, a.c.id).join(o, o.c.id == a.c.order_id).join(i, i.c.id == a.c.instalment_id)
                .where(a.c.id.in_(approved_ids), a.c.state == m.AuthState.APPROVED.value,
                       or_(a.c.void_state == m.VoidState.PENDING.value, o.c.status != VALIDATED,
                           i.c.state != PENDING, o.c.payment_method != CARD)))]
            if orphans:
                conn.execute(update(a).where(a.c.id.in_([x[1] for x in orphans]))
                             .values(void_state=m.VoidState.PENDING.value))
            uow.audits.append(audits)  # last: the chain head stays locked only until the commit
            uow.commit()
        return orphans  # type: ignore[return-value]

    # -- capture -----------------------------------------------------------------------------
    async def capture(self, actor: m.Actor, run_date: date | None = None, concurrency: int = 8,
                      progress: Progress | None = None) -> m.PrecheckRun:
        """Capture what is due: validated, not blocked, phone card orders whose instalment is due
        and holds a live, unexpired authorization. Never above what was authorized; rerunnable.
        Two runs at once share the work: each instalment is decided under its order's lock, the
        one a run finds already in flight or done elsewhere is counted skipped with the reason, and
        a race lost on one order is counted on that order. The run always records its end."""
        self.e.require_supervisor(actor, "remise en paiement")
        run_date = run_date or self.e.today()
        i, o = t.instalments, t.orders
        run = m.PrecheckRun("CAPTURE", run_date, self.e.clock(), actor.name, concurrency)
        with self.e._unit() as uow:
            uow.runs.add(run)
            uow.audit(actor.name, "CAPTURE_START", None, run_date=run_date)
            uow.commit()
            todo = uow.session.execute(
                select(i.c.order_id, i.c.seq, i.c.amount).join(o, o.c.id == i.c.order_id)
                .where(self._due_where(run_date), o.c.hold != m.PaymentHold.BLOCKED.value)
                .order_by(i.c.order_id, i.c.seq)).all()
        sem = asyncio.Semaphore(concurrency)
        finished = [0]

        async def one(order_id: int, seq: int, due: Decimal) -> None:
            async with sem:
                try:
                    outcome, amount, code, reason, auth_id = await self.capture_one(actor, order_id, seq, run_date)
                except (EngineError, m.DomainError, SQLAlchemyError) as exc:
                    # Lost to another run or terminal (a lock not had in time, a concurrent change):
                    # this order waits for the next run, the others go on.
                    log.warning("capture of order %s instalment %s not done: %s", order_id, seq, exc)
                    outcome, amount, code, auth_id = "SKIPPED", due, "", None
                    reason = (str(exc) if isinstance(exc, EngineError | m.DomainError)
                              else "base de données occupée : relancer la remise")
            with self.e._unit() as uow:
                uow.session.execute(insert(t.run_results).values(
                    run_id=run.id, order_id=order_id, instalment_seq=seq, outcome=outcome, amount=amount,
                    code=code, category="", reason=reason[:200], authorization_id=auth_id))
                uow.commit()
            key = {"CAPTURED": "approved", "REFUSED": "refused", "UNAVAILABLE": "unavailable"}.get(outcome, "skipped")
            setattr(run, key, getattr(run, key) + 1)
            finished[0] += 1
            if progress:
                progress(finished[0], len(todo))

        try:
            with _quiet_gc():
                await asyncio.gather(*(one(oid, seq, due) for oid, seq, due in todo))
        finally:
            with self.e._unit() as uow:
                run.selected = len(todo)
                run.finished_at = self.e.clock()
                uow.session.merge(run)
                uow.audit(actor.name, "CAPTURE_END", None, run=run.id, captured=run.approved, refused=run.refused,
                          unavailable=run.unavailable, skipped=run.skipped, done=finished[0])
                uow.commit()
        return run

    async def capture_one(self, actor: m.Actor, order_id: int, seq: int, run_date: date | None = None,
                          amount: Decimal | None = None) -> tuple[str, Decimal, str, str, int | None]:
        """Capture one instalment; returns (outcome, amount, code, reason, authorization id).

        The decision is taken under the order's lock and marks the capture in flight before the
        call; a cancel or delete is refused while it is (Order.ensure_no_capture_in_flight), so no
        order can be closed between the decision and the answer — refusing the cancel is the only
        safe choice, since a capture sent cannot be called back. The answer is written under the
        lock again and never turns a cancelled or deleted order into INVOICED."""
        self.e.require_supervisor(actor, "remise en paiement")
        run_date = run_date or self.e.today()
        with self.e._unit() as uow:
            order = self.e._load_any(uow, order_id)
            inst = order.instalment(seq)
            want = amount if amount is not None else inst.amount
            if order.status is not m.OrderStatus.VALIDATED:
                return "SKIPPED", want, "", f"commande {order_id} {m.STATUS_WORD[order.status]}", None
            if order.hold is m.PaymentHold.BLOCKED:
                return "SKIPPED", want, "", "commande bloquée", None
            if inst.state is not m.InstalmentState.PENDING:
                return "SKIPPED", want, "", f"échéance {inst.state.value.lower()}", None
            auth = order.live_authorization(inst)
            if auth is None:
                return "SKIPPED", want, "", "pas d'autorisation : relancer le pré-contrôle", None
            if auth.capture_pending:
                return "SKIPPED", want, "", "remise déjà en cours (autre traitement ou rapprochement)", auth.id
            if auth.state is m.AuthState.REQUESTED:
                return "SKIPPED", want, "", "autorisation en cours", auth.id
            if auth.state is m.AuthState.UNKNOWN or auth.void_state is m.VoidState.PENDING:
                return "SKIPPED", want, "", "autorisation en attente de rapprochement", auth.id
            if auth.expires_at and auth.expires_at < datetime.combine(run_date, time.min):
                return "SKIPPED", want, "", "autorisation expirée : relancer le pré-contrôle", auth.id
            try:
                auth.check_capture(want, self.e.clock())
            except m.DomainError as exc:
                uow.audit(actor.name, "CAPTURE_REFUSED", order_id, authorization=auth.id, reason=str(exc))
                uow.commit()
                return "REFUSED", want, "", str(exc), auth.id
            # Crash safety: the capture in flight is recorded (and the instalment frozen) before the
            # call, so a process killed before the answer is written leaves work the reconciler
            # finishes; `owner` tells a reconciler on this machine that the sender is still waiting.
            auth.capture_pending = True
            auth.captured_amount = want
            auth.owner = owner.me()
            inst.auth_pending = True
            order.touch(self.e.clock())
            self.e._commit(uow)
            ref, key, auth_id = auth.acquirer_ref or "", auth.idempotency_key + "-cap", auth.id
        try:
            resp: AcquirerResponse | None = await self.e.acquirer.capture(ref, want, key)
        except AcquirerUnavailable:
            resp = None
        try:
            return self._record_capture(actor, order_id, seq, auth_id, want, resp)
        except (SQLAlchemyError, EngineError):
            # The answer could not be written: the capture stays in flight for the reconciler, which
            # must not take this (living) process for its waiting sender.
            with contextlib.suppress(SQLAlchemyError), self.e._unit() as uow:
                uow.session.execute(update(t.authorizations).where(t.authorizations.c.id == auth_id)
                                    .values(owner=None))
                uow.commit()
            raise

    def _record_capture(self, actor: m.Actor, order_id: int, seq: int, auth_id: int | None, want: Decimal,
                        resp: AcquirerResponse | None) -> tuple[str, Decimal, str, str, int | None]:
        """Write a capture's answer under the order's lock (second half of capture_one)."""
        with self.e._unit() as uow:
            order = self.e._load_any(uow, order_id)
            inst = order.instalment(seq)
            auth = next(x for x in order.authorizations if x.id == auth_id)
            auth.owner = None  # the sender no longer waits: the reconciler may settle what is left
            if resp is None:  # stays capture_pending: the reconciler asks the acquirer what happened
                uow.audit(actor.name, "CAPTURE", order_id, authorization=auth_id, amount=want, state="NO_ANSWER")
                self.e._commit(uow)
                return "UNAVAILABLE", want, NO_ANSWER, self.e.label(NO_ANSWER), auth_id
            settled_elsewhere = not auth.capture_pending
            auth.capture_pending = False
            inst.auth_pending = False
            if resp.outcome is Outcome.CAPTURED:
                if auth.state is m.AuthState.APPROVED:
                    auth.move(m.AuthState.CAPTURED)
                auth.captured_amount = resp.amount if resp.amount is not None else want
                inst.state = m.InstalmentState.CAPTURED
                inst.authorized_until = None
                order.settle_if_done()  # a cancelled or deleted order stays so (never INVOICED)
                order.touch(self.e.clock())
                uow.audit(actor.name, "CAPTURE", order_id, authorization=auth_id, amount=want, state="CAPTURED",
                          order_status=order.status.value, settled_elsewhere=settled_elsewhere)
                self.e._commit(uow)
                if order.status is not m.OrderStatus.INVOICED and order.status is not m.OrderStatus.VALIDATED:
                    log.error("order %s captured while %s: refund it", order_id, order.status.value)
                return "CAPTURED", want, resp.code, "", auth_id
            if not settled_elsewhere or auth.state is not m.AuthState.CAPTURED:
                auth.captured_amount = Decimal("0.00")
            uow.audit(actor.name, "CAPTURE", order_id, authorization=auth_id, amount=want, code=resp.code,
                      state="REFUSED")
            self.e._commit(uow)
            return "REFUSED", want, resp.code, resp.message or self.e.label(resp.code), auth_id
