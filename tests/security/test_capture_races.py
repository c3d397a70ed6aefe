"""Issue 9 point 4: a cancel or delete racing a capture. While a capture is in flight (sent, its
answer not written) the order cannot be cancelled or deleted — a capture sent cannot be called
back, so refusing the close is the only way not to charge a cancelled order — and a reconciler
in this machine leaves a capture whose sender still waits alone. A cancelled or deleted order
never becomes INVOICED, even when a late capture answer is written. Each fails on the code before
this branch (the cancel was accepted, then the capture charged the customer and set INVOICED)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from d400tui.domain import model as m
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)


async def _approved(engine) -> int:  # type: ignore[no-untyped-def]
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
    assert r.approved
    return r.order.id


def _while_capturing(engine, during, answered: bool = False):  # type: ignore[no-untyped-def]
    """Make the acquirer run `during()` while the capture is in flight: before the issuer gets it,
    or (answered) once the issuer has captured, before its answer is back."""
    inner = engine.acquirer.capture

    async def capture(reference, amount, key):  # type: ignore[no-untyped-def]
        if not answered:
            await during()
            return await inner(reference, amount, key)
        resp = await inner(reference, amount, key)
        await during()
        return resp

    engine.acquirer.capture = capture


@pytest.mark.parametrize("how", ["cancel", "delete"])
async def test_no_cancel_or_delete_while_a_capture_is_in_flight(engine, issuer, how: str) -> None:  # type: ignore[no-untyped-def]
    oid = await _approved(engine)
    refused: list[str] = []

    async def close() -> None:
        try:
            if how == "cancel":
                await engine.cancel_order(OPER, oid, "client rappelle")
            else:
                await engine.delete_order(OPER, oid)
        except m.DomainError as exc:
            refused.append(str(exc))

    _while_capturing(engine, close)
    run = await engine.capture(SUPER, engine.today())
    assert refused and "remise en paiement en cours" in refused[0], refused
    assert run.approved == 1 and run.finished_at is not None
    order = engine.get_order(oid)
    assert order.status is m.OrderStatus.INVOICED and order.cancel_reason is None
    assert [h[1] for h in issuer.holds()] == ["CAPTURED"]


async def test_a_reconcile_leaves_a_capture_whose_sender_waits(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    oid = await _approved(engine)
    seen: list[object] = []

    async def reconcile_then_cancel() -> None:
        seen.append(await engine.reconcile(SUPER))
        with pytest.raises(m.DomainError, match="remise en paiement en cours"):
            await engine.cancel_order(OPER, oid, "client rappelle")
        seen.append(engine.get_order(oid).authorizations[0].capture_pending)

    _while_capturing(engine, reconcile_then_cancel)
    await engine.capture(SUPER, engine.today())
    assert seen[1] is True  # still in flight after the reconcile
    assert engine.get_order(oid).status is m.OrderStatus.INVOICED


async def test_a_late_capture_answer_never_invoices_a_cancelled_order(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    """A reconciler elsewhere (it cannot see the sender) settled the capture as not done and the
    order was cancelled; then the issuer's answer arrives: the charge is recorded as it is, the
    order stays cancelled and the run reports it."""
    oid = await _approved(engine)

    async def settled_elsewhere_then_cancelled() -> None:
        with engine.db.engine.begin() as conn:  # what a remote reconcile writes
            conn.execute(
                text("UPDATE authorizations SET capture_pending = :f, owner = NULL WHERE order_id = :o"),
                {"f": False, "o": oid},
            )
            conn.execute(text("UPDATE instalments SET auth_pending = :f WHERE order_id = :o"), {"f": False, "o": oid})
        await engine.cancel_order(OPER, oid, "client rappelle")

    _while_capturing(engine, settled_elsewhere_then_cancelled, answered=True)
    await engine.capture(SUPER, engine.today())
    order = engine.get_order(oid)
    assert order.status is m.OrderStatus.CANCELLED
    assert order.authorizations[0].state is m.AuthState.CAPTURED  # the truth, for the refund
    trail = [r for r in engine.audit_trail(m.Actor("SUPER1", True)) if r["action"] == "CAPTURE"]
    assert '"order_status": "CANCELLED"' in trail[0]["detail"]


def test_settling_a_closed_order_keeps_it_closed() -> None:
    from datetime import date, datetime

    for close in ("cancel", "delete"):
        o = m.Order(100001, m.Channel.PHONE, m.PaymentMethod.CARD, "OPER1", datetime(2026, 1, 1), date(2026, 1, 1))
        o.status = m.OrderStatus.VALIDATED
        o.instalments = [m.Instalment(1, date(2026, 1, 1), o.total)]
        o.cancel("x") if close == "cancel" else o.delete()
        o.instalments[0].state = m.InstalmentState.CAPTURED  # a capture answer written late
        o.settle_if_done()
        assert o.status is not m.OrderStatus.INVOICED


async def test_an_answer_that_cannot_be_written_is_left_to_the_reconciler(engine, issuer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The database fails as the capture's answer is written: the run counts that order, and a
    reconcile in the same (still living) process settles the capture — it is not taken for one
    whose sender still waits."""
    from sqlalchemy.exc import OperationalError

    from d400tui.engine.capture import Capture

    oid = await _approved(engine)

    def broken(*a, **k):  # type: ignore[no-untyped-def]
        raise OperationalError("UPDATE", {}, Exception("disk I/O error"))

    monkeypatch.setattr(Capture, "_record_capture", broken)
    run = await engine.capture(SUPER, engine.today())
    assert (run.skipped, run.finished_at is not None) == (1, True)
    with pytest.raises(m.DomainError, match="remise en paiement en cours"):
        await engine.cancel_order(OPER, oid, "client rappelle")
    monkeypatch.undo()
    report = await engine.reconcile(SUPER)
    assert report.still_unknown == [], report.lines
    assert engine.get_order(oid).status is m.OrderStatus.INVOICED
    assert [h[1] for h in issuer.holds()] == ["CAPTURED"]
