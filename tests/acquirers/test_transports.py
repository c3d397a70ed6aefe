"""What each transport adds to the contract: ISO 8583 fields and pipelining, the HTTP API's key
and OpenAPI document, Stripe's decline-code mapping and the localstripe gaps, the breaker,
make_acquirer and check()."""

from __future__ import annotations

import asyncio
import csv
import socket
import time
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from d400tui.acquirers import check, make_acquirer
from d400tui.acquirers.base import AcquirerResponse, AcquirerUnavailable, Outcome, PaymentSource
from d400tui.acquirers.breaker import BreakerState, CircuitBreaker, CircuitOpen
from d400tui.acquirers.http import HttpAcquirer
from d400tui.acquirers.iso8583 import Iso8583Acquirer, decode_message, encode_frame
from d400tui.acquirers.stripe import StripeAcquirer, field39, stripe_codes
from d400tui.config import Settings
from d400tui.data import data_path
from d400tui.domain.cards import Brand
from tests.support.acquirers import API_KEY, STRIPE_KEY, card, stripe_count

APPROVE = card("4970100000000014")


def k(tag: str = "t") -> str:
    return f"{tag}-{uuid.uuid4().hex}"


# -- ISO 8583 ----------------------------------------------------------------------------------
async def test_iso_messages_carry_the_named_fields_both_ways(iso_server: dict[str, Any]) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []
    acq = Iso8583Acquirer("127.0.0.1", iso_server["port"], trace=lambda d, m: seen.append((d, m)))
    try:
        assert await acq.echo()
        key = k()
        h = await acq.authorize(PaymentSource(card=APPROVE), Decimal("15.00"), key)
        await acq.capture(h.reference, Decimal("15.00"), k())
        await acq.void(h.reference, k())
    finally:
        await acq.close()
    pairs = list(zip(seen[0::2], seen[1::2], strict=True))
    assert [(o["t"], i["t"]) for (_, o), (_, i) in pairs] == [
        ("0800", "0810"),
        ("0100", "0110"),
        ("0220", "0230"),
        ("0400", "0410"),
    ]
    for (d_out, out), (d_in, inc) in pairs:
        assert (d_out, d_in) == ("out", "in")
        assert inc["11"] == out["11"] and len(out["11"]) == 6  # STAN echoed
        assert inc["39"] in ("00", "12")
        if out["t"] != "0800":
            assert inc["37"] == out["37"] and len(out["37"]) == 12  # RRN echoed
    auth_out, auth_in = pairs[1][0][1], pairs[1][1][1]
    assert auth_out["2"] == "497010******0014"  # the trace never holds the full number
    assert auth_out["4"] == "000000001500" and auth_out["14"] == "3012" and auth_out["62"] == key
    assert auth_in["39"] == "00" and len(auth_in["38"]) == 6 and auth_in["48"].startswith("tok_")
    assert auth_in["63"] == h.reference and "2" not in auth_in
    assert pairs[2][1][1]["39"] == "00" and pairs[3][1][1]["39"] == "12"  # no void after capture


def test_iso_frame_round_trip() -> None:
    doc = {
        "t": "0100",
        "2": "4970100000000014",
        "3": "000000",
        "4": "000000000990",
        "11": "000042",
        "14": "3012",
        "37": "612308000042",
        "62": "key-1",
    }
    frame = encode_frame(doc)
    assert int.from_bytes(frame[:2], "big") == len(frame) - 2
    back = decode_message(frame[2:])
    assert {f: back[f] for f in doc} == doc


async def test_iso_pipelines_many_requests_on_one_connection(iso_server: dict[str, Any]) -> None:
    stans: list[str] = []
    acq = Iso8583Acquirer(
        "127.0.0.1", iso_server["port"], trace=lambda d, m: stans.append(m["11"]) if d == "out" else None
    )
    try:
        before = set(iso_server["host"]._writers)  # an earlier test's connection may still be closing
        answers = await asyncio.gather(
            *[acq.authorize(PaymentSource(card=APPROVE), Decimal("1.00"), k()) for _ in range(50)]
        )
        assert len(set(iso_server["host"]._writers) - before) == 1  # one connection for all fifty
        assert all(a.outcome is Outcome.APPROVED for a in answers)
        assert len({a.reference for a in answers}) == 50 and len(set(stans)) == 50
        await asyncio.gather(*[acq.void(a.reference, k()) for a in answers])
    finally:
        await acq.close()


