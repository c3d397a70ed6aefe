"""The capture run's decisions, one batch at a time: which claimed instalment is sent, skipped or
refused (the rules `Capture.capture_one` applies to one), what a batch of answers writes, and the
window that bounds what a run holds — claimed and unanswered, answered and unwritten."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Protocol

from d400tui.acquirers.base import AcquirerResponse, Outcome
from d400tui.domain import model as m
from d400tui.domain.cards import scrub
from d400tui.domain.message import Message, json_default
from d400tui.store.capture_batch import CaptureAnswers, CaptureCandidate, CaptureClaims, LiveAuth, result_row

from . import parcels
from .codes import NO_ANSWER


@dataclass(slots=True)
class Sent:
    """A capture claimed and marked in flight: the whole instalment sent under its authorization's
    key + "-cap", or a parcel of an order shipped in parcels under its capture row's key."""

    cand: CaptureCandidate
    auth: LiveAuth
    parcel: parcels.Parcel | None = None

    @property
    def key(self) -> str:
        return self.parcel.key if self.parcel else self.auth.idempotency_key + "-cap"


@dataclass(slots=True)
class Answered:
    sent: Sent
    resp: AcquirerResponse | None
    failed: str | Message | None = None
    """The path failed before an answer could be had (why): left to the reconciler."""
    released: AcquirerResponse | None = None  # a parcel's: the answer of the release of the rest
    op: str = ""  # a parcel's: the operation done (a server without multicapture changes it)


def audit_row(now: datetime, actor: str, action: str, order_id: int, **detail: Any) -> dict[str, Any]:
    """One audit record, encoded as `UnitOfWork.audit` encodes it."""
    text = scrub(json.dumps(detail, default=json_default, ensure_ascii=False))
    return dict(at=now, actor=actor, action=action, order_id=order_id, detail=text)


class _Live(Protocol):
    """What `skip_reason` reads: an m.Authorization (capture_one) or a claim's LiveAuth."""

    state: m.AuthState
    void_state: m.VoidState
    capture_pending: bool
    expires_at: datetime | None


def skip_reason(auth: _Live | None, run_date: date) -> Message | None:
    """Why a due instalment is not captured now, or None when its authorization can take it."""
    if auth is None:
        return Message("engine.skip_no_auth")
    if auth.capture_pending:
        return Message("engine.skip_capturing")
    if auth.state is m.AuthState.REQUESTED:
        return Message("engine.skip_in_flight")
    if auth.state is m.AuthState.UNKNOWN or auth.void_state is m.VoidState.PENDING:
        return Message("engine.skip_unsettled")
    if auth.expires_at and auth.expires_at < datetime.combine(run_date, time.min):
        return Message("engine.skip_expired")
    return None


def decide_claims(
    run_id: int,
    cands: list[CaptureCandidate],
    run_date: date,
    now: datetime,
    actor: str,
    caps: Callable[[str], frozenset[str]] = lambda _: frozenset(),
) -> tuple[CaptureClaims, list[Sent]]:
    """Each claimed instalment sent, skipped (with why) or refused by the domain (above the
    authorization, zero, expired by now); a parcel decided by engine.parcels with what the
    acquirer holding its authorization supports (`caps`)."""
    out, sent = CaptureClaims(), []
    for c in cands:
        out.visited.append(c.inst_id)
        reason = skip_reason(c.auth, run_date)
        if reason is not None or c.auth is None:
            out.result(run_id, c, "SKIPPED", reason)
            out.skipped += 1
            continue
        if c.shipped is not None:
            got = parcels.decide(c, c.auth, c.shipped, caps(c.auth.acquirer), now, actor)
            if isinstance(got[0], parcels.Parcel):
                p, rec = got
                out.parcels.append(rec)  # type: ignore[arg-type]
                out.parcel_sent.append((c.auth.id, c.inst_id))
                sent.append(Sent(c, c.auth, p))
                continue
            outcome, why = got
            out.result(run_id, c, outcome, why)  # type: ignore[arg-type]
            if outcome == "REFUSED":
                out.refused += 1
                out.audits.append(
                    audit_row(now, actor, "CAPTURE_REFUSED", c.order_id, authorization=c.auth.id, reason=why)
                )
            else:
                out.skipped += 1
            continue
        try:
            m.check_capture(c.auth.state, c.auth.amount, c.auth.expires_at, c.amount, now)
        except m.DomainError as exc:
            out.result(run_id, c, "REFUSED", exc.message)
            out.refused += 1
            out.audits.append(
                audit_row(now, actor, "CAPTURE_REFUSED", c.order_id, authorization=c.auth.id, reason=exc.message)
            )
            continue
        out.sent.append((c.auth.id, c.inst_id, c.order_id, c.amount))
        sent.append(Sent(c, c.auth))
    return out, sent


