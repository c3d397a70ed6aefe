"""Shipments (issue 12.1), SQLite and PostgreSQL: an order of 3 lines shipped in 2 parcels is
captured twice for exactly what shipped, the rest of its authorization released, no live hold
left; a capture above what remains authorized is refused; a capture run twice captures once;
shipping more than ordered is refused with one clear line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from d400tui.acquirers.base import MULTICAPTURE, PARTIAL_VOID
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.engine import USER_ERRORS
from d400tui.engine.capture import Capture
from d400tui.i18n.render import tx
from tests.support.demo import OPER, SUPER, card

D = Decimal
LINES = [("BON0001", 2), ("GRI0002", 1), ("RID0003", 1)]  # 143.98 + 59.94 + 95.99 = 299.91


async def _order(engine) -> m.Order:  # type: ignore[no-untyped-def]
    r = await engine.place_order(OPER, 100001, LINES, card("4970100000000014"))
    assert r.approved
    return r.order


def _captures(engine, order_id: int) -> list:  # type: ignore[no-untyped-def]
    from d400tui.store import shipments as store

    with engine.db.uow() as uow:
        return store.captures_of(uow.session, order_id)


async def test_three_lines_two_parcels_two_captures_the_rest_released(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    order = await _order(engine)
    assert order.total == D("299.91")
    first = engine.ship(OPER, order.id, [("BON0001", 2), ("GRI0002", 1)])
    assert first.shipment.amount == D("203.92") and not first.shipment.final
    assert first.due == {1: D("203.92")}
    out = await engine.capture_shipped(SUPER, order.id, 1)
    assert out[0] == "CAPTURED" and out[1] == D("203.92")
    (ref,) = issuer.live_holds()
    assert issuer.live_holds()[ref] == 9599  # the rest stays held for the next parcel
    o = engine.get_order(order.id)
    assert o.status is m.OrderStatus.VALIDATED and o.instalments[0].state is m.InstalmentState.PENDING

    last = engine.ship(OPER, order.id, [("RID0003", 1)])
    assert last.shipment.final and last.shipment.amount == D("95.99")  # every line shipped: the last parcel
    out = await engine.capture_shipped(SUPER, order.id, 1)
    assert out[0] == "CAPTURED" and out[1] == D("95.99")
    caps = _captures(engine, order.id)
    assert [c.amount for c in caps] == [D("203.92"), D("95.99")] and sum(c.amount for c in caps) == order.total
    assert len({c.idempotency_key for c in caps}) == 2
    assert issuer.live_holds() == {}  # no live hold afterwards
    assert [h[3] for h in issuer.holds()] == [29991]
    o = engine.get_order(order.id)
    assert o.status is m.OrderStatus.INVOICED and o.authorizations[0].state is m.AuthState.CAPTURED
    assert o.authorizations[0].captured_amount == D("299.91")


async def test_the_last_parcel_short_releases_the_rest(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    order = await _order(engine)
    engine.ship(OPER, order.id, [("BON0001", 1)])
    await engine.capture_shipped(SUPER, order.id, 1)
    last = engine.ship(OPER, order.id, [("GRI0002", 1)], final=True)  # RID0003 will never ship
    assert last.shipment.final
    out = await engine.capture_shipped(SUPER, order.id, 1)
    assert out[0] == "CAPTURED" and out[1] == D("59.94")
    rest = order.total - D("71.99") - D("59.94")
    assert isinstance(out[3], Message) and out[3].key == "engine.ship_released" and out[3].params["amount"] == rest
    assert issuer.live_holds() == {}
    assert [h[1:] for h in issuer.holds()] == [("CAPTURED", 29991, 13193)]
    assert engine.get_order(order.id).status is m.OrderStatus.INVOICED
    with pytest.raises(USER_ERRORS) as exc:
        engine.ship(OPER, order.id, [("RID0003", 1)])
    assert exc.value.message.key in ("engine.ship_done", "engine.closed")


async def test_a_capture_run_twice_captures_once(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    order = await _order(engine)
    engine.ship(OPER, order.id, [("GRI0002", 1)])
    assert (await engine.capture_shipped(SUPER, order.id, 1))[0] == "CAPTURED"
    again = await engine.capture_shipped(SUPER, order.id, 1)
    assert again[0] == "SKIPPED" and again[1] == 0
    assert len(_captures(engine, order.id)) == 1
    assert [h[3] for h in issuer.holds()] == [5994]


async def test_a_capture_above_what_remains_authorized_is_refused(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    order = await _order(engine)
    engine.ship(OPER, order.id, [("BON0001", 2)])
    await engine.capture_shipped(SUPER, order.id, 1)
    # the authorization shrinks under us (a hold reduced elsewhere): what shipped is now above it
    with engine.db.uow() as uow:
        o = uow.orders.get(order.id)
        o.authorizations[0].captured_amount = D("250.00")
        uow.commit()
    engine.ship(OPER, order.id, [("RID0003", 1)])
    out = await engine.capture_shipped(SUPER, order.id, 1)
    assert out[0] == "REFUSED" and out[3].key == "engine.capture_over_left"
    assert "95.99" in tx(out[3]) and "49.91" in tx(out[3])
    assert [h[3] for h in issuer.holds()] == [14398]  # nothing more captured


async def test_shipping_more_than_ordered_is_refused_in_one_line(engine) -> None:  # type: ignore[no-untyped-def]
    order = await _order(engine)
    engine.ship(OPER, order.id, [("BON0001", 1)])
    with pytest.raises(USER_ERRORS) as exc:
        engine.ship(OPER, order.id, [("BON0001", 2)])
    text = tx(exc.value)
    assert "\n" not in text and "BON0001" in text and "2" in text and "1" in text
    with pytest.raises(USER_ERRORS) as exc:
        engine.ship(OPER, order.id, [("ZZZ9999", 1)])
    assert "ZZZ9999" in tx(exc.value)
    assert engine.shipping_view(order.id).state.parcels == 1  # nothing recorded by the refusals


async def test_a_cancelled_or_deleted_order_cannot_ship(engine) -> None:  # type: ignore[no-untyped-def]
    cancelled = await _order(engine)
    await engine.cancel_order(OPER, cancelled.id, "client")
    deleted = await _order(engine)
    await engine.delete_order(OPER, deleted.id)
    for oid in (cancelled.id, deleted.id):
        with pytest.raises(USER_ERRORS) as exc:
            engine.ship(OPER, oid, [("BON0001", 1)])
        assert exc.value.message.key == "engine.closed"


async def test_without_multicapture_the_parcel_is_captured_once_and_the_rest_reauthorized(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    """An acquirer that takes one capture per hold: the first parcel closes the hold, what remains is
    authorized again on the card's token (said in the outcome), the last parcel captures that."""
    engine.acquirer.capabilities = engine.acquirer.capabilities - {MULTICAPTURE, PARTIAL_VOID}
    order = await _order(engine)
    engine.ship(OPER, order.id, [("BON0001", 2), ("GRI0002", 1)])
    out = await engine.capture_shipped(SUPER, order.id, 1)
    assert out[0] == "CAPTURED" and out[3].key == "engine.ship_reauthorized"
    assert out[3].params["amount"] == D("95.99") and out[3].params["state"] == "APPROVED"
    assert sorted(issuer.live_holds().values()) == [9599]
    engine.ship(OPER, order.id, [("RID0003", 1)])
    out = await engine.capture_shipped(SUPER, order.id, 1)
    assert out[0] == "CAPTURED" and out[1] == D("95.99")
    assert issuer.live_holds() == {}
    assert sorted(h[3] for h in issuer.holds()) == [9599, 20392]
    assert engine.get_order(order.id).status is m.OrderStatus.INVOICED