async def test_iso_reversal_of_an_authorization_whose_answer_never_came(iso_server: dict[str, Any]) -> None:
    issuer = iso_server["issuer"]
    acq = Iso8583Acquirer("127.0.0.1", iso_server["port"], timeout_s=0.3)
    try:
        key = k()
        with pytest.raises(AcquirerUnavailable):
            await acq.authorize(PaymentSource(card=card("4970100000000089")), Decimal("5.00"), key)
        ref = issuer.hold_keys()[key]
        assert ref in issuer.live_holds()  # the issuer made the hold; we never heard
        resp = await acq.reverse(key, k())
        assert resp.outcome is Outcome.VOIDED and ref not in issuer.live_holds()
        assert (await acq.status(key)).outcome is Outcome.VOIDED
    finally:
        await acq.close()


async def test_iso_host_stopping_fails_pending_requests_and_reconnects(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from d400tui.simulator.iso8583_server import Iso8583Host
    from d400tui.simulator.issuer import Issuer

    issuer = Issuer(tmp_path / "i.db")
    host = Iso8583Host(issuer, latency_s=0.5)
    port = await host.start("127.0.0.1", 0)
    acq = Iso8583Acquirer("127.0.0.1", port, timeout_s=3)
    pending = asyncio.ensure_future(acq.authorize(PaymentSource(card=APPROVE), Decimal("2.00"), k()))
    await asyncio.sleep(0.1)
    await host.stop()
    t0 = time.monotonic()
    with pytest.raises(AcquirerUnavailable):
        await pending
    assert time.monotonic() - t0 < 1
    port2 = await Iso8583Host(issuer).start("127.0.0.1", port)
    acq2 = Iso8583Acquirer("127.0.0.1", port2)
    assert await acq2.echo()
    await acq.close()
    await acq2.close()
    issuer.close()


# -- HTTP ---------------------------------------------------------------------------------------
async def test_http_refuses_a_wrong_api_key_as_unavailable(http_server: dict[str, Any]) -> None:
    acq = HttpAcquirer(http_server["url"], "wrong-key")
    try:
        with pytest.raises(AcquirerUnavailable, match="401"):
            await acq.authorize(PaymentSource(card=APPROVE), Decimal("1.00"), k())
    finally:
        await acq.close()


async def test_http_openapi_document_and_key_required(http_server: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=http_server["url"]) as c:
        doc = (await c.get("/openapi.json")).json()
        assert doc["openapi"].startswith("3.") and "/v1/authorizations" in doc["paths"]
        r = await c.post("/v1/authorizations", json={"amount": "1.00", "token": "x"}, headers={"Idempotency-Key": "a"})
        assert r.status_code == 401
        r = await c.post("/v1/authorizations", json={"amount": "1.00"}, headers={"X-Api-Key": API_KEY})
        assert r.status_code == 400  # no idempotency key


async def test_http_bad_card_is_a_400_without_the_number(http_server: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=http_server["url"]) as c:
        r = await c.post(
            "/v1/authorizations",
            headers={"X-Api-Key": API_KEY, "Idempotency-Key": k()},
            json={"amount": "1.00", "card": {"pan": "4970100000000015", "expiry": "12/30"}},
        )
        assert r.status_code == 400 and "4970100000000015" not in r.text


def test_http_api_against_its_openapi_document(http_server: dict[str, Any]) -> None:
    """Schemathesis: every answer matches the document; no 500 on any generated request."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_url(f"{http_server['url']}/openapi.json")
    failures: list[str] = []
    for op in schema.get_all_operations():
        operation = op.ok()

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case) -> None:  # type: ignore[no-untyped-def]
            case.headers = {**(case.headers or {}), "X-Api-Key": API_KEY}
            resp = case.call()
            if resp.status_code >= 500:
                failures.append(f"{case.method} {case.path}: {resp.status_code}")
            # every answer is documented and well-formed; a 400 for a schema-valid but wrong card
            # (bad Luhn, unknown token...) is business validation, not a schema breach
            case.validate_response(
                resp,
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
            )

        run()
    assert not failures


# -- Stripe -------------------------------------------------------------------------------------
def test_stripe_codes_map_to_known_field39_codes_and_categories() -> None:
    ours = {r["code"]: r["category"] for r in csv.DictReader(open(data_path("response_codes.csv"), encoding="utf-8"))}
    rows = list(csv.DictReader(open(data_path("stripe_codes.csv"), encoding="utf-8")))
    for r in rows:
        assert ours[r["code"]] == r["category"], r
    assert field39({"code": "card_declined", "decline_code": "stolen_card"}) == "43"
    assert field39({"code": "card_declined", "decline_code": "lost_card"}) == "41"
    assert field39({"code": "card_declined", "decline_code": "insufficient_funds"}) == "51"
    assert field39({"code": "expired_card"}) == "33"
    assert field39({"code": "incorrect_number"}) == "14"
    assert field39({"code": "card_declined", "decline_code": "do_not_honor"}) == "05"
    assert ours[field39({"code": "card_declined", "decline_code": "card_velocity_exceeded"})] == "CEILING"
    assert ours[field39({"code": "card_declined", "decline_code": "issuer_not_available"})] == "UNAVAILABLE"
    assert ours[field39({"code": "card_declined", "decline_code": "try_again_later"})] == "UNAVAILABLE"
    assert field39({"code": "card_declined"}) == "05" and field39({"code": "something_new"}) == "05"
    assert len(stripe_codes()) == len(rows)


async def test_localstripe_ignores_idempotency_keys_so_the_adapter_dedupes(localstripe: str) -> None:
    src = PaymentSource(card=card("4242424242424242"))
    raw = StripeAcquirer(STRIPE_KEY, localstripe, dedupe=False)
    safe = StripeAcquirer(STRIPE_KEY, localstripe, dedupe=True)
    try:
        key = k()
        a = await raw.authorize(src, Decimal("5.00"), key)
        b = await raw.authorize(src, Decimal("5.00"), key)
        assert a.reference != b.reference and stripe_count(localstripe)(key) == 2  # the server's gap
        key2 = k()
        c = await safe.authorize(src, Decimal("5.00"), key2)
        d = await safe.authorize(src, Decimal("5.00"), key2)
        assert c.reference == d.reference and stripe_count(localstripe)(key2) == 1
    finally:
        await raw.close()
        await safe.close()


async def test_stripe_adapter_refuses_capture_past_the_validity_window(localstripe: str) -> None:
    """localstripe never expires an authorization: the adapter checks the brand's window itself."""
    now = [time.time()]
    acq = StripeAcquirer(STRIPE_KEY, localstripe, clock=lambda: now[0], validity_days={"VISA": 7})
    try:
        h = await acq.authorize(PaymentSource(card=card("4242424242424242")), Decimal("5.00"), k())
        now[0] += 8 * 86400
        late = await acq.capture(h.reference, Decimal("5.00"), k())
        assert late.outcome is Outcome.DECLINED and "expired" in late.message
        now[0] -= 2 * 86400
        assert (await acq.capture(h.reference, Decimal("5.00"), k())).outcome is Outcome.CAPTURED
    finally:
        await acq.close()


# -- breaker (unit, fake clock) -----------------------------------------------------------------
class Flaky:
    name = "flaky"
    brands = frozenset({Brand.VISA})
    capabilities = frozenset({"authorize"})

    def __init__(self) -> None:
        self.down = True
        self.calls = 0

    async def authorize(self, source, amount, key):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.down:
            raise AcquirerUnavailable("down")
        return AcquirerResponse(Outcome.APPROVED, "00", "R1")

    async def close(self) -> None:
        pass


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    "make",
    [
        lambda port: HttpAcquirer(f"http://127.0.0.1:{port}", retries=1),
        lambda port: StripeAcquirer("sk_test_x", f"http://127.0.0.1:{port}", retries=0),
        lambda port: Iso8583Acquirer("127.0.0.1", port),
    ],
    ids=["http", "stripe", "iso8583"],
)
async def test_a_refused_connection_is_unavailable_said_in_words(make: Any) -> None:
    """Nobody listening: AcquirerUnavailable, whose message (logged, shown by reconcile) names the
    failure in words and where, never an exception class."""
    port = _closed_port()
    acq = make(port)
    try:
        with pytest.raises(AcquirerUnavailable) as raised:
            await acq.authorize(PaymentSource(card=APPROVE), Decimal("1.00"), k())
    finally:
        await acq.close()
    text = str(raised.value)
    assert "connect" in text and str(port) in text and "Error" not in text, text


