"""Read models the screens and the CLI show: a row of the order list, the list's filter, and what a
walk of the audit chain found.

They live in `domain/` because three layers meet on them: the store fills them straight from its
queries, the engine hands them on unchanged (`engine.views` is where screens import them), and the
store may not import the engine. Defining them one layer below both keeps the import flow one way
without a second copy of each class and a field-by-field mapping that would only repeat it. Plain
frozen dataclasses: no framework, no I/O, as everything in `domain/`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .model import Channel, OrderStatus, PaymentHold


@dataclass(frozen=True)
class OrderFilter:
    status: OrderStatus | None = None
    hold: PaymentHold | None = None
    customer_id: int | None = None
    channel: Channel | None = None
    since: date | None = None
    until: date | None = None
    awaiting_decision: bool | None = None
    created_by: str | None = None  # "mes commandes": the operator who entered them
    expiring_within_h: int | None = None
    """Orders whose live authorization lapses within that many hours from now (not yet lapsed)."""


@dataclass(frozen=True)
class OrderRow:
    id: int
    order_date: date
    customer_id: int
    customer_name: str
    channel: str
    status: str
    hold: str
    payment_method: str
    total: Decimal
    card: str
    awaiting_decision: bool
    authorized_until: datetime | None = None
    """When the order's live authorization that lapses first stops holding (None: none holds)."""


@dataclass(frozen=True)
class PendingVoid:
    """A void that did not get through yet (service down), for the supervisors' list: the hold
    it leaves on the cardholder's account, since when, and the retries on their backoff."""

    auth_id: int
    order_id: int
    customer_name: str
    amount: Decimal
    card: str
    acquirer: str
    initiator: str
    state: str
    held_since: datetime | None  # the Visa misuse-of-authorization clock runs from here
    expires_at: datetime | None
    attempts: int
    first_try: datetime | None
    last_try: datetime | None
    next_try: datetime | None


@dataclass(frozen=True)
class ChainCheck:
    """What a walk of the audit chain found: records checked, the head hash (to keep outside the
    database), and the first broken link (record id and why) when there is one."""

    checked: int
    head_hash: str
    broken_id: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_id is None and not self.reason
