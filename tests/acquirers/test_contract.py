"""The acquirer contract: every adapter, over its real transport, keeps the same promises."""

from __future__ import annotations

import asyncio
import csv
import socket
import time
import uuid
from decimal import Decimal

import pytest

from d400tui.acquirers.base import OPERATIONS, AcquirerUnavailable, NotSent, Outcome, PaymentSource
from d400tui.acquirers.breaker import BreakerState, CircuitBreaker, CircuitOpen
from d400tui.data import data_path
from d400tui.domain.cards import Brand, brand_of
from tests.support.acquirers import Backend, card

CATEGORIES = {r["code"]: r["category"] for r in csv.DictReader(open(data_path("response_codes.csv"), encoding="utf-8"))}


def k(tag: str = "t") -> str:
    return f"{tag}-{uuid.uuid4().hex}"


async def hold(acquirer, backend: Backend, amount: str = "10.00"):  # type: ignore[no-untyped-def]
    resp = await acquirer.authorize(PaymentSource(card=backend.approve), Decimal(amount), k("auth"))
    assert resp.outcome is Outcome.APPROVED, resp
    return resp


async def test_declares_its_operations_and_brands(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    from tests.acquirers.test_contract_shipments import EXPECTED  # multicapture, partial void

    assert acquirer.capabilities == OPERATIONS | EXPECTED[backend.name]
    assert {Brand.VISA, Brand.MASTERCARD, Brand.CB} <= acquirer.brands
    # the default contracts do not take Amex: the engine refuses such a card before any call
    assert brand_of("374010000000015") not in acquirer.brands


async def test_authorize_approves_and_gives_reference_code_and_token(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    resp = await acquirer.authorize(PaymentSource(card=backend.approve), Decimal("12.34"), k())
    assert resp.outcome is Outcome.APPROVED and resp.code == "00"
    assert resp.reference and resp.auth_code and resp.token
    assert resp.amount == Decimal("12.34")
    assert backend.approve.pan not in repr(resp) + resp.message


async def test_token_authorizes_later_without_card_data(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    first = await hold(acquirer, backend)
    again = await acquirer.authorize(PaymentSource(token=first.token), Decimal("3.00"), k())
    assert again.outcome is Outcome.APPROVED and again.reference != first.reference


async def test_unknown_token_is_refused(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    resp = await acquirer.authorize(PaymentSource(token="tok_doesnotexist"), Decimal("3.00"), k())
    assert resp.outcome is Outcome.DECLINED


async def test_each_refusal_card_gets_its_code_and_category(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    for c, code in backend.refusals:
        resp = await acquirer.authorize(PaymentSource(card=c), Decimal("10.00"), k())
        assert resp.outcome is Outcome.DECLINED, (c, resp)
        assert resp.code == code, (c, resp)
        assert CATEGORIES[resp.code] not in ("APPROVED", None)
        assert c.pan not in resp.message


async def test_ceiling_refuses_beyond_the_rolling_limit(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    if backend.issuer is None:
        pytest.skip("the provider simulates no per-card ceiling (localstripe)")
    c = card("4970100000000022")  # ceiling 300
    ok = await acquirer.authorize(PaymentSource(card=c), Decimal("200.00"), k())
    over = await acquirer.authorize(PaymentSource(card=c), Decimal("200.00"), k())
    assert ok.outcome is Outcome.APPROVED
    assert over.outcome is Outcome.DECLINED and over.code == "61" and CATEGORIES["61"] == "CEILING"
    await acquirer.void(ok.reference, k("void"))  # the ceiling frees up again
    again = await acquirer.authorize(PaymentSource(card=c), Decimal("200.00"), k())
    assert again.outcome is Outcome.APPROVED
    await acquirer.void(again.reference, k("void"))


async def test_verify_holds_nothing(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    ok = await acquirer.verify(PaymentSource(card=backend.approve), k("verify"))
    assert ok.outcome is Outcome.APPROVED and ok.code == "00"
    if backend.issuer is not None:
        assert ok.reference not in backend.issuer.live_holds()
    refused_card, code = backend.refusals[0]
    refused = await acquirer.verify(PaymentSource(card=refused_card), k("verify"))
    assert refused.outcome is Outcome.DECLINED and refused.code == code


async def test_void_releases_the_hold(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    h = await hold(acquirer, backend)
    resp = await acquirer.void(h.reference, k("void"))
    assert resp.outcome is Outcome.VOIDED and resp.code == "00"
    if backend.issuer is not None:
        assert h.reference not in backend.issuer.live_holds()


async def test_capture_full(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    h = await hold(acquirer, backend, "25.00")
    resp = await acquirer.capture(h.reference, Decimal("25.00"), k("cap"))
    assert resp.outcome is Outcome.CAPTURED and resp.amount == Decimal("25.00")


async def test_capture_partial(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    h = await hold(acquirer, backend, "25.00")
    resp = await acquirer.capture(h.reference, Decimal("10.50"), k("cap"))
    assert resp.outcome is Outcome.CAPTURED and resp.amount == Decimal("10.50")


async def test_capture_above_authorized_is_refused(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    h = await hold(acquirer, backend, "25.00")
    over = await acquirer.capture(h.reference, Decimal("25.01"), k("cap"))
    assert over.outcome is Outcome.DECLINED and over.code == "13"
    ok = await acquirer.capture(h.reference, Decimal("25.00"), k("cap"))  # the hold is still there
    assert ok.outcome is Outcome.CAPTURED


async def test_void_after_capture_is_refused(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    h = await hold(acquirer, backend)
    await acquirer.capture(h.reference, Decimal("10.00"), k("cap"))
    resp = await acquirer.void(h.reference, k("void"))
    assert resp.outcome is Outcome.DECLINED


async def test_capture_after_void_is_refused(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    """localstripe would capture a cancelled intent: the Stripe adapter re-reads it and refuses."""
    h = await hold(acquirer, backend)
    await acquirer.void(h.reference, k("void"))
    resp = await acquirer.capture(h.reference, Decimal("10.00"), k("cap"))
    assert resp.outcome is Outcome.DECLINED


async def test_second_capture_is_refused(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    h = await hold(acquirer, backend)
    await acquirer.capture(h.reference, Decimal("4.00"), k("cap"))
    resp = await acquirer.capture(h.reference, Decimal("4.00"), k("cap"))
    assert resp.outcome is Outcome.DECLINED


async def test_status_by_idempotency_key(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    key = k("auth")
    assert (await acquirer.status(key)).outcome is Outcome.NOT_FOUND
    h = await acquirer.authorize(PaymentSource(card=backend.approve), Decimal("7.00"), key)
    seen = await acquirer.status(key)
    assert seen.outcome is Outcome.APPROVED and seen.reference == h.reference
    await acquirer.void(h.reference, k("void"))
    assert (await acquirer.status(key)).outcome is Outcome.VOIDED
    refused_card, code = backend.refusals[0]
    rkey = k("auth")
    await acquirer.authorize(PaymentSource(card=refused_card), Decimal("7.00"), rkey)
    refused = await acquirer.status(rkey)
    assert refused.outcome is Outcome.DECLINED and refused.code == code


async def test_same_key_twice_makes_one_hold(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    key = k("auth")
    a = await acquirer.authorize(PaymentSource(card=backend.approve), Decimal("9.00"), key)
    b = await acquirer.authorize(PaymentSource(card=backend.approve), Decimal("9.00"), key)
    assert a.outcome is b.outcome is Outcome.APPROVED
    assert a.reference == b.reference
    assert backend.count_holds(key) == 1


async def test_no_answer_is_unavailable_quickly(backend: Backend) -> None:
    if backend.hang is None:
        pytest.skip("the provider has no card that never answers: see test_silent_server_is_unavailable")
    acq = backend.make(timeout_s=0.3)
    try:
        t0 = time.monotonic()
        with pytest.raises(AcquirerUnavailable):
            await acq.authorize(PaymentSource(card=backend.hang), Decimal("5.00"), k())
        assert time.monotonic() - t0 < 1.5
    finally:
        await acq.close()


async def test_unavailable_then_breaker_opens_fails_fast_and_a_probe_closes_it(backend: Backend) -> None:
    if backend.hang is None:
        pytest.skip("the provider has no card that never answers: see test_stripe_breaker_on_dead_server")
    breaker = CircuitBreaker(backend.make(timeout_s=0.2), failures=2, reset_s=0.5)
    try:
        for _ in range(2):
            with pytest.raises(AcquirerUnavailable):
                await breaker.authorize(PaymentSource(card=backend.hang), Decimal("5.00"), k())
        assert breaker.state is BreakerState.OPEN
        t0 = time.monotonic()
        with pytest.raises(CircuitOpen, match="circuit open"):
            await breaker.authorize(PaymentSource(card=backend.approve), Decimal("5.00"), k())
        assert time.monotonic() - t0 < 0.05
        await asyncio.sleep(0.55)
        assert breaker.state is BreakerState.HALF_OPEN
        probe = await breaker.authorize(PaymentSource(card=backend.approve), Decimal("5.00"), k())
        assert probe.outcome is Outcome.APPROVED
        assert breaker.state is BreakerState.CLOSED
    finally:
        await breaker.close()


def _silent_server() -> tuple[socket.socket, int]:
    """Accepts connections and never says a word."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s, s.getsockname()[1]


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pointed_at(backend: Backend, port: int, timeout_s: float):  # type: ignore[no-untyped-def]
    from d400tui.acquirers.http import HttpAcquirer
    from d400tui.acquirers.iso8583 import Iso8583Acquirer
    from d400tui.acquirers.stripe import StripeAcquirer

    if backend.name == "http":
        return HttpAcquirer(f"http://127.0.0.1:{port}", "x", timeout_s=timeout_s, connect_timeout_s=0.3)
    if backend.name == "iso8583":
        return Iso8583Acquirer("127.0.0.1", port, timeout_s=timeout_s, connect_timeout_s=0.3)
    if backend.name == "stripe":
        return StripeAcquirer("sk_test_x", f"http://127.0.0.1:{port}", timeout_s=timeout_s, connect_timeout_s=0.3)
    pytest.skip("in-process: no socket")


async def test_silent_server_is_unavailable(backend: Backend) -> None:
    srv, port = _silent_server()
    acq = _pointed_at(backend, port, 0.3)
    try:
        t0 = time.monotonic()
        with pytest.raises(AcquirerUnavailable):
            await acq.authorize(PaymentSource(card=backend.approve), Decimal("5.00"), k())
        assert time.monotonic() - t0 < 1.5
    finally:
        await acq.close()
        srv.close()


async def test_a_server_gone_after_reading_the_request_is_not_never_sent(backend: Backend) -> None:
    """The acquirer killed mid-call may have made its hold: UNKNOWN (then reconcile), never the
    "not sent" that lets a failover make a second hold. A refused connection is "not sent"."""

    async def read_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)  # the request has arrived...
        writer.transport.abort()  # ...and the server dies before it answers

    srv = await asyncio.start_server(read_then_close, "127.0.0.1", 0)
    acq = _pointed_at(backend, srv.sockets[0].getsockname()[1], 0.5)
    try:
        with pytest.raises(AcquirerUnavailable) as gone:
            await acq.authorize(PaymentSource(card=backend.approve), Decimal("5.00"), k())
        assert not isinstance(gone.value, NotSent), gone.value
    finally:
        await acq.close()
        srv.close()
    acq = _pointed_at(backend, _dead_port(), 0.5)
    try:
        with pytest.raises(NotSent):
            await acq.authorize(PaymentSource(card=backend.approve), Decimal("5.00"), k())
    finally:
        await acq.close()


async def test_refused_connection_is_unavailable_and_breaker_fails_fast(backend: Backend) -> None:
    breaker = CircuitBreaker(_pointed_at(backend, _dead_port(), 0.3), failures=3, reset_s=30)
    try:
        for _ in range(3):
            with pytest.raises(AcquirerUnavailable):
                await breaker.authorize(PaymentSource(card=backend.approve), Decimal("5.00"), k())
        t0 = time.monotonic()
        for _ in range(20):
            with pytest.raises(CircuitOpen):
                await breaker.authorize(PaymentSource(card=backend.approve), Decimal("5.00"), k())
        assert time.monotonic() - t0 < 1.0
    finally:
        await breaker.close()


async def test_secrets_and_card_numbers_stay_out_of_reprs(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    text = repr(acquirer) + repr(PaymentSource(card=backend.approve))
    assert backend.approve.pan not in text
    assert "test-api-key" not in text and "sk_test" not in text


async def test_a_key_reused_for_another_request_is_refused_never_replayed(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    """Issue 9, point 9: the same key with another amount, card or operation is refused (code 94,
    DECLINED; HTTP 422 underneath, ISO 8583 field 39 = 94, Stripe's idempotency_error) — on main the
    first answer came back: a 4,000 € request answered "approved 10 €". The same request again
    still replays the first answer and makes no second hold."""
    key = k("reuse")
    first = await acquirer.authorize(PaymentSource(card=backend.approve), Decimal("10.00"), key)
    assert first.outcome is Outcome.APPROVED
    other_card = backend.refusals[0][0]
    for attempt in (
        acquirer.authorize(PaymentSource(card=backend.approve), Decimal("4000.00"), key),
        acquirer.authorize(PaymentSource(card=other_card), Decimal("10.00"), key),
        acquirer.verify(PaymentSource(card=backend.approve), key),
    ):
        resp = await attempt
        assert resp.outcome is Outcome.DECLINED and resp.code == "94", resp
        assert resp.reference != first.reference and resp.amount != Decimal("10.00")
    again = await acquirer.authorize(PaymentSource(card=backend.approve), Decimal("10.00"), key)
    assert again.outcome is Outcome.APPROVED and again.reference == first.reference
    assert backend.count_holds(key) == 1
    await acquirer.void(first.reference, k("void"))
