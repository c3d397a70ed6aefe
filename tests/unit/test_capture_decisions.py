"""The batched capture's decisions without a database (engine/capture_batch.py): what a claim sends,
skips or refuses, what a batch of answers writes, and the window's bounds."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

from d400tui.acquirers.base import AcquirerResponse, Outcome
from d400tui.domain import model as m
from d400tui.engine.capture_batch import Answered, Sent, Window, audit_rows, decide_answers, decide_claims, skip_reason
from d400tui.engine.codes import NO_ANSWER
from d400tui.store.capture_batch import CaptureCandidate, LiveAuth

NOW = datetime(2026, 12, 1, 9, 0)
TODAY = date(2026, 12, 1)


def _auth(aid: int = 7, **kw) -> LiveAuth:  # type: ignore[no-untyped-def]
    base = dict(
        id=aid,
        state=m.AuthState.APPROVED,
        amount=Decimal("50.00"),
        idempotency_key=f"k{aid}",
        acquirer_ref=f"ref{aid}",
        expires_at=NOW + timedelta(days=6),
        void_state=m.VoidState.NONE,
        capture_pending=False,
    )
    base.update(kw)
    return LiveAuth(**base)  # type: ignore[arg-type]


def _cand(inst: int, amount: str = "50.00", auth: LiveAuth | None = None) -> CaptureCandidate:
    return CaptureCandidate(inst, 100 + inst, 1, Decimal(amount), auth)


def test_skip_reasons_in_the_one_instalment_order() -> None:
    assert skip_reason(None, TODAY).key == "engine.skip_no_auth"  # type: ignore[union-attr]
    assert skip_reason(_auth(capture_pending=True, state=m.AuthState.REQUESTED), TODAY).key == "engine.skip_capturing"  # type: ignore[union-attr]
    assert skip_reason(_auth(state=m.AuthState.REQUESTED), TODAY).key == "engine.skip_in_flight"  # type: ignore[union-attr]
    assert skip_reason(_auth(state=m.AuthState.UNKNOWN), TODAY).key == "engine.skip_unsettled"  # type: ignore[union-attr]
    assert skip_reason(_auth(void_state=m.VoidState.PENDING), TODAY).key == "engine.skip_unsettled"  # type: ignore[union-attr]
    assert skip_reason(_auth(expires_at=NOW - timedelta(days=1)), TODAY).key == "engine.skip_expired"  # type: ignore[union-attr]
    assert skip_reason(_auth(), TODAY) is None


def test_a_claim_sends_skips_and_refuses_above_the_authorization() -> None:
    cands = [_cand(1, auth=_auth(1)), _cand(2), _cand(3, "50.01", _auth(3)), _cand(4, "0.00", _auth(4))]
    claims, sent = decide_claims(9, cands, TODAY, NOW, "SUPER1")
    assert [s.cand.inst_id for s in sent] == [1] and sent[0].key == "k1-cap"
    assert claims.sent == [(1, 1, 101, Decimal("50.00"))]
    assert claims.visited == [1, 2, 3, 4]
    assert [(r["order_id"], r["outcome"]) for r in claims.results] == [
        (102, "SKIPPED"),
        (103, "REFUSED"),
        (104, "REFUSED"),
    ]
    assert (claims.skipped, claims.refused) == (1, 2)
    assert claims.results[1]["reason"].key == "engine.capture_over"
    assert [a["action"] for a in claims.audits] == ["CAPTURE_REFUSED", "CAPTURE_REFUSED"]


def _sent(inst: int, amount: str = "50.00") -> Sent:
    a = _auth(inst)
    return Sent(_cand(inst, amount, a), a)


def test_a_batch_of_answers_as_the_rows_are_now() -> None:
    ok, gone, no, refused, late, failed = (_sent(k) for k in range(1, 7))
    batch = [
        Answered(ok, AcquirerResponse(Outcome.CAPTURED, "00", amount=Decimal("40.00"))),
        Answered(gone, AcquirerResponse(Outcome.CAPTURED, "00")),
        Answered(no, None),
        Answered(refused, AcquirerResponse(Outcome.DECLINED, "05")),
        Answered(late, AcquirerResponse(Outcome.DECLINED, "05")),
        Answered(failed, None, "why"),
    ]
    current = {
        1: (m.AuthState.APPROVED, True, Decimal("50.00")),
        2: (m.AuthState.APPROVED, False, Decimal("50.00")),  # a reconciler elsewhere settled it
        3: (m.AuthState.APPROVED, True, Decimal("50.00")),
        4: (m.AuthState.APPROVED, True, Decimal("50.00")),
        5: (m.AuthState.CAPTURED, False, Decimal("50.00")),  # captured meanwhile: the money stays recorded
        6: (m.AuthState.APPROVED, True, Decimal("50.00")),
    }
    b, details = decide_answers(9, batch, current, lambda code: f"label {code}")
    assert (b.approved, b.refused, b.unavailable, b.skipped) == (2, 2, 1, 1)
    rows = {r["b_id"]: (r["b_state"], r["b_amount"], r["b_pending"]) for r in b.auths}
    assert rows == {
        1: ("CAPTURED", Decimal("40.00"), False),  # what the acquirer says it took
        2: ("CAPTURED", Decimal("50.00"), False),
        4: ("APPROVED", Decimal("0.00"), False),
        5: ("CAPTURED", Decimal("50.00"), False),
    }
    assert sorted(b.released) == [3, 6]  # no answer, failed path: capture_pending stays
    assert b.captured_insts == [1, 2] and b.settled_insts == [4, 5] and b.captured_orders == {101, 102}
    outcomes = [(r["order_id"], r["outcome"], r["code"]) for r in b.results]
    assert outcomes == [
        (101, "CAPTURED", "00"),
        (102, "CAPTURED", "00"),
        (103, "UNAVAILABLE", NO_ANSWER),
        (104, "REFUSED", "05"),
        (105, "REFUSED", "05"),
        (106, "SKIPPED", ""),
    ]
    audits = audit_rows(NOW, "SUPER1", details, {101: "INVOICED", 102: "CANCELLED"})
    by_order = {a["order_id"]: json.loads(a["detail"]) for a in audits}
    assert by_order[101]["order_status"] == "INVOICED" and by_order[102]["order_status"] == "CANCELLED"
    assert by_order[102]["settled_elsewhere"] is True and by_order[103]["state"] == "NO_ANSWER"
    assert 106 not in by_order  # nothing was answered: only its result says why


async def test_the_window_bounds_claims_and_unwritten_answers() -> None:
    w = Window(6, backlog=3)
    assert w.has_room(2) and w.room == 6
    w.take(6)
    assert not w.has_room(1)
    for _ in range(4):
        w.answered()
    assert w.room == 4 and not w.has_room(2)  # four answers wait to be written: over the backlog
    w.written(4)
    assert w.has_room(4) and not w.has_room(5)
    assert Window(2, backlog=3).has_room(64)  # a window smaller than a batch: whatever it holds
