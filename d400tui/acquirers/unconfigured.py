"""Stands for an acquirer an authorization names that is no longer configured (the settings
changed since it was made). Its holds are at that acquirer: a void, capture or status query sent
to whichever acquirer is first now would get "unknown authorization" back, and the real hold
would be forgotten as done. Every call here fails as not sent, so a void stays PENDING on its
backoff, a capture or an UNKNOWN row waits, each with a line naming the acquirer to set up again."""

from __future__ import annotations

from decimal import Decimal
from typing import NoReturn

from d400tui.domain.cards import Brand

from .base import AcquirerResponse, NotSent, PaymentSource


class Unconfigured:
    """An acquirer by name only: nothing can be sent to it."""

    brands: frozenset[Brand] = frozenset()
    capabilities: frozenset[str] = frozenset()

    def __init__(self, name: str) -> None:
        self.name = name

    def _refuse(self) -> NoReturn:
        raise NotSent(f"acquirer {self.name} is not configured")

    async def authorize(self, source: PaymentSource, amount: Decimal, key: str) -> AcquirerResponse:
        self._refuse()

    async def verify(self, source: PaymentSource, key: str) -> AcquirerResponse:
        self._refuse()

    async def void(self, reference: str, key: str) -> AcquirerResponse:
        self._refuse()

    async def capture(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        self._refuse()

    async def capture_partial(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        self._refuse()

    async def release(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        self._refuse()

    async def status(self, key: str) -> AcquirerResponse:
        self._refuse()

    async def close(self) -> None:
        return None
