"""The HTTP transport the `http` and `stripe` adapters share: one pooled client, its retries and
what a failure means, written once.

One pooled client per adapter for the whole process, because a pre-check run sends thousands of
requests and a new TCP connection each time would halve the throughput. Connect and read
timeouts come from config; a timeout raises AcquirerUnavailable (the engine records UNKNOWN).
Retries happen only when the request certainly never reached the server (connection refused,
connect timeout, a pooled keep-alive connection closed under us, no free connection) and always
with the same Idempotency-Key, which the server honours: a retry can never make a second hold.

Before an adapter reads an answer, three are no answer at all: 401 (our key refused), a server
error (5xx, and whatever the adapter names busy: 429 on Stripe) and a body that is not JSON."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from .base import AcquirerUnavailable, NotSent, in_words

IDEMPOTENCY_HEADER = "Idempotency-Key"

# Errors where httpx did not send the request (or the server closed an idle pooled connection
# before reading it): safe to send again with the same key.
NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)  # no byte of the request left
SAFE_TO_RETRY = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.PoolTimeout)


def never_sent(e: httpx.HTTPError) -> bool:
    """Whether no byte of the request can have reached the acquirer — what makes a failover safe.
    httpx_aiohttp maps every aiohttp connection error to ConnectTimeout, among them a server that
    closed the connection *after* reading the request (ServerDisconnectedError: the acquirer
    killed mid-call may have made its hold): the aiohttp cause says which it was, and only a
    connection never opened (ClientConnectorError: refused, unreachable, no route) is "never"."""
    if not isinstance(e, NEVER_SENT):
        return False
    cause = e.__cause__
    return not isinstance(cause, aiohttp.ClientError) or isinstance(cause, aiohttp.ClientConnectorError)


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


class HttpTransport:
    """One acquirer API's client. `send` returns (status, decoded JSON) of an answer the adapter
    must read, or raises AcquirerUnavailable; `client` is there for calls outside that contract
    (a health check)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        retries: int,
        max_connections: int,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        busy_statuses: frozenset[int] = frozenset(),
        aiohttp: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = retries
        self.busy_statuses = busy_statuses
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        if transport is None and aiohttp:
            # httpcore's own pool tops out near 950 requests/s here and falls to 110-660/s with 64
            # requests in flight; the aiohttp transport keeps httpx's API and does ~1,140/s (bench/).
            transport = AiohttpTransport(limits=limits)
        self.client = _AcquirerClient(
            base_url=self.base_url,
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s, pool=timeout_s),
            limits=limits,
            transport=transport,
        )

    def url(self, path: str) -> httpx.URL:
        """An absolute URL parsed once: merging a relative path into base_url costs httpx as much
        as building the rest of the request (measured 72 µs against 35 µs a request)."""
        return httpx.URL(self.base_url + path)

    async def send(self, method: str, url: str | httpx.URL, key: str | None = None, **kwargs: Any) -> tuple[int, Any]:
        """One request under idempotency key `key` (kwargs: httpx's json, data, params)."""
        headers = {IDEMPOTENCY_HEADER: key} if key else None
        if not isinstance(url, httpx.URL):
            url = self.base_url + url
        attempt = 0
        sent = False  # whether any attempt may have reached the acquirer (failover needs "never")
        while True:
            try:
                r = await self.client.request(method, url, headers=headers, **kwargs)
                break
            except SAFE_TO_RETRY as e:
                sent = sent or not never_sent(e)
                if attempt >= self.retries:
                    error = AcquirerUnavailable if sent else NotSent
                    raise error(f"{self.name}: {in_words(e)} ({self.base_url})") from None
                attempt += 1
                await asyncio.sleep(0.05 * attempt)
            except httpx.TimeoutException:
                raise AcquirerUnavailable(f"{self.name}: no answer within {self.timeout_s:g} s") from None
            except httpx.HTTPError as e:
                raise AcquirerUnavailable(f"{self.name}: {in_words(e)}") from None
        if r.status_code == 401:
            raise AcquirerUnavailable(f"{self.name}: API key refused by the acquirer (401)")
        if r.status_code >= 500 or r.status_code in self.busy_statuses:
            raise AcquirerUnavailable(f"{self.name}: acquirer error {r.status_code}")
        try:
            return r.status_code, r.json()
        except (ValueError, RecursionError):
            raise AcquirerUnavailable(f"{self.name}: unreadable answer ({r.status_code})") from None

    async def close(self) -> None:
        await self.client.aclose()
