"""The acquirer contract for orders shipped in several parcels (issue 12.1), over every adapter's
real transport: what each declares (multicapture, partial void), a parcel captured while the rest
stays held, a second parcel, the remainder released, and no live hold left on the issuer."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from d400tui.acquirers.base import MULTICAPTURE, OPERATIONS, PARTIAL_VOID, Outcome, PaymentSource, Unsupported
from tests.support.acquirers import Backend

D = Decimal
EXPECTED = {
    "simulator": {MULTICAPTURE, PARTIAL_VOID},
    "http": {MULTICAPTURE, PARTIAL_VOID},
    "iso8583": {MULTICAPTURE, PARTIAL_VOID},
    "stripe": {MULTICAPTURE},  # Stripe has no partial void: the final capture releases the rest
}


def k(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex}"


async def hold(acquirer, backend: Backend, amount: str):  # type: ignore[no-untyped-def]
    resp = await acquirer.authorize(PaymentSource(card=backend.approve), D(amount), k("auth"))
    assert resp.outcome is Outcome.APPROVED, resp
    return resp


def live(backend: Backend, ref: str) -> int | None:
    """Cents the issuer still holds under `ref` (None: no live hold)."""
    assert backend.issuer is not None
    return backend.issuer.live_holds().get(ref)


def captured(backend: Backend, ref: str) -> int:
    assert backend.issuer is not None
    return next(h[3] for h in backend.issuer.holds() if h[0] == ref)


async def test_each_adapter_declares_what_it_supports(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    assert acquirer.capabilities == OPERATIONS | EXPECTED[backend.name]


async def test_two_parcels_then_the_remainder_released(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    """10.00 held: a parcel of 4.00, a second of 3.50, the last 2.50 released, nothing left held."""
    h = await hold(acquirer, backend, "10.00")
    try:
        first = await acquirer.capture_partial(h.reference, D("4.00"), k("cap1"))
    except Unsupported:
        assert backend.name == "stripe"  # localstripe knows no final_capture: nothing was captured
        assert MULTICAPTURE not in acquirer.capabilities
        await _capture_once_and_reauthorize(acquirer, backend, h)
        return
    assert first.outcome is Outcome.CAPTURED and first.amount == D("4.00")
    if backend.issuer is not None:
        assert live(backend, h.reference) == 600
    second = await acquirer.capture_partial(h.reference, D("3.50"), k("cap2"))
    assert second.outcome is Outcome.CAPTURED and second.amount == D("3.50")
    if PARTIAL_VOID in acquirer.capabilities:
        rest = await acquirer.release(h.reference, D("2.50"), k("rel"))
        assert rest.outcome is Outcome.VOIDED and rest.amount == D("2.50")
    else:
        rest = await acquirer.void(h.reference, k("void"))
        assert rest.outcome is Outcome.VOIDED
    if backend.issuer is not None:
        assert live(backend, h.reference) is None  # no live hold afterwards
        assert captured(backend, h.reference) == 750
    assert (await acquirer.capture(h.reference, D("0.01"), k("cap3"))).outcome is Outcome.DECLINED


async def _capture_once_and_reauthorize(acquirer, backend: Backend, h) -> None:  # type: ignore[no-untyped-def]
    """Without multicapture: the first parcel is a final capture, what remains is authorized again."""
    first = await acquirer.capture(h.reference, D("4.00"), k("cap"))
    assert first.outcome is Outcome.CAPTURED and first.amount == D("4.00")
    again = await acquirer.authorize(PaymentSource(token=h.token), D("6.00"), k("reauth"))
    assert again.outcome is Outcome.APPROVED and again.reference != h.reference
    last = await acquirer.capture(again.reference, D("3.50"), k("cap"))
    assert last.outcome is Outcome.CAPTURED and last.amount == D("3.50")
    assert (await acquirer.capture(again.reference, D("0.01"), k("cap"))).outcome is Outcome.DECLINED


async def test_final_capture_after_a_parcel_releases_the_rest(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    h = await hold(acquirer, backend, "10.00")
    try:
        await acquirer.capture_partial(h.reference, D("3.00"), k("cap1"))
    except Unsupported:
        pytest.skip("the server has no multicapture (localstripe): see the two-parcel test")
    last = await acquirer.capture(h.reference, D("2.00"), k("cap2"))
    assert last.outcome is Outcome.CAPTURED and last.amount == D("2.00")
    if backend.issuer is not None:
        assert live(backend, h.reference) is None and captured(backend, h.reference) == 500
    assert (await acquirer.void(h.reference, k("void"))).outcome is Outcome.DECLINED  # no void after a final capture


async def test_a_parcel_above_what_remains_held_is_refused(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    h = await hold(acquirer, backend, "10.00")
    try:
        await acquirer.capture_partial(h.reference, D("6.00"), k("cap1"))
    except Unsupported:
        pytest.skip("the server has no multicapture (localstripe)")
    over = await acquirer.capture_partial(h.reference, D("4.01"), k("cap2"))
    assert over.outcome is Outcome.DECLINED and over.code == "13"
    over_final = await acquirer.capture(h.reference, D("4.01"), k("cap3"))
    assert over_final.outcome is Outcome.DECLINED and over_final.code == "13"
    ok = await acquirer.capture(h.reference, D("4.00"), k("cap4"))  # what remains is still there
    assert ok.outcome is Outcome.CAPTURED
    if backend.issuer is not None:
        assert captured(backend, h.reference) == 1000 and live(backend, h.reference) is None


async def test_a_parcel_sent_twice_under_its_key_captures_once(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    if backend.issuer is None:
        pytest.skip("localstripe honours no idempotency key (the engine's capture rows guard it)")
    h = await hold(acquirer, backend, "10.00")
    key = k("cap")
    a = await acquirer.capture_partial(h.reference, D("4.00"), key)
    b = await acquirer.capture_partial(h.reference, D("4.00"), key)
    assert a.outcome is b.outcome is Outcome.CAPTURED
    assert captured(backend, h.reference) == 400 and live(backend, h.reference) == 600
    other = await acquirer.capture_partial(h.reference, D("5.00"), key)  # the key, another amount
    assert other.outcome is Outcome.DECLINED and other.code == "94"
    await acquirer.void(h.reference, k("void"))
    assert live(backend, h.reference) is None and captured(backend, h.reference) == 400


async def test_partial_void_keeps_the_rest_held(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    if PARTIAL_VOID not in acquirer.capabilities:
        pytest.skip(f"{backend.name} declares no partial void")
    h = await hold(acquirer, backend, "10.00")
    part = await acquirer.release(h.reference, D("3.00"), k("rel"))
    assert part.outcome is Outcome.VOIDED and part.amount == D("3.00")
    assert live(backend, h.reference) == 700
    over = await acquirer.release(h.reference, D("7.01"), k("rel"))
    assert over.outcome is Outcome.DECLINED
    full = await acquirer.capture(h.reference, D("7.00"), k("cap"))
    assert full.outcome is Outcome.CAPTURED
    assert live(backend, h.reference) is None and captured(backend, h.reference) == 700


async def test_releasing_everything_closes_the_hold_as_voided(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    if PARTIAL_VOID not in acquirer.capabilities:
        pytest.skip(f"{backend.name} declares no partial void")
    h = await hold(acquirer, backend, "10.00")
    await acquirer.release(h.reference, D("10.00"), k("rel"))
    assert live(backend, h.reference) is None
    assert (await acquirer.capture(h.reference, D("1.00"), k("cap"))).outcome is Outcome.DECLINED


async def test_iso8583_parcels_are_completions_and_the_rest_a_partial_reversal(backend: Backend) -> None:
    if backend.name != "iso8583":
        pytest.skip("ISO 8583 message types")
    seen: list[tuple[str, dict]] = []  # type: ignore[type-arg]
    acq = backend.make(trace=lambda way, doc: seen.append((way, doc)))
    try:
        h = await hold(acq, backend, "10.00")
        await acq.capture_partial(h.reference, D("4.00"), k("cap"))
        await acq.release(h.reference, D("6.00"), k("rel"))
    finally:
        await acq.close()
    out = [doc for way, doc in seen if way == "out"]
    assert [(d["t"], d.get("4"), d.get("120")) for d in out[1:]] == [
        ("0220", "000000000400", "MORE"),
        ("0400", "000000000600", None),
    ]
    assert live(backend, h.reference) is None