def decide_answers(
    run_id: int | None,
    batch: list[Answered],
    current: dict[int, tuple[m.AuthState, bool, Decimal]],
    label: Callable[[str], str],
    now: datetime | None = None,
    in_flight: set[str] = frozenset(),  # type: ignore[assignment]
) -> tuple[CaptureAnswers, list[tuple[int, str, dict[str, Any]]]]:
    """What a batch of answers writes, from each authorization as it is now (`current`): a
    capture a reconciler elsewhere settled meanwhile is recorded as the acquirer says, and the
    order's status in each capture's audit detail is filled in once written (`audit_rows`). A
    parcel's answer is written if its capture row is still in flight (`in_flight`, their keys);
    one whose hold closed with its capture is listed to authorize again for what remains (`again`)."""
    b = CaptureAnswers()
    audits: list[tuple[int, str, dict[str, Any]]] = []
    rid = run_id or 0  # 0: one capture outside a run (its result row is not written)
    for x in batch:
        c, auth_id, want = x.sent.cand, x.sent.auth.id, x.sent.cand.amount
        now_is = current.get(auth_id)
        p = x.sent.parcel
        if p is not None and x.failed is None:
            cur = now_is if p.key in in_flight else None
            got = (x.resp, x.released, x.op or p.op)
            _, detail, more = parcels.answer(b, run_id, c, x.sent.auth, p, got, cur, now or datetime.min, label)
            if detail is not None:
                audits.append((c.order_id, "CAPTURE", detail))
            if more > 0:
                b.again.append((auth_id, c.order_id, c.seq, more))
            continue
        if x.failed is not None or now_is is None:
            b.released.append(auth_id)
            b.results.append(result_row(rid, c.order_id, c.seq, "SKIPPED", want, "", x.failed, auth_id))
            b.skipped += 1
            continue
        state, pending, captured = now_is
        resp = x.resp
        if resp is None:  # stays capture_pending: the reconciler asks the acquirer what happened
            b.released.append(auth_id)
            audits.append((c.order_id, "CAPTURE", dict(authorization=auth_id, amount=want, state="NO_ANSWER")))
            b.results.append(
                result_row(rid, c.order_id, c.seq, "UNAVAILABLE", want, NO_ANSWER, label(NO_ANSWER), auth_id)
            )
            b.unavailable += 1
            continue
        settled_elsewhere = not pending
        b.touched_orders.add(c.order_id)
        if resp.outcome is Outcome.CAPTURED:
            new = m.AuthState.CAPTURED if state is m.AuthState.APPROVED else state
            took = resp.amount if resp.amount is not None else want
            b.auths.append(dict(b_id=auth_id, b_state=new.value, b_amount=took, b_pending=False))
            b.captured_insts.append(c.inst_id)
            b.captured_orders.add(c.order_id)
            d = dict(
                authorization=auth_id,
                amount=want,
                state="CAPTURED",
                order_status=None,
                settled_elsewhere=settled_elsewhere,
            )
            audits.append((c.order_id, "CAPTURE", d))  # order_status: filled in once written
            b.results.append(result_row(rid, c.order_id, c.seq, "CAPTURED", want, resp.code, "", auth_id))
            b.approved += 1
            continue
        keep = settled_elsewhere and state is m.AuthState.CAPTURED
        amount = captured if keep else Decimal("0.00")
        b.auths.append(dict(b_id=auth_id, b_state=state.value, b_amount=amount, b_pending=False))
        b.settled_insts.append(c.inst_id)
        audits.append(
            (c.order_id, "CAPTURE", dict(authorization=auth_id, amount=want, code=resp.code, state="REFUSED"))
        )
        reason = resp.message or label(resp.code)
        b.results.append(result_row(rid, c.order_id, c.seq, "REFUSED", want, resp.code, reason, auth_id))
        b.refused += 1
    return b, audits


def audit_rows(
    now: datetime, actor: str, details: list[tuple[int, str, dict[str, Any]]], status: dict[int, str]
) -> list[dict[str, Any]]:
    """A batch's audit records, each capture's with its order's status once written (a cancelled
    order shows as such: refund it)."""
    for order_id, _, d in details:
        if "order_status" in d:
            d["order_status"] = status.get(order_id)
    return [audit_row(now, actor, action, order_id, **d) for order_id, action, d in details]


class Window:
    """What a run holds at once: instalments claimed and not yet answered (at most `size`, so a
    second run or worker finds the rest free and the first calls go out at once) and answers not
    yet written (at most `backlog`, so memory stays flat however many are due)."""

    def __init__(self, size: int, backlog: int) -> None:
        self.size, self.backlog = size, backlog
        self.out = self.unwritten = 0
        self._changed = asyncio.Event()

    @property
    def room(self) -> int:
        return self.size - self.out

    def has_room(self, at_least: int) -> bool:
        """Room for `at_least` claims (less when the window is smaller), memory permitting."""
        return self.room >= min(at_least, self.size) and self.unwritten <= self.backlog

    async def changed(self) -> None:
        """Until an answer comes back or a batch of them is written."""
        self._changed.clear()
        await self._changed.wait()

    def take(self, n: int) -> None:
        self.out += n

    def answered(self) -> None:
        self.out -= 1
        self.unwritten += 1
        self._changed.set()

    def written(self, n: int) -> None:
        self.unwritten -= n
        self._changed.set()  # a claim waiting for memory may go

    def poke(self) -> None:
        """Wake whoever waits (the run's pass ended)."""
        self._changed.set()
