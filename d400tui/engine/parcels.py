"""The capture of what was shipped (issue 12.1), decided for a whole claim at once: per instalment,
what its parcels shipped and nothing more, never above what its authorization still holds; the last
parcel's capture releases the rest. The batched capture run (engine/capture.py), the capture of one
instalment and the reconciler (engine/shipped_capture.py) all decide and write with these.

What is sent, by what the acquirer declares (acquirers/base.py):
- a parcel before the last: `capture_partial` (MULTICAPTURE) keeps the rest held; without it one
  `capture` takes the parcel and closes the hold, and what remains is authorized again on the
  card's token — said in the run report (`engine.ship_reauthorized`);
- the last parcel: with PARTIAL_VOID, `capture_partial` then `release` of the rest (ISO 8583:
  0220 then a 0400 partial reversal); otherwise a final `capture`, which releases the rest;
- the last parcel shipped nothing more for this instalment: `release` of the rest, or a void.

Each call is a `captures` row committed REQUESTED (with its own idempotency key `<auth key>-capN`)
before the call, with the authorization marked capture_pending, so the order can be neither
cancelled nor deleted while the answer may still come, and a capture run twice captures once."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from d400tui.acquirers.base import (
    MULTICAPTURE,
    PARTIAL_VOID,
    Acquirer,
    AcquirerResponse,
    AcquirerUnavailable,
    Outcome,
    Unsupported,
)
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.shipments import ZERO, CaptureRecord, CaptureState, InstalmentShare
from d400tui.store.capture_batch import CaptureAnswers, CaptureCandidate, LiveAuth, result_row
from d400tui.store.shipments import ShippedOrder

from .codes import NO_ANSWER

log = logging.getLogger("d400.engine")
Outcome5 = tuple[str, Decimal, str, str | Message, int | None]
"""(outcome, amount, code, reason, authorization id), as the capture run records it."""


@dataclass(frozen=True, slots=True)
class Parcel:
    """What was decided and committed for one instalment before its call."""

    op: str  # partial | final | single | release | void
    key: str
    want: Decimal  # what is captured
    rest: Decimal  # what is released after it (the last parcel)
    last: bool  # nothing more will ship for this instalment
    before: Decimal  # what the instalment captured (or may have) before this one


def operation(caps: frozenset[str], share: InstalmentShare, rest: Decimal) -> str:
    """partial | final | single | release | void: what is sent for this instalment now."""
    if share.due <= 0:
        return "release" if PARTIAL_VOID in caps else "void"
    if share.last:
        return "partial" if rest > 0 and PARTIAL_VOID in caps else "final"
    return "partial" if MULTICAPTURE in caps else "single"


def decide(
    c: CaptureCandidate, auth: LiveAuth, shipped: ShippedOrder, caps: frozenset[str], now: datetime, actor: str
) -> tuple[Parcel, CaptureRecord] | tuple[str, Message]:
    """A parcel to send and its capture row, or (REFUSED | SKIPPED, why). The caller has checked
    that the authorization can take a capture now (capture_batch.skip_reason)."""
    share = shipped.share.get(c.seq) or InstalmentShare(c.seq, ZERO, ZERO, shipped.state.final, ZERO)
    want, remaining = share.due, auth.amount - auth.captured_amount
    if want > remaining:  # never above what the authorization still holds
        return "REFUSED", Message("engine.capture_over_left", amount=want, left=remaining)
    rest = remaining - want if share.last else ZERO
    if want <= 0 and rest <= 0:
        return "SKIPPED", Message("engine.ship_nothing_due", seq=c.seq)
    key = f"{auth.idempotency_key}-cap{shipped.rows.get(auth.id, 0) + 1}"
    p = Parcel(operation(caps, share, rest), key, want, rest, share.last, share.captured)
    rec = CaptureRecord(
        c.order_id, auth.id, c.seq, want, key, p.op, release=rest, requested_at=now, operator=actor
    )  # fmt: skip
    return p, rec


def of_row(row: CaptureRecord, shipped: ShippedOrder | None) -> Parcel:
    """The parcel a capture row in flight stands for (a lost worker's, or the reconciler's)."""
    share = shipped.share.get(row.instalment_seq) if shipped else None
    last = share.last if share else True
    before = (share.captured if share else row.amount) - row.amount  # the row itself is counted in flight
    return Parcel(row.operation, row.idempotency_key, row.amount, row.release, last, max(before, ZERO))


async def send(acq: Acquirer, ref: str, p: Parcel) -> tuple[AcquirerResponse | None, AcquirerResponse | None, str]:
    """The call(s) of one parcel: (answer, answer of the release after a last parcel, operation
    done). None: no answer came back."""
    op = p.op
    try:
        try:
            if op == "partial":
                resp = await acq.capture_partial(ref, p.want, p.key)  # type: ignore[attr-defined]
            elif op == "release":
                resp = await acq.release(ref, p.rest, p.key)  # type: ignore[attr-defined]
            elif op == "void":
                resp = await acq.void(ref, p.key)
            else:
                resp = await acq.capture(ref, p.want, p.key)
        except Unsupported:  # the server turned out to lack multicapture: nothing was captured
            op = "final" if p.last else "single"
            resp = await acq.capture(ref, p.want, p.key + "-s")
    except AcquirerUnavailable as exc:
        log.warning("capture %s: no answer (%s)", p.key, exc)
        return None, None, op
    released = None
    if op == "partial" and p.rest > 0 and resp.outcome is Outcome.CAPTURED:
        try:
            released = await acq.release(ref, p.rest, p.key + "-rel")  # type: ignore[attr-defined]
        except AcquirerUnavailable as exc:
            log.warning("release after capture %s: no answer (%s); the reconciler voids the rest", p.key, exc)
    return resp, released, op


def answer(
    b: CaptureAnswers,
    run_id: int | None,
    c: CaptureCandidate,
    auth: LiveAuth,
    p: Parcel,
    got: tuple[AcquirerResponse | None, AcquirerResponse | None, str],
    current: tuple[m.AuthState, bool, Decimal] | None,
    now: datetime,
    label: Any,
) -> tuple[Outcome5, dict[str, Any] | None, Decimal]:
    """One parcel's answer added to batch `b`, from its authorization as it is now (`current`,
    None: its capture row was settled meanwhile — the reconciler wrote it): its outcome, its audit
    detail (None: nothing to audit) and what remains to authorize again (0: nothing)."""
    resp, released, op = got
    want, aid = p.want, auth.id
    if current is None or resp is None:
        b.released.append(aid)  # the sender no longer waits
        if resp is None:  # stays capture_pending: the reconciler asks the acquirer under the key
            b.captures.append(dict(b_key=p.key, b_state=CaptureState.UNKNOWN.value, b_code=NO_ANSWER, b_at=now))
            out: Outcome5 = ("UNAVAILABLE", want, NO_ANSWER, label(NO_ANSWER), aid)
            return _result(b, run_id, c, out), dict(authorization=aid, amount=want, state="NO_ANSWER"), ZERO
        return _result(b, run_id, c, ("SKIPPED", want, resp.code, Message("engine.skip_unsettled"), aid)), None, ZERO
    state, _, captured = current
    done = resp.outcome in (Outcome.CAPTURED, Outcome.VOIDED)
    b.captures.append(
        dict(b_key=p.key, b_state=(CaptureState.CAPTURED if done else CaptureState.REFUSED).value, b_code=resp.code,
             b_at=now)
    )  # fmt: skip
    b.settled_insts.append(c.inst_id)
    b.touched_orders.add(c.order_id)
    if not done:
        b.parcel_auths.append(dict(b_id=aid, b_state=state.value, b_amount=captured, b_pending=False, b_void=None))
        out = ("REFUSED", want, resp.code, resp.message or label(resp.code), aid)
        return _result(b, run_id, c, out), dict(authorization=aid, amount=want, code=resp.code, state="REFUSED"), ZERO
    if resp.outcome is Outcome.CAPTURED:
        captured += want
    closes = op in ("final", "single", "release", "void") or captured >= auth.amount
    void: str | None = None
    reason: str | Message = ""
    if op == "partial" and p.rest > 0:
        if released is not None and released.outcome is Outcome.VOIDED:
            closes, reason = True, Message("engine.ship_released", amount=p.rest)
        else:
            void, reason = m.VoidState.PENDING.value, Message("engine.ship_release_pending", amount=p.rest)
    elif op in ("final", "release", "void") and p.rest > 0:
        reason = Message("engine.ship_released", amount=p.rest)
    if closes and state is m.AuthState.APPROVED:
        state = m.AuthState.CAPTURED if captured > 0 else m.AuthState.VOIDED
        void = m.VoidState.DONE.value if state is m.AuthState.VOIDED else void
        b.closed_insts.append(c.inst_id)
    b.parcel_auths.append(dict(b_id=aid, b_state=state.value, b_amount=captured, b_pending=False, b_void=void))
    reauthorize = ZERO
    if p.last:
        (b.captured_insts if p.before + want > 0 else b.cancelled_insts).append(c.inst_id)
        b.captured_orders.add(c.order_id)  # its status settled if nothing is left to pay
    elif op == "single":
        reauthorize = auth.amount - captured
    if want > 0:
        b.parcel_orders.add(c.order_id)  # its status said in the audit (a cancelled one: refund it)
    out = ("CAPTURED" if want > 0 else "RELEASED", want, resp.code, reason, aid)  # the rest let go: done
    detail = dict(
        authorization=aid, amount=want, state="CAPTURED", operation=op, released=p.rest if closes else ZERO,
        order_status=None,
    )  # fmt: skip
    return _result(b, run_id, c, out), detail, reauthorize


def _result(b: CaptureAnswers, run_id: int | None, c: CaptureCandidate, out: Outcome5) -> Outcome5:
    """The parcel's line in the run's report, and the run's count of its outcome (a RELEASED one
    has no counter of its own: the run's end counts its lines)."""
    outcome, amount, code, reason, aid = out
    b.results.append(result_row(run_id or 0, c.order_id, c.seq, outcome, amount, code[:4], reason, aid))
    if outcome == "CAPTURED":
        b.approved += 1
    elif outcome == "REFUSED":
        b.refused += 1
    elif outcome == "UNAVAILABLE":
        b.unavailable += 1
    elif outcome == "SKIPPED":
        b.skipped += 1
    return out