async def test_breaker_counts_consecutive_failures_and_probes_once() -> None:
    now = [0.0]
    inner = Flaky()
    b = CircuitBreaker(inner, failures=3, reset_s=10, clock=lambda: now[0])  # type: ignore[arg-type]
    src = PaymentSource(token="t")
    for _ in range(3):
        with pytest.raises(AcquirerUnavailable):
            await b.authorize(src, Decimal(1), "k")
    assert b.state is BreakerState.OPEN and inner.calls == 3
    with pytest.raises(CircuitOpen):
        await b.authorize(src, Decimal(1), "k")
    assert inner.calls == 3  # failed fast, nothing sent
    now[0] = 10.0
    with pytest.raises(AcquirerUnavailable):  # the probe fails: open again for a full period
        await b.authorize(src, Decimal(1), "k")
    assert inner.calls == 4 and b.state is BreakerState.OPEN
    now[0] = 15.0
    with pytest.raises(CircuitOpen):
        await b.authorize(src, Decimal(1), "k")
    now[0] = 20.0
    inner.down = False
    assert (await b.authorize(src, Decimal(1), "k")).approved
    assert b.state is BreakerState.CLOSED
    inner.down = True
    for _ in range(2):  # a success resets the count
        with pytest.raises(AcquirerUnavailable):
            await b.authorize(src, Decimal(1), "k")
    assert b.state is BreakerState.CLOSED


