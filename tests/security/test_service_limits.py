"""Issue 9, point 11: the HTTP service refuses a body over 64 kB with 413 before parsing it (by its
Content-Length, or counted while it streams in without one) and answers deep nesting with a 400;
the ISO 8583 host closes idle connections and keeps at most `max_connections` open. On main the
service read and parsed any body, and a deeply nested one gave a 500 from a RecursionError."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import httpx
import pytest

from d400tui.acquirers.iso8583 import Iso8583Acquirer
from d400tui.acquirers.transport import IDEMPOTENCY_HEADER
from d400tui.simulator.http_server import MAX_BODY, create_app
from d400tui.simulator.iso8583_server import Iso8583Host
from d400tui.simulator.issuer import Issuer

HEADERS = {IDEMPOTENCY_HEADER: "limits-1", "Content-Type": "application/json"}


@pytest.fixture
def issuer(tmp_path) -> Issuer:  # type: ignore[no-untyped-def]
    i = Issuer(tmp_path / "issuer.db")
    yield i
    i.close()


@pytest.fixture
async def client(issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(issuer))
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer") as c:
        yield c


async def test_a_body_over_64_kb_is_refused_by_its_length(client: httpx.AsyncClient) -> None:
    body = b'{"amount": "1.00", "pad": "' + b"x" * MAX_BODY + b'"}'
    r = await client.post("/v1/authorizations", content=body, headers=HEADERS)
    assert r.status_code == 413 and "64 kB" in r.json()["error"]
    # a declared length alone is refused before a byte of the body is read
    r = await client.post("/v1/authorizations", content=b"{}", headers={**HEADERS, "Content-Length": str(10**9)})
    assert r.status_code == 413
    r = await client.post("/v1/authorizations", content=b"{}", headers={**HEADERS, "Content-Length": "12ab"})
    assert r.status_code == 400


async def test_a_streamed_body_without_length_is_counted(client: httpx.AsyncClient) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"pad": "'
        for _ in range(1000):  # up to 16 MB if nobody stops reading
            sent += 16384
            yield b"x" * 16384
        yield b'"}'

    r = await client.post("/v1/authorizations", content=chunks(), headers=HEADERS)
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert r.status_code == 413


@pytest.mark.parametrize("body", [b"[" * 60_000, b'{"card": ' * 6_000 + b"1" + b"}" * 6_000, b"\xff\xfe{}"])
async def test_deep_nesting_or_bad_bytes_give_a_400_not_a_traceback(client: httpx.AsyncClient, body: bytes) -> None:
    r = await client.post("/v1/authorizations", content=body, headers=HEADERS)
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "body: JSON object expected"}


async def _eof_within(reader: asyncio.StreamReader, seconds: float = 10) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), seconds) == b""
    except (ConnectionError, TimeoutError):
        return False


async def test_iso8583_host_closes_idle_and_half_sent_connections(issuer: Issuer) -> None:
    host = Iso8583Host(issuer, idle_timeout_s=0.2)
    port = await host.start("127.0.0.1", 0)
    try:
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)  # says nothing
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)  # starts a frame and stalls
        w2.write(struct.pack(">H", 500) + b"0100")
        await w2.drain()
        assert await _eof_within(r1) and await _eof_within(r2)
        w1.close(), w2.close()
        acq = Iso8583Acquirer("127.0.0.1", port, timeout_s=5)  # a live client reconnects and is served
        try:
            assert await acq.echo()
        finally:
            await acq.close()
    finally:
        await host.stop()


async def test_iso8583_host_caps_its_connections(issuer: Issuer) -> None:
    host = Iso8583Host(issuer, max_connections=2)
    port = await host.start("127.0.0.1", 0)
    clients = [Iso8583Acquirer("127.0.0.1", port, timeout_s=5) for _ in range(2)]
    try:
        assert all([await c.echo() for c in clients])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await _eof_within(reader)  # the third is closed on arrival
        writer.close()
        assert all([await c.echo() for c in clients])  # the two open ones still work
    finally:
        for c in clients:
            await c.close()
        await host.stop()


async def test_iso8583_host_stops_reading_past_its_in_flight_cap(issuer: Issuer) -> None:
    """With one request in flight allowed, an echo sent behind a slow authorization (the card
    that answers after 2 s) is read, so answered, only after it: without the cap it comes first."""
    from decimal import Decimal

    from d400tui.acquirers.base import PaymentSource
    from d400tui.domain.cards import CardData, parse_expiry

    host = Iso8583Host(issuer, max_in_flight=1)
    port = await host.start("127.0.0.1", 0)
    order: list[str] = []
    acq = Iso8583Acquirer(
        "127.0.0.1", port, timeout_s=10, trace=lambda d, m: order.append(m["t"]) if d == "in" else None
    )
    try:
        slow = asyncio.create_task(
            acq.authorize(
                PaymentSource(card=CardData("4970100000000105", parse_expiry("12/30"))), Decimal("1.00"), "slow-1"
            )
        )
        while not acq._pending:  # the authorization is on the wire
            await asyncio.sleep(0.01)
        assert await acq.echo()
        assert (await slow).approved
        assert order == ["0110", "0810"]
    finally:
        await acq.close()
        await host.stop()