async def test_a_parcel_whose_answer_was_lost_is_settled_by_the_reconciler(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    """The issuer took the parcel, the answer never came: the order cannot be cancelled meanwhile,
    the reconciler asks under the capture row's key and records it once; the next parcel goes on."""
    order = await _order(engine)
    engine.ship(OPER, order.id, [("BON0001", 2)])
    engine.acquirer.lost_answer_rate = 1.0
    out = await engine.capture_shipped(SUPER, order.id, 1)
    engine.acquirer.lost_answer_rate = 0.0
    assert out[0] == "UNAVAILABLE"
    assert [h[3] for h in issuer.holds()] == [14398]  # taken at the issuer
    with pytest.raises(USER_ERRORS):
        await engine.cancel_order(OPER, order.id, "client")  # a capture may be in flight
    assert (await engine.capture_shipped(SUPER, order.id, 1))[0] == "SKIPPED"  # not sent twice
    report = await engine.reconcile(SUPER, grace_s=0)
    assert any(msg.key == "engine.reconcile_captured" for msg in report.settled), report.lines
    (cap,) = _captures(engine, order.id)
    assert cap.state.value == "CAPTURED" and cap.amount == D("143.98")
    assert engine.get_order(order.id).authorizations[0].captured_amount == D("143.98")
    engine.ship(OPER, order.id, [("GRI0002", 1), ("RID0003", 1)])
    assert (await engine.capture_shipped(SUPER, order.id, 1))[1] == D("155.93")
    assert issuer.live_holds() == {} and [h[3] for h in issuer.holds()] == [29991]


async def test_an_order_that_has_started_to_ship_keeps_its_lines(engine) -> None:  # type: ignore[no-untyped-def]
    order = await _order(engine)
    engine.ship(OPER, order.id, [("BON0001", 1)])
    with pytest.raises(USER_ERRORS) as exc:
        await engine.modify_lines(OPER, order.id, [("BON0001", 1)])
    assert exc.value.message.key == "engine.modify_shipped"


async def test_two_terminals_shipping_the_last_unit_at_once_ship_it_once(engine, settings) -> None:  # type: ignore[no-untyped-def]
    """Each parcel is decided under the order's lock: the second sees the first and is refused."""
    import asyncio

    from d400tui.engine import open_engine

    order = await _order(engine)
    other = open_engine(settings)
    try:
        results = await asyncio.gather(
            asyncio.to_thread(engine.ship, OPER, order.id, [("RID0003", 1)]),
            asyncio.to_thread(other.ship, OPER, order.id, [("RID0003", 1)]),
            return_exceptions=True,
        )
    finally:
        other.acquirer.issuer.close()  # type: ignore[attr-defined]
        other.db.dispose()
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) == 1 and len(refused) == 1, results
    assert isinstance(refused[0], USER_ERRORS)  # more than ordered, or the other terminal's change
    assert engine.shipping_view(order.id).left[3] == 0 and engine.shipping_view(order.id).state.parcels == 1


