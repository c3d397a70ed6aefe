"""The `http` acquirer: a JSON API (the simulated issuer's `simulator/http_server.py`, or any
service speaking its OpenAPI document), through one shared httpx.AsyncClient.

One pooled client for the whole process, because a pre-check run sends thousands of
requests and a new TCP connection each time would halve the throughput. Connect and read
timeouts come from config; a timeout raises AcquirerUnavailable (the engine records UNKNOWN).
Retries happen only when the request certainly never reached the server (connection refused,
connect timeout, a pooled keep-alive connection closed under us) and always with the same
Idempotency-Key, which the server honours: a retry can never make a second hold."""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import httpx
from httpx_aiohttp import AiohttpTransport

from d400tui.domain.cards import Brand

from .base import KEY_REUSED, OPERATIONS, AcquirerResponse, AcquirerUnavailable, Outcome, PaymentSource
from .simulator import DEFAULT_BRANDS

API_KEY_HEADER = "X-Api-Key"
IDEMPOTENCY_HEADER = "Idempotency-Key"
KEY_REUSED_CODE = "idempotency_key_reused"  # 422: the key was first used for another request
MAX_ANSWER_AMOUNT = Decimal("100000000")

# Errors where httpx did not send the request (or the server closed an idle pooled connection
# before reading it): safe to send again with the same key.
_SAFE_TO_RETRY = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.PoolTimeout)


class _NoCookies(httpx.Cookies):
    """An acquirer API is stateless: no cookie is kept or sent. httpx would otherwise parse every
    answer for Set-Cookie through http.cookiejar (about 20 µs a call, measured)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        pass


class _AcquirerClient(httpx.AsyncClient):
    """httpx.AsyncClient without a cookie jar (see _NoCookies)."""

    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, value: Any) -> None:
        pass


_NO_COOKIES = _NoCookies()


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
    )


def source_to_json(source: PaymentSource) -> dict[str, Any]:
    if source.card is not None:
        card: dict[str, Any] = {"pan": source.card.pan, "expiry": str(source.card.expiry)}
        if source.card.cvv:
            card["cvv"] = source.card.cvv
        return {"card": card}
    return {"token": source.token}


class HttpAcquirer:
    """Adapter to `d400 acquirer serve` (or any service speaking the same OpenAPI document)."""

    name = "http"
    capabilities = OPERATIONS

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        brands: frozenset[Brand] = DEFAULT_BRANDS,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        retries: int = 1,
        max_connections: int = 128,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Absolute URLs parsed once: merging a relative path into base_url costs httpx as much as
        # building the rest of the request (measured 72 µs against 35 µs a request).
        self._authorizations = httpx.URL(self.base_url + "/v1/authorizations")
        self._verifications = httpx.URL(self.base_url + "/v1/verifications")
        self.brands = brands
        self.timeout_s = timeout_s
        self.retries = retries
        headers = {"Accept": "application/json"}
        if api_key:
            headers[API_KEY_HEADER] = api_key
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        if transport is None:
            # httpcore's own pool tops out near 950 requests/s here and falls to 110-660/s with 64
            # requests in flight; the aiohttp transport keeps httpx's API and does ~1,140/s (bench/).
            transport = AiohttpTransport(limits=limits)
        self._client = _AcquirerClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=timeout_s),
            limits=limits,
            transport=transport,
        )

    def __repr__(self) -> str:  # the API key stays out of reprs
        return f"HttpAcquirer({self.base_url!r})"

    async def _send(
        self, method: str, path: str | httpx.URL, key: str | None, body: dict[str, Any] | None
    ) -> AcquirerResponse:
        headers = {IDEMPOTENCY_HEADER: key} if key else None
        url = path if isinstance(path, httpx.URL) else self.base_url + path
        attempt = 0
        while True:
            try:
                r = await self._client.request(method, url, json=body, headers=headers)
                break
            except _SAFE_TO_RETRY as e:
                if attempt >= self.retries:
                    raise AcquirerUnavailable(f"{self.name}: {type(e).__name__} ({self.base_url})") from None
                attempt += 1
                await asyncio.sleep(0.05 * attempt)
            except httpx.TimeoutException:
                raise AcquirerUnavailable(f"{self.name}: no answer within {self.timeout_s:g} s") from None
            except httpx.HTTPError as e:
                raise AcquirerUnavailable(f"{self.name}: {type(e).__name__}") from None
        if r.status_code == 401:
            raise AcquirerUnavailable(f"{self.name}: API key refused by the acquirer (401)")
        if r.status_code >= 500:
            raise AcquirerUnavailable(f"{self.name}: acquirer error {r.status_code}")
        try:
            data = r.json()
        except (ValueError, RecursionError):
            raise AcquirerUnavailable(f"{self.name}: unreadable answer ({r.status_code})") from None
        if r.status_code != 200:
            # 400/404/413/422: the request itself was refused; an answer, not an outage.
            error = data if isinstance(data, dict) else {}
            message = str(error.get("error") or f"request refused ({r.status_code})")[:200]
            if r.status_code == 422 and error.get("code") == KEY_REUSED_CODE:
                return AcquirerResponse(Outcome.DECLINED, KEY_REUSED, message=message)
            return AcquirerResponse(Outcome.DECLINED, "30", message=message)
        try:
            return response_from_json(data)
        except (KeyError, ValueError, TypeError, InvalidOperation):
            raise AcquirerUnavailable(f"{self.name}: malformed answer") from None

    async def authorize(self, source: PaymentSource, amount: Decimal, key: str) -> AcquirerResponse:
        return await self._send(
            "POST", self._authorizations, key, {**source_to_json(source), "amount": str(amount)}
        )

    async def verify(self, source: PaymentSource, key: str) -> AcquirerResponse:
        return await self._send("POST", self._verifications, key, source_to_json(source))

    async def void(self, reference: str, key: str) -> AcquirerResponse:
        return await self._send("POST", f"/v1/authorizations/{quote(reference, safe='')}/void", key, {})

    async def capture(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        path = f"/v1/authorizations/{quote(reference, safe='')}/capture"
        return await self._send("POST", path, key, {"amount": str(amount)})

    async def status(self, key: str) -> AcquirerResponse:
        return await self._send("GET", f"/v1/operations/{quote(key, safe='')}", None, None)

    async def ping(self) -> str:
        """For `d400 acquirer check`: raises AcquirerUnavailable when the service does not answer."""
        try:
            r = await self._client.get("/v1/health")
        except httpx.HTTPError as e:
            raise AcquirerUnavailable(f"{self.name}: {type(e).__name__} ({self.base_url})") from None
        if r.status_code != 200:
            raise AcquirerUnavailable(f"{self.name}: health check answered {r.status_code}")
        return "health check 200"

    async def close(self) -> None:
        await self._client.aclose()
