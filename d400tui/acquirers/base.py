"""The one interface every acquirer adapter offers (ActiveMerchant's gateway shape).

Every call carries the idempotency key of our Authorization row: the same key sent twice never
makes a second hold. A transport failure raises AcquirerUnavailable; the engine then records
UNKNOWN and the reconciler asks `status(key)` later."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from d400tui.domain.cards import Brand, CardData, CvvResult


class Outcome(StrEnum):
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    VOIDED = "VOIDED"
    CAPTURED = "CAPTURED"
    NOT_FOUND = "NOT_FOUND"  # status(): the acquirer never saw this key


class AcquirerUnavailable(Exception):
    """No answer: timeout, refused connection, broken socket, open circuit. The outcome of the
    request is unknown; it may or may not have reached the issuer."""


class NotSent(AcquirerUnavailable):
    """The request never left: connection refused, circuit open. Nothing can have been held, so
    the outcome is known (no authorization) and another acquirer may be asked (failover); a
    time-out or a broken answer is never this (the request may have reached the issuer)."""


def in_words(error: BaseException) -> str:
    """A transport error said in words ("connect timeout", "connection reset error"), for the
    message of an AcquirerUnavailable: no exception class name reaches a log line or the screen."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", type(error).__name__).lower()


class Unsupported(Exception):
    """The adapter cannot offer this operation at all (declared in `capabilities`)."""


@dataclass(frozen=True, slots=True)
class AcquirerResponse:
    outcome: Outcome
    code: str  # ISO 8583 field-39 style code ('00' approved)
    reference: str | None = None  # the acquirer's id for the hold (needed for void/capture)
    auth_code: str | None = None  # the authorization number the operator reads out
    token: str | None = None  # reusable card token when the request carried card data
    amount: Decimal | None = None  # held (status) or captured
    message: str = ""
    network: str | None = None  # the network the acquirer routed it on (CB, VISA, ...), when it says
    cvv: CvvResult | None = None  # the issuer's CVV check, when it says (never the CVV itself)

    @property
    def approved(self) -> bool:
        return self.outcome is Outcome.APPROVED


@dataclass(frozen=True, slots=True)
class PaymentSource:
    """Card data at entry, or the token the acquirer gave for it afterwards. Never both stored."""

    token: str | None = None
    card: CardData | None = field(default=None, repr=False)
    network: Brand | None = None
    """The network chosen for this card (a co-badged card's CB or Visa/Mastercard), sent with
    every call on it; None: the acquirer's default routing."""

    def __post_init__(self) -> None:
        if (self.token is None) == (self.card is None):
            raise ValueError("a payment source is a card or a token")
        if self.network is None and self.card is not None and self.card.network is not None:
            object.__setattr__(self, "network", self.card.network)


OPERATIONS = frozenset({"authorize", "verify", "void", "capture", "status"})
MULTICAPTURE = "multicapture"
"""Capability: `capture_partial` takes part of a hold and keeps the rest held for the next parcel
(Stripe's multicapture, ISO 8583 completions with more to follow); `capture` stays the final one,
which releases whatever it does not take."""
PARTIAL_VOID = "partial_void"
"""Capability: `release` gives back part of a hold without capturing it (a partial reversal)."""

KEY_REUSED = "94"
"""Field-39 code of a refusal because the idempotency key was first used for another request
(ISO 8583 "duplicate transmission"): every adapter answers it DECLINED, never APPROVED."""


@runtime_checkable
class Acquirer(Protocol):
    name: str
    brands: frozenset[Brand]
    capabilities: frozenset[str]

    async def authorize(self, source: PaymentSource, amount: Decimal, key: str) -> AcquirerResponse: ...

    async def verify(self, source: PaymentSource, key: str) -> AcquirerResponse: ...

    async def void(self, reference: str, key: str) -> AcquirerResponse: ...

    async def capture(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse: ...

    async def status(self, key: str) -> AcquirerResponse: ...

    async def close(self) -> None: ...


# -- settle branch (issue 12.5): the batch total of an ISO 8583 host (0500/0510) -------------------
BATCH_TOTALS = "batch_totals"
"""In an adapter's optional `settlement` set (beside `capabilities`, which names the protocol's
operations): its host takes a reconciliation request, `batch_totals(count, amount, key)`."""


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """The host's answer to our batch total: in balance or not, and its own count and amount."""

    in_balance: bool
    count: int
    amount: Decimal
    code: str  # field 39: '00' in balance, '95' reconcile error (out of balance), '94' key reused


@runtime_checkable
class PartialCapture(Protocol):
    """What an adapter declaring MULTICAPTURE and/or PARTIAL_VOID offers besides the protocol
    above. An adapter that finds at run time that its server cannot do it raises Unsupported
    before anything was captured; the engine then captures once and re-authorizes the rest."""

    async def capture_partial(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        """Capture `amount` (CAPTURED), the rest of the hold stays held."""
        ...

    async def release(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        """Release `amount` of the hold (VOIDED), the rest stays held."""
        ...