async def test_the_capture_run_captures_each_parcel_and_releases_the_rest(engine, issuer, today) -> None:  # type: ignore[no-untyped-def]
    """Through the batched capture run: an order shipped in 2 parcels beside one never shipped
    (captured whole by the batch); two runs, two captures for what shipped, nothing left held."""
    shipped = await _order(engine)
    whole = await _order(engine)
    engine.ship(OPER, shipped.id, [("BON0001", 2), ("GRI0002", 1)])
    assert {(o, s): a for o, s, a in Capture(engine).selection(today)} == {
        (shipped.id, 1): D("203.92"),
        (whole.id, 1): D("299.91"),
    }
    run = await engine.capture(SUPER, today)
    assert (run.approved, run.refused, run.unavailable) == (2, 0, 0)
    lines = {r.order_id: r for r in engine.run_results(run.id)}
    assert lines[shipped.id].amount == D("203.92") and lines[whole.id].amount == D("299.91")
    assert engine.get_order(whole.id).status is m.OrderStatus.INVOICED
    assert engine.get_order(shipped.id).status is m.OrderStatus.VALIDATED
    again = await engine.capture(SUPER, today)  # rerun: nothing more shipped, nothing captured
    assert again.approved == 0 and len(_captures(engine, shipped.id)) == 1

    engine.ship(OPER, shipped.id, [("RID0003", 1)])
    run = await engine.capture(SUPER, today)
    assert run.approved == 1
    (line,) = [r for r in engine.run_results(run.id) if r.outcome == "CAPTURED"]
    assert (line.order_id, line.amount) == (shipped.id, D("95.99"))
    caps = _captures(engine, shipped.id)
    assert sum(c.amount for c in caps) == D("299.91") == shipped.total
    assert issuer.live_holds() == {}
    assert engine.get_order(shipped.id).status is m.OrderStatus.INVOICED


