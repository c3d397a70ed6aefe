"""Issue 12.1's acceptance on every adapter over its real transport (simulator, http, ISO 8583,
localstripe), on SQLite and PostgreSQL: an order of 3 lines shipped in 2 parcels is captured twice
by the engine, the captures add up to what shipped, the rest is released and nothing stays held."""

from __future__ import annotations

from decimal import Decimal

import httpx

from d400tui.domain import model as m
from d400tui.engine import Engine
from d400tui.store import shipments as store
from tests.support.acquirers import STRIPE_KEY, Backend
from tests.support.demo import OPER, SUPER

D = Decimal
LINES = [("BON0001", 2), ("GRI0002", 1), ("RID0003", 1)]  # 143.98 + 59.94 + 95.99 = 299.91


def _stripe_held(url: str, refs: set[str]) -> dict[str, int]:
    """localstripe's intents among `refs` that still hold money (requires_capture)."""
    with httpx.Client(base_url=url, auth=(STRIPE_KEY, "")) as c:
        out = {}
        for ref in refs:
            pi = c.get(f"/v1/payment_intents/{ref}").json()
            if pi["status"] == "requires_capture":
                out[ref] = int(pi.get("amount_capturable") or pi["amount"])
        return out


async def test_two_parcels_captured_the_rest_released_nothing_held(backend: Backend, settings, engine) -> None:  # type: ignore[no-untyped-def]
    acq = backend.make()
    e = Engine(settings, engine.db, acq, engine.clock)
    try:
        placed = await e.place_order(OPER, 100001, LINES, backend.approve)
        assert placed.approved, placed.answers
        oid = placed.order.id
        first = e.ship(OPER, oid, [("BON0001", 2), ("GRI0002", 1)])
        out1 = await e.capture_shipped(SUPER, oid, 1)
        assert out1[:2] == ("CAPTURED", D("203.92")), out1
        last = e.ship(OPER, oid, [("RID0003", 1)])
        out2 = await e.capture_shipped(SUPER, oid, 1)
        assert out2[:2] == ("CAPTURED", D("95.99")), out2
        assert last.shipment.final and first.shipment.amount + last.shipment.amount == D("299.91")
        with e.db.uow() as uow:
            caps = store.captures_of(uow.session, oid)
        assert [c.amount for c in caps] == [D("203.92"), D("95.99")]
        order = e.get_order(oid)
        assert order.status is m.OrderStatus.INVOICED
        refs = {a.acquirer_ref for a in order.authorizations if a.acquirer_ref}
        if backend.issuer is not None:
            assert not set(backend.issuer.live_holds()) & refs  # no live hold afterwards
            assert sum(h[3] for h in backend.issuer.holds() if h[0] in refs) == 29991
        else:
            assert _stripe_held(backend.extra["url"], refs) == {}
            # localstripe has no multicapture: the first parcel closed its hold, the rest was re-authorized
            assert out1[3].key == "engine.ship_reauthorized" and len(refs) == 2
    finally:
        await acq.close()


async def test_a_short_last_parcel_releases_the_rest_on_every_adapter(backend: Backend, settings, engine) -> None:  # type: ignore[no-untyped-def]
    """RID0003 never ships: the last parcel's capture is followed by the release of 95.99 (a partial
    void: ISO 8583 0220 + 0400, http and the simulator; a final capture on Stripe)."""
    acq = backend.make()
    e = Engine(settings, engine.db, acq, engine.clock)
    try:
        placed = await e.place_order(OPER, 100001, LINES, backend.approve)
        oid = placed.order.id
        e.ship(OPER, oid, [("BON0001", 2)])
        assert (await e.capture_shipped(SUPER, oid, 1))[:2] == ("CAPTURED", D("143.98"))
        e.ship(OPER, oid, [("GRI0002", 1)], final=True)
        out = await e.capture_shipped(SUPER, oid, 1)
        assert out[:2] == ("CAPTURED", D("59.94")), out
        assert out[3].key == "engine.ship_released" and out[3].params["amount"] == D("95.99")
        order = e.get_order(oid)
        assert order.status is m.OrderStatus.INVOICED
        refs = {a.acquirer_ref for a in order.authorizations if a.acquirer_ref}
        if backend.issuer is not None:
            assert not set(backend.issuer.live_holds()) & refs
            assert sum(h[3] for h in backend.issuer.holds() if h[0] in refs) == 20392
        else:
            assert _stripe_held(backend.extra["url"], refs) == {}
    finally:
        await acq.close()
