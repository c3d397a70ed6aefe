"""A circuit breaker around any Acquirer.

When the provider is down, every order would otherwise wait out a full timeout before the
operator hears "Service d'autorisation indisponible". After `failures` consecutive transport
failures the circuit opens and calls fail at once; after `reset_s` one probe call is let
through (half-open): its success closes the circuit, its failure re-opens it.

Only AcquirerUnavailable counts as a failure: a refusal is an answer, the service is up."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from .base import Acquirer, AcquirerResponse, AcquirerUnavailable, BatchAnswer, NotSent, PaymentSource

T = TypeVar("T")


class BreakerState(StrEnum):
    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"


class CircuitOpen(NotSent):
    """Failed fast: the circuit is open, nothing was sent (the outcome is known: no request)."""


class CircuitBreaker:
    """Wraps an acquirer and exposes the same protocol, so the engine does not know it is there."""

    def __init__(
        self,
        inner: Acquirer,
        failures: int = 5,
        reset_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.failures = failures
        self.reset_s = reset_s
        self.clock = clock
        self.name = inner.name
        self.brands = inner.brands
        self.settlement: frozenset[str] = getattr(inner, "settlement", frozenset())
        self._consecutive = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def capabilities(self) -> frozenset[str]:
        """The inner adapter's, as they stand (an adapter may drop one its server turns out to lack)."""
        return self.inner.capabilities

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probing or self.clock() - self._opened_at >= self.reset_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def _admit(self) -> bool:
        """True if this call is the half-open probe; raises CircuitOpen if it must fail fast."""
        if self._opened_at is None:
            return False
        if not self._probing and self.clock() - self._opened_at >= self.reset_s:
            self._probing = True
            return True
        raise CircuitOpen(f"circuit open: {self.name} failed {self._consecutive} times in a row")

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        probe = self._admit()
        try:
            result = await fn()
        except AcquirerUnavailable:
            self._consecutive += 1
            if probe or self._consecutive >= self.failures:
                self._opened_at = self.clock()
            if probe:
                self._probing = False
            raise
        except BaseException:
            if probe:  # not a transport verdict (e.g. cancelled): let the next call probe again
                self._probing = False
            raise
        self._consecutive = 0
        self._opened_at = None
        self._probing = False
        return result

    async def authorize(self, source: PaymentSource, amount: Decimal, key: str) -> AcquirerResponse:
        return await self._call(lambda: self.inner.authorize(source, amount, key))

    async def verify(self, source: PaymentSource, key: str) -> AcquirerResponse:
        return await self._call(lambda: self.inner.verify(source, key))

    async def void(self, reference: str, key: str) -> AcquirerResponse:
        return await self._call(lambda: self.inner.void(reference, key))

    async def capture(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        return await self._call(lambda: self.inner.capture(reference, amount, key))

    async def capture_partial(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        return await self._call(lambda: self.inner.capture_partial(reference, amount, key))  # type: ignore[attr-defined]

    async def release(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        return await self._call(lambda: self.inner.release(reference, amount, key))  # type: ignore[attr-defined]

    async def status(self, key: str) -> AcquirerResponse:
        return await self._call(lambda: self.inner.status(key))

    async def batch_totals(self, count: int, amount: Decimal, key: str) -> BatchAnswer:
        """The inner adapter's batch total (only when it declares BATCH_TOTALS)."""
        inner: Any = self.inner
        return await self._call(lambda: inner.batch_totals(count, amount, key))

    async def close(self) -> None:
        await self.inner.close()
