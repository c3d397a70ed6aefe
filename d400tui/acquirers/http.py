"""The `http` acquirer: a JSON API (the simulated issuer's `simulator/http_server.py`, or any
service speaking its OpenAPI document), over the pooled client, timeouts and safe retries under
the same Idempotency-Key of `transport.py` (on the aiohttp transport: the faster pool here).

Past what the transport maps, a 400/404/413/422 is the service refusing the request: an answer
(DECLINED), never an outage; 422 `idempotency_key_reused` is our code 94."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx

from d400tui.domain.cards import Brand, CvvResult

from .base import (
    KEY_REUSED,
    MULTICAPTURE,
    OPERATIONS,
    PARTIAL_VOID,
    AcquirerResponse,
    AcquirerUnavailable,
    Outcome,
    PaymentSource,
    in_words,
)
from .transport import HttpTransport

API_KEY_HEADER = "X-Api-Key"
KEY_REUSED_CODE = "idempotency_key_reused"  # 422: the key was first used for another request
MAX_ANSWER_AMOUNT = Decimal("100000000")
# What `d400 acquirer serve` takes; another service's contract narrows it (D400_ACQUIRER_BRANDS).
DEFAULT_BRANDS = frozenset({Brand.CB, Brand.VISA, Brand.MASTERCARD, Brand.MAESTRO})


def _text(data: dict[str, Any], name: str, size: int = 200) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(name)
    return value[:size] if value is not None else None


def response_from_json(data: Any) -> AcquirerResponse:
    """An answer of the service, checked field by field: anything else than the documented object
    raises ValueError (the adapter then reports a malformed answer, never a wrong outcome)."""
    if not isinstance(data, dict):
        raise ValueError("not an object")
    code = data.get("code")
    if not isinstance(code, str) or not 1 <= len(code) <= 4:
        raise ValueError("code")
    amount = data.get("amount")
    if amount is not None:
        if not isinstance(amount, str | int) or isinstance(amount, bool):
            raise ValueError("amount")
        amount = Decimal(str(amount))
        if not amount.is_finite() or not 0 <= amount < MAX_ANSWER_AMOUNT:
            raise ValueError("amount")
    return AcquirerResponse(
        outcome=Outcome(data["outcome"]),
        code=code,
        reference=_text(data, "reference", 80),
        auth_code=_text(data, "auth_code", 12),
        token=_text(data, "token", 80),
        amount=amount,
        message=_text(data, "message") or "",
        network=_text(data, "network", 12),
        cvv=_cvv(data.get("cvv_result")),
    )


def _cvv(value: Any) -> CvvResult | None:
    """The service's CVV check (absent from a service that does not say: None)."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in CvvResult.__members__:
        raise ValueError("cvv_result")
    return CvvResult(value)


def source_to_json(source: PaymentSource) -> dict[str, Any]:
    if source.card is not None:
        card: dict[str, Any] = {"pan": source.card.pan, "expiry": str(source.card.expiry)}
        if source.card.cvv:
            card["cvv"] = source.card.cvv
        body: dict[str, Any] = {"card": card}
    else:
        body = {"token": source.token}
    if source.network is not None:
        body["network"] = source.network.value  # the network chosen on a co-badged card
    return body


class HttpAcquirer:
    """Adapter to `d400 acquirer serve` (or any service speaking the same OpenAPI document)."""

    name = "http"
    capabilities = OPERATIONS | {MULTICAPTURE, PARTIAL_VOID}

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        brands: frozenset[Brand] | None = None,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        retries: int = 1,
        max_connections: int = 128,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.brands = brands or DEFAULT_BRANDS
        self._http = HttpTransport(
            self.name,
            base_url,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            retries=retries,
            max_connections=max_connections,
            headers={"Accept": "application/json", **({API_KEY_HEADER: api_key} if api_key else {})},
            aiohttp=True,
            transport=transport,
        )
        self.base_url = self._http.base_url
        self._authorizations = self._http.url("/v1/authorizations")
        self._verifications = self._http.url("/v1/verifications")

    def __repr__(self) -> str:  # the API key stays out of reprs
        return f"HttpAcquirer({self.base_url!r})"

    async def _send(
        self, method: str, path: str | httpx.URL, key: str | None, body: dict[str, Any] | None
    ) -> AcquirerResponse:
        status, data = await self._http.send(method, path, key, json=body)
        if status != 200:
            # 400/404/413/422: the request itself was refused; an answer, not an outage.
            error = data if isinstance(data, dict) else {}
            message = str(error.get("error") or f"request refused ({status})")[:200]
            if status == 422 and error.get("code") == KEY_REUSED_CODE:
                return AcquirerResponse(Outcome.DECLINED, KEY_REUSED, message=message)
            return AcquirerResponse(Outcome.DECLINED, "30", message=message)
        try:
            return response_from_json(data)
        except (KeyError, ValueError, TypeError, InvalidOperation):
            raise AcquirerUnavailable(f"{self.name}: malformed answer") from None

    async def authorize(self, source: PaymentSource, amount: Decimal, key: str) -> AcquirerResponse:
        return await self._send("POST", self._authorizations, key, {**source_to_json(source), "amount": str(amount)})

    async def verify(self, source: PaymentSource, key: str) -> AcquirerResponse:
        return await self._send("POST", self._verifications, key, source_to_json(source))

    async def void(self, reference: str, key: str) -> AcquirerResponse:
        return await self._send("POST", f"/v1/authorizations/{quote(reference, safe='')}/void", key, {})

    async def capture(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        path = f"/v1/authorizations/{quote(reference, safe='')}/capture"
        return await self._send("POST", path, key, {"amount": str(amount)})

    async def capture_partial(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        path = f"/v1/authorizations/{quote(reference, safe='')}/capture"
        return await self._send("POST", path, key, {"amount": str(amount), "final": False})

    async def release(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        path = f"/v1/authorizations/{quote(reference, safe='')}/release"
        return await self._send("POST", path, key, {"amount": str(amount)})

    async def status(self, key: str) -> AcquirerResponse:
        return await self._send("GET", f"/v1/operations/{quote(key, safe='')}", None, None)

    async def ping(self) -> str:
        """For `d400 acquirer check`: raises AcquirerUnavailable when the service does not answer."""
        try:
            r = await self._http.client.get("/v1/health")
        except httpx.HTTPError as e:
            raise AcquirerUnavailable(f"{self.name}: {in_words(e)} ({self.base_url})") from None
        if r.status_code != 200:
            raise AcquirerUnavailable(f"{self.name}: health check answered {r.status_code}")
        return "health check 200"

    async def close(self) -> None:
        await self._http.close()