async def test_capture_one_of_a_shipped_order_takes_what_shipped(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    order = await _order(engine)
    engine.ship(OPER, order.id, [("GRI0002", 1)])
    out = await engine.capture_one(SUPER, order.id, 1)
    assert out[0] == "CAPTURED" and out[1] == D("59.94")
    assert issuer.live_holds() == {next(iter(issuer.live_holds())): 29991 - 5994}


async def test_a_blocked_or_undecided_order_does_not_ship(engine) -> None:  # type: ignore[no-untyped-def]
    refused = await engine.place_order(OPER, 100001, LINES, card("4970100000000063"))
    with pytest.raises(USER_ERRORS) as exc:
        engine.ship(OPER, refused.order.id, [("BON0001", 1)])
    assert exc.value.message.key == "engine.ship_awaiting"
    await engine.decide(OPER, refused.order.id, m.DecisionKind.BLOCK)
    with pytest.raises(USER_ERRORS) as exc:
        engine.ship(OPER, refused.order.id, [("BON0001", 1)])
    assert exc.value.message.key == "engine.ship_blocked"
    await engine.decide(OPER, refused.order.id, m.DecisionKind.RELEASE)  # kept without authorization
    assert engine.ship(OPER, refused.order.id, [("BON0001", 1)]).shipment.amount == D("71.99")


async def test_an_order_with_captured_parcels_cannot_be_deleted(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    order = await _order(engine)
    engine.ship(OPER, order.id, [("BON0001", 1)])
    await engine.capture_shipped(SUPER, order.id, 1)
    with pytest.raises(USER_ERRORS) as exc:
        await engine.delete_order(OPER, order.id)
    assert exc.value.message.key == "engine.captured_no_delete"
    res = await engine.cancel_order(OPER, order.id, "rest out of stock")  # cancel: the rest released
    assert res.order.status is m.OrderStatus.CANCELLED and issuer.live_holds() == {}
    assert [h[3] for h in issuer.holds()] == [7199]  # the parcel shipped stays paid


async def test_final_alone_closes_the_shipping_and_releases_the_rest(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    order = await _order(engine)
    engine.ship(OPER, order.id, [("BON0001", 2)])
    await engine.capture_shipped(SUPER, order.id, 1)
    closing = engine.ship(OPER, order.id, [], final=True)  # nothing more will ship
    assert closing.shipment.final and closing.shipment.lines == () and closing.shipment.amount == 0
    out = await engine.capture_shipped(SUPER, order.id, 1)
    assert out[0] == "RELEASED" and out[3].key == "engine.ship_released" and out[3].params["amount"] == D("155.93")
    assert issuer.live_holds() == {} and [h[1:] for h in issuer.holds()] == [("CAPTURED", 29991, 14398)]
    o = engine.get_order(order.id)
    assert o.status is m.OrderStatus.INVOICED and o.instalments[0].state is m.InstalmentState.CAPTURED
