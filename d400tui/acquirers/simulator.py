"""The embedded default acquirer: the simulated issuer called in-process, with the latency,
faults and timeout a network would add (settable from config for benches and tests).

The one adapter that imports `d400tui.simulator`: it has no transport, the issuer is its far
end. Every other adapter reaches the simulator only over a socket, as it would a real acquirer."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

from d400tui.config import Settings
from d400tui.domain.cards import Brand
from d400tui.simulator.issuer import Issuer, IssuerAnswer, issuer_from_settings

from .base import MULTICAPTURE, OPERATIONS, PARTIAL_VOID, AcquirerResponse, AcquirerUnavailable, PaymentSource

DEFAULT_BRANDS = frozenset({Brand.CB, Brand.VISA, Brand.MASTERCARD, Brand.MAESTRO})  # what the simulated issuer takes


class SimulatorAcquirer:
    name = "simulator"
    capabilities = OPERATIONS | {MULTICAPTURE, PARTIAL_VOID}

    def __init__(
        self,
        issuer: Issuer,
        brands: frozenset[Brand] | None = None,
        latency_s: float = 0.0,
        timeout_s: float = 10.0,
        fault_rate: float = 0.0,
        lost_answer_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.issuer = issuer
        self.brands = brands or DEFAULT_BRANDS
        self.latency_s = latency_s
        self.timeout_s = timeout_s
        self.fault_rate = fault_rate
        self.lost_answer_rate = lost_answer_rate
        self._rnd = random.Random(seed)

    async def _call(self, fn, *args) -> AcquirerResponse:  # type: ignore[no-untyped-def]
        if self.fault_rate and self._rnd.random() < self.fault_rate:
            raise AcquirerUnavailable("simulated transport fault (request lost)")
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        answer: IssuerAnswer = fn(*args)
        wait = answer.delay_s
        if answer.hang or wait >= self.timeout_s:
            await asyncio.sleep(self.timeout_s)
            raise AcquirerUnavailable(f"no answer within {self.timeout_s:g} s")
        if wait:
            await asyncio.sleep(wait)
        if self.lost_answer_rate and self._rnd.random() < self.lost_answer_rate:
            raise AcquirerUnavailable("simulated transport fault (answer lost)")
        return answer.response

    async def authorize(self, source: PaymentSource, amount: Decimal, key: str) -> AcquirerResponse:
        return await self._call(self.issuer.authorize, source, amount, key)

    async def verify(self, source: PaymentSource, key: str) -> AcquirerResponse:
        return await self._call(self.issuer.authorize, source, Decimal("0.00"), key, "VERIFY")

    async def void(self, reference: str, key: str) -> AcquirerResponse:
        return await self._call(self.issuer.void, reference, key)

    async def capture(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        return await self._call(self.issuer.capture, reference, amount, key)

    async def capture_partial(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        return await self._call(self.issuer.capture, reference, amount, key, "EUR", False)

    async def release(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        return await self._call(self.issuer.release, reference, amount, key)

    async def status(self, key: str) -> AcquirerResponse:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return self.issuer.status(key)

    async def close(self) -> None:
        """The issuer's file stays open: it belongs to whoever built it."""


def simulator_from_settings(settings: Settings, brands: frozenset[Brand] | None = None) -> SimulatorAcquirer:
    """The simulator as configured: the issuer's state file, latency, faults and timeout."""
    return SimulatorAcquirer(
        issuer_from_settings(settings),
        brands=brands,
        latency_s=settings.simulator_latency_ms / 1000,
        timeout_s=settings.acquirer_timeout,
        fault_rate=settings.simulator_fault_rate,
    )
