"""Idempotency (issue 5, point 2): a retry after a lost answer, a double F10, two terminals on one
order — one hold, one record, a clear message to the loser; UNKNOWN freezes the instalment."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from bench.invariants import check_invariants
from d400tui.domain import model as m
from d400tui.engine import USER_ERRORS, ConcurrentChange, EngineError
from d400tui.store import tables as t
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)
OPER2 = m.Actor("OPER2", False)


def _count(engine, table, **where) -> int:  # type: ignore[no-untyped-def]
    with engine.db.engine.connect() as conn:
        q = select(func.count()).select_from(table)
        for k, v in where.items():
            q = q.where(table.c[k] == v)
        return conn.execute(q).scalar() or 0


@pytest.fixture
def engine2(settings):  # type: ignore[no-untyped-def]
    """A second terminal: its own Engine, database pool and issuer connection, same files."""
    from d400tui.engine import open_engine

    e = open_engine(settings)
    yield e
    e.acquirer.issuer.close()  # type: ignore[attr-defined]
    e.db.dispose()


async def test_lost_answer_then_retry_makes_one_hold(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    """The answer is lost after the issuer made the hold (a timeout for the terminal): the row is
    UNKNOWN, a retry is refused until reconciled, reconcile asks by the same key: one hold."""
    engine.acquirer.lost_answer_rate = 1.0
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
    assert r.answers[0].state is m.AuthState.UNKNOWN
    assert len(issuer.live_holds()) == 1
    engine.acquirer.lost_answer_rate = 0.0
    with pytest.raises(USER_ERRORS, match="rapprochement"):
        await engine.decide(OPER, r.order.id, m.DecisionKind.RETRY)
    assert len(issuer.live_holds()) == 1
    report = await engine.reconcile(SUPER)
    assert len(report.settled) == 1 and not report.still_unknown
    order = engine.get_order(r.order.id)
    (auth,) = order.authorizations
    assert auth.state is m.AuthState.APPROVED
    assert issuer.hold_keys() == {auth.idempotency_key: auth.acquirer_ref}
    await engine.decide(OPER, r.order.id, m.DecisionKind.RETRY)  # nothing left to authorize
    assert len(issuer.live_holds()) == 1
    assert check_invariants(engine.db, issuer) == []


async def test_same_key_sent_again_is_answered_from_the_first_request(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    from decimal import Decimal

    from d400tui.acquirers.base import PaymentSource

    c = card("4970100000000014")
    first = await engine.acquirer.authorize(PaymentSource(card=c), Decimal("10.00"), "same-key")
    again = await engine.acquirer.authorize(PaymentSource(card=c), Decimal("10.00"), "same-key")
    assert (first.reference, first.auth_code) == (again.reference, again.auth_code)
    assert len(issuer.live_holds()) == 1


async def test_unknown_blocks_every_new_operation_on_the_instalment(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    engine.acquirer.lost_answer_rate = 1.0
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
    engine.acquirer.lost_answer_rate = 0.0
    oid = r.order.id
    attempts = {
        "retry": lambda: engine.decide(OPER, oid, m.DecisionKind.RETRY),
        "new card": lambda: engine.change_payment_method(OPER, oid, m.PaymentMethod.CARD, card("5130100000000018")),
        "cheque": lambda: engine.change_payment_method(OPER, oid, m.PaymentMethod.CHEQUE),
    }
    for name, attempt in attempts.items():
        try:
            await attempt()
        except USER_ERRORS as exc:
            assert "rapprochement" in str(exc), (name, str(exc))
        else:
            pytest.fail(f"{name} allowed while the authorization is UNKNOWN")
    assert engine.precheck_selection(engine.today()) == []
    outcome, _, _, reason, _ = await engine.capture_one(SUPER, oid, 1)
    assert outcome == "SKIPPED" and "rapprochement" in reason
    assert len(issuer.live_holds()) == 1  # nothing new was asked
    await engine.reconcile(SUPER)
    await engine.change_payment_method(OPER, oid, m.PaymentMethod.CHEQUE)  # settled: allowed again
    assert issuer.live_holds() == {}
    assert check_invariants(engine.db, issuer) == []


async def test_double_f10_validates_once(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    draft = engine.create_order(OPER, 100001, [A])
    engine.acquirer.latency_s = 0.05
    results = await asyncio.gather(
        engine.validate_order(OPER, draft.id, card("4970100000000014")),
        engine.validate_order(OPER, draft.id, card("4970100000000014")),
        return_exceptions=True,
    )
    ok = [x for x in results if not isinstance(x, BaseException)]
    errors = [x for x in results if isinstance(x, BaseException)]
    assert len(ok) == 1 and ok[0].approved
    assert len(errors) == 1 and isinstance(errors[0], EngineError), errors
    assert "validée" in str(errors[0]) or "autre poste" in str(errors[0])
    assert len(issuer.live_holds()) == 1
    assert _count(engine, t.audit, action="ORDER_VALIDATE", order_id=draft.id) == 1


@contextmanager
def _meet_in(monkeypatch: pytest.MonkeyPatch, cls: type, name: str, parties: int = 2) -> Iterator[None]:
    """Make `parties` threads meet inside `cls.name` (both terminals loaded the order and are about to
    change it). On PostgreSQL the row lock keeps the second terminal out: the wait then times out."""
    barrier = threading.Barrier(parties)
    orig: Callable = getattr(cls, name)

    def meeting(self, *a, **k):  # type: ignore[no-untyped-def]
        try:
            barrier.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass
        return orig(self, *a, **k)

    monkeypatch.setattr(cls, name, meeting)
    yield


def _in_threads(*calls: Callable[[], object]) -> list[object]:
    out: list[object] = [None] * len(calls)

    def run(i: int, call: Callable[[], object]) -> None:
        try:
            out[i] = asyncio.run(call())  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - the outcome is the point
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    return out


async def _two_terminals_validate(engine, engine2, monkeypatch) -> tuple[int, list[object]]:  # type: ignore[no-untyped-def]
    draft = engine.create_order(OPER, 100001, [A])
    with _meet_in(monkeypatch, m.Order, "validate"):
        results = _in_threads(
            lambda: engine.validate_order(OPER, draft.id, card("4970100000000014")),
            lambda: engine2.validate_order(OPER2, draft.id, card("4970100000000014")),
        )
    return draft.id, results


async def test_two_terminals_validating_the_same_order_make_one_hold(engine, engine2, issuer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    oid, results = await _two_terminals_validate(engine, engine2, monkeypatch)
    ok = [x for x in results if not isinstance(x, BaseException)]
    assert len(ok) == 1, results
    assert len(issuer.live_holds()) == 1
    assert _count(engine, t.authorizations, order_id=oid) == 1
    assert _count(engine, t.audit, action="ORDER_VALIDATE", order_id=oid) == 1
    assert check_invariants(engine.db, issuer) == []


async def test_two_terminals_validating_the_loser_is_told_clearly(
    engine,
    engine2,
    issuer,
    monkeypatch,  # type: ignore[no-untyped-def]
    request,
) -> None:
    _, results = await _two_terminals_validate(engine, engine2, monkeypatch)
    errors = [x for x in results if isinstance(x, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], EngineError), errors
    msg = str(errors[0])
    # the lock taken before the read (row lock on PostgreSQL, write lock on SQLite since issue 9)
    # made the second terminal wait, then see the validated order
    assert "autre poste" in msg or "déjà validée" in msg


async def _two_terminals_decide(engine, engine2, monkeypatch) -> tuple[int, list[object]]:  # type: ignore[no-untyped-def]
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000030"))  # refused 41
    assert r.needs_decision
    with _meet_in(monkeypatch, m.Order, "set_hold"):
        results = _in_threads(
            lambda: engine.decide(OPER, r.order.id, m.DecisionKind.BLOCK),
            lambda: engine2.decide(OPER2, r.order.id, m.DecisionKind.RELEASE),
        )
    return r.order.id, results


async def test_two_terminals_deciding_at_once_no_lost_decision(engine, engine2, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    oid, results = await _two_terminals_decide(engine, engine2, monkeypatch)
    ok = [x for x in results if not isinstance(x, BaseException)]
    order = engine.get_order(oid)
    # one decision record for each terminal told "done", and the hold is the last recorded decision
    assert len(ok) >= 1 and len(order.decisions) == len(ok), results
    assert order.hold.value == {"BLOCK": "BLOCKED", "RELEASE": "RELEASED"}[order.decisions[-1].kind.value]
    assert _count(engine, t.audit, order_id=oid) >= 1 + len(ok)
    assert not order.awaiting_decision


async def test_two_terminals_deciding_at_once_the_loser_is_told_clearly(
    engine,
    engine2,
    monkeypatch,  # type: ignore[no-untyped-def]
    request,
) -> None:
    _, results = await _two_terminals_decide(engine, engine2, monkeypatch)
    errors = [x for x in results if isinstance(x, BaseException)]
    assert all(isinstance(x, ConcurrentChange) for x in errors), errors
    # both databases lock the order before the read (SQLite too since issue 9): the decisions queue,
    # each is recorded on the order as the other left it, and none is lost (test above)
