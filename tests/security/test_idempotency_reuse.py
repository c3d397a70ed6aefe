"""Issue 9, point 9, on the wire: the HTTP service answers 422 `idempotency_key_reused` and the
ISO 8583 host field 39 = 94 to a key reused with another amount, card, token, operation, currency
or reference; only an identical request replays. On main both replayed the first answer
("approved 10 €" to a 4,000 € request). Every adapter over its transport: tests/acquirers/test_contract.py."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from d400tui.acquirers.base import PaymentSource
from d400tui.acquirers.transport import IDEMPOTENCY_HEADER
from d400tui.domain.cards import CardData, parse_expiry
from d400tui.simulator.http_server import create_app
from d400tui.simulator.iso8583_server import Iso8583Host
from d400tui.simulator.issuer import Issuer

OK = {"pan": "4970100000000014", "expiry": "12/30"}
OTHER = {"pan": "5130100000000018", "expiry": "06/31"}


@pytest.fixture
def issuer(tmp_path) -> Issuer:  # type: ignore[no-untyped-def]
    i = Issuer(tmp_path / "issuer.db")
    yield i
    i.close()


@pytest.fixture
async def client(issuer: Issuer):  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=create_app(issuer))
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer") as c:
        yield c


async def _post(client: httpx.AsyncClient, path: str, key: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(path, json=body, headers={IDEMPOTENCY_HEADER: key})


async def test_http_refuses_a_reused_key_with_422(client: httpx.AsyncClient) -> None:
    key = uuid.uuid4().hex
    first = await _post(client, "/v1/authorizations", key, {"card": OK, "amount": "10.00"})
    assert first.status_code == 200 and first.json()["outcome"] == "APPROVED"
    token = first.json()["token"]
    for path, body in [
        ("/v1/authorizations", {"card": OK, "amount": "4000.00"}),
        ("/v1/authorizations", {"card": OTHER, "amount": "10.00"}),
        ("/v1/authorizations", {"token": token, "amount": "10.00"}),
        ("/v1/authorizations", {"card": OK, "amount": "10.00", "currency": "USD"}),
        ("/v1/verifications", {"card": OK}),
        (f"/v1/authorizations/{first.json()['reference']}/capture", {"amount": "10.00"}),
    ]:
        r = await _post(client, path, key, body)
        assert r.status_code == 422, (path, body, r.text)
        assert r.json()["code"] == "idempotency_key_reused" and "4970100000000014" not in r.text
    same = await _post(client, "/v1/authorizations", key, {"card": {**OK, "cvv": "123"}, "amount": "10.00"})
    assert same.status_code == 200 and same.json() == first.json()


async def test_http_capture_and_void_keys_are_bound_to_their_request(client: httpx.AsyncClient) -> None:
    a = (await _post(client, "/v1/authorizations", uuid.uuid4().hex, {"card": OK, "amount": "50.00"})).json()
    b = (await _post(client, "/v1/authorizations", uuid.uuid4().hex, {"card": OK, "amount": "60.00"})).json()
    cap = uuid.uuid4().hex
    assert (await _post(client, f"/v1/authorizations/{a['reference']}/capture", cap, {"amount": "20.00"})).json()[
        "outcome"
    ] == "CAPTURED"
    assert (
        await _post(client, f"/v1/authorizations/{a['reference']}/capture", cap, {"amount": "50.00"})
    ).status_code == 422
    void = uuid.uuid4().hex
    assert (await _post(client, f"/v1/authorizations/{b['reference']}/void", void, {})).json()["outcome"] == "VOIDED"
    assert (await _post(client, f"/v1/authorizations/{a['reference']}/void", void, {})).status_code == 422


async def test_iso8583_host_answers_94_to_a_reused_key(issuer: Issuer) -> None:
    host = Iso8583Host(issuer)
    key = uuid.uuid4().hex

    def auth(pan: str, cents: int, pc: str = "000000", currency: str = "978") -> dict[str, Any]:
        exp = "3012" if pan.startswith("4") else "3106"
        return {
            "t": "0100",
            "3": pc,
            "4": f"{cents:012d}",
            "11": "000001",
            "49": currency,
            "62": key,
            "2": pan,
            "14": exp,
        }

    first = await host.handle(auth(OK["pan"], 1000))
    assert first is not None and first["39"] == "00"
    for req in (
        auth(OK["pan"], 400000),
        auth(OTHER["pan"], 1000),
        auth(OK["pan"], 0, "330000"),
        auth(OK["pan"], 1000, currency="840"),
    ):
        reply = await host.handle(req)
        assert reply is not None and reply["39"] == "94" and reply["44"] == "DECLINED", (req, reply)
        assert "38" not in reply and "63" not in reply  # no authorization code, no hold reference
    again = await host.handle(auth(OK["pan"], 1000))
    assert again is not None and again["39"] == "00" and again["63"] == first["63"]


def test_the_issuer_keeps_no_card_in_the_fingerprint(issuer: Issuer) -> None:
    card = CardData("4970100000000014", parse_expiry("12/30"))
    issuer.authorize(PaymentSource(card=card), Decimal("10.00"), "k1")
    (fp,) = issuer.db.execute("SELECT fingerprint FROM ops WHERE key='k1'").fetchone()
    assert len(fp) == 64 and "4970" not in fp