# -- factory and check --------------------------------------------------------------------------
async def test_make_acquirer_builds_each_network_adapter_behind_a_breaker(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = Settings(
        acquirer="http",
        acquirer_url="http://127.0.0.1:1",
        acquirer_key="k",
        acquirer_brands=["visa"],
        simulator_db=tmp_path / "s.db",
    )
    a = make_acquirer(s)
    assert isinstance(a, CircuitBreaker) and isinstance(a.inner, HttpAcquirer)
    assert a.brands == frozenset({Brand.VISA}) and a.name == "http"
    await a.close()
    s = Settings(acquirer="iso8583", acquirer_port=1, simulator_db=tmp_path / "s.db")
    a = make_acquirer(s)
    assert isinstance(a, CircuitBreaker) and isinstance(a.inner, Iso8583Acquirer)
    assert Brand.AMEX not in a.brands
    await a.close()
    with pytest.raises(ValueError, match="D400_ACQUIRER_KEY"):
        make_acquirer(Settings(acquirer="stripe", simulator_db=tmp_path / "s.db"))
    a = make_acquirer(Settings(acquirer="stripe", acquirer_key="sk_test_1", simulator_db=tmp_path / "s.db"))
    assert isinstance(a, CircuitBreaker) and a.inner.base_url == "https://api.stripe.com"
    await a.close()


async def test_check_reports_answering_and_silent_acquirers(http_server: dict[str, Any], iso_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    up = await check(
        Settings(
            acquirer="http",
            acquirer_url=http_server["url"],
            acquirer_key=API_KEY,
            simulator_db=tmp_path / "s.db",
        )
    )
    assert up["answers"] and up["acquirer"] == "http" and "VISA" in up["brands"] and "AMEX" not in up["brands"]
    assert API_KEY not in repr(up)
    iso = await check(Settings(acquirer="iso8583", acquirer_port=iso_server["port"], simulator_db=tmp_path / "s.db"))
    assert iso["answers"] and "echo" in iso["detail"]
    down = await check(
        Settings(
            acquirer="http",
            acquirer_url="http://127.0.0.1:1",
            acquirer_timeout=1,
            acquirer_connect_timeout=0.3,
            simulator_db=tmp_path / "s.db",
        )
    )
    assert not down["answers"] and down["detail"]
    sim = await check(Settings(acquirer="simulator", simulator_db=tmp_path / "s.db"))
    assert sim["answers"] and sim["acquirer"] == "simulator"
