"""The order-entry aggregate and the authorization lifecycle, in plain Python.

Invariants live here (illegal transitions raise); the engine decides *when*, the domain says
*whether*."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from .cards import Brand, CvvResult, MaskedCard
from .message import Message, MessageError
from .money import money, split
from .validity import AuthType, Initiator


class DomainError(MessageError):
    """An operation the rules refuse; its message (a key and parameters) is for the operator."""


class Channel(StrEnum):
    PHONE = "PHONE"
    MAIL = "MAIL"
    WEB = "WEB"
    SHOP = "SHOP"


class OrderStatus(StrEnum):
    DRAFT = "DRAFT"
    VALIDATED = "VALIDATED"
    INVOICED = "INVOICED"
    CANCELLED = "CANCELLED"
    DELETED = "DELETED"  # removed from every list; the row stays for the audit trail and pending voids


class PaymentHold(StrEnum):
    NONE = "NONE"
    BLOCKED = "BLOCKED"
    RELEASED = "RELEASED"


class PaymentMethod(StrEnum):
    CARD = "CARD"
    CHEQUE = "CHEQUE"
    TRANSFER = "TRANSFER"
    COD = "COD"


class InstalmentState(StrEnum):
    PENDING = "PENDING"  # due, not yet paid
    CAPTURED = "CAPTURED"  # paid through capture
    CANCELLED = "CANCELLED"  # dropped (deferred cancelled) or order cancelled


class AuthState(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    DECLINED = "DECLINED"
    UNKNOWN = "UNKNOWN"
    VOIDED = "VOIDED"
    CAPTURED = "CAPTURED"
    EXPIRED = "EXPIRED"


LIVE_STATES = (AuthState.REQUESTED, AuthState.APPROVED, AuthState.UNKNOWN)


class AuthKind(StrEnum):
    AUTHORIZE = "AUTHORIZE"  # holds an amount
    VERIFY = "VERIFY"  # zero-amount card check for instalments due later


class Category(StrEnum):
    APPROVED = "APPROVED"
    IDENTIFICATION = "IDENTIFICATION"
    BLOCKED = "BLOCKED"
    CEILING = "CEILING"
    UNAVAILABLE = "UNAVAILABLE"
    OTHER = "OTHER"
    NOT_ACCEPTED = "NOT_ACCEPTED"  # brand the acquirer's contract does not take: refused before any call


class RetryClass(StrEnum):
    """What the schemes allow after a refusal (data/response_codes.csv): never present the card
    again, retry later (counted), correct the card data and retry, or the service failed."""

    NEVER = "NEVER"
    LATER = "LATER"
    CORRECT = "CORRECT"
    SERVICE = "SERVICE"
    NONE = "NONE"  # an approval: nothing to retry


class DecisionKind(StrEnum):
    BLOCK = "BLOCK"
    RELEASE = "RELEASE"
    CHANGE_METHOD = "CHANGE_METHOD"
    RETRY = "RETRY"
    FAILOVER = "FAILOVER"  # a retry sent to the secondary acquirer (the first is definitely down)


class VoidState(StrEnum):
    NONE = "NONE"
    PENDING = "PENDING"  # a void was asked and did not get through: the reconciler retries it
    DONE = "DONE"


_TRANSITIONS: dict[AuthState, set[AuthState]] = {
    AuthState.REQUESTED: {AuthState.APPROVED, AuthState.DECLINED, AuthState.UNKNOWN},
    AuthState.UNKNOWN: {AuthState.APPROVED, AuthState.DECLINED, AuthState.VOIDED},
    AuthState.APPROVED: {AuthState.CAPTURED, AuthState.VOIDED, AuthState.EXPIRED},
    AuthState.DECLINED: set(),
    AuthState.VOIDED: set(),
    AuthState.CAPTURED: set(),
    AuthState.EXPIRED: {AuthState.VOIDED},
}


class IllegalTransition(DomainError):
    pass


def check_transition(current: AuthState, target: AuthState) -> None:
    if target not in _TRANSITIONS[current]:
        raise IllegalTransition("engine.illegal_transition", current=current, target=target)


@dataclass
class Customer:
    id: int
    name: str
    postcode: str
    city: str
    phone: str = ""


@dataclass
class Article:
    code: str
    label: str
    unit_price: Decimal
    vat_rate: Decimal  # percent, e.g. 20.00


@dataclass(eq=False)
class OrderLine:
    article_code: str
    label: str
    quantity: int
    unit_price: Decimal  # excluding VAT
    vat_rate: Decimal

    def __post_init__(self) -> None:
        if not 1 <= self.quantity <= 9999:
            raise DomainError("engine.quantity")

    @property
    def net(self) -> Decimal:
        return money(self.unit_price * self.quantity)

    @property
    def vat(self) -> Decimal:
        return money(self.net * self.vat_rate / 100)

    @property
    def gross(self) -> Decimal:
        return self.net + self.vat


@dataclass(eq=False)
class Instalment:
    seq: int
    due_date: date
    amount: Decimal
    state: InstalmentState = InstalmentState.PENDING
    id: int | None = None
    order_id: int | None = None
    authorized_until: datetime | None = None
    """Validity limit of the live authorization, None when none: the pre-check selects on it."""
    auth_pending: bool = False
    """An authorization for it is REQUESTED or UNKNOWN: no new operation until it is settled."""
    precheck_run_id: int | None = None
    """The last pre-check run that claimed it, so one run never takes it twice."""
    capture_run_id: int | None = None
    """The last capture run that took it (captured, refused or skipped it): one run takes it once."""

    def is_deferred(self, order_date: date) -> bool:
        return self.seq > 1 or self.due_date > order_date


class PlanKind(StrEnum):
    IMMEDIATE = "immediate"
    DEFERRED = "deferred"
    INSTALMENTS = "instalments"


@dataclass(frozen=True)
class Plan:
    kind: PlanKind = PlanKind.IMMEDIATE
    deferred_to: date | None = None
    count: int = 1

    @staticmethod
    def parse(text: str, today: date) -> Plan:
        """`immediate`, `deferred:YYYY-MM-DD` or `instalments:N` (CLI and screen alike)."""
        t = text.strip().lower()
        if t in ("", "immediate", "i"):
            return Plan()
        kind, _, arg = t.partition(":")
        if kind in ("deferred", "d"):
            try:
                when = date.fromisoformat(arg)
            except ValueError as exc:
                raise DomainError("engine.deferred_format") from exc
            if when <= today:
                raise DomainError("engine.deferred_future")
            if when > today + timedelta(days=366):
                raise DomainError("engine.deferred_year")
            return Plan(PlanKind.DEFERRED, deferred_to=when)
        if kind in ("instalments", "n"):
            if not arg.isdigit() or not 2 <= int(arg) <= 12:
                raise DomainError("engine.instalments_count")
            return Plan(PlanKind.INSTALMENTS, count=int(arg))
        raise DomainError("engine.plan")

    def __str__(self) -> str:
        if self.kind is PlanKind.DEFERRED:
            return f"deferred:{self.deferred_to}"
        if self.kind is PlanKind.INSTALMENTS:
            return f"instalments:{self.count}"
        return "immediate"

    def schedule(self, total: Decimal, today: date) -> list[Instalment]:
        """Immediate: one instalment today. Deferred: one instalment at the date. N instalments:
        the first today, the others monthly (same day, clamped to month end)."""
        if self.kind is PlanKind.DEFERRED:
            assert self.deferred_to
            return [Instalment(1, self.deferred_to, total)]
        if self.kind is PlanKind.INSTALMENTS:
            return [Instalment(i + 1, add_months(today, i), a) for i, a in enumerate(split(total, self.count))]
        return [Instalment(1, today, total)]


def add_months(d: date, n: int) -> date:
    import calendar

    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


@dataclass(eq=False)
class Authorization:
    """One request to the acquirer for one instalment (or a verify for the card)."""

    order_id: int
    instalment_id: int | None
    kind: AuthKind
    amount: Decimal
    idempotency_key: str
    acquirer: str
    card: MaskedCard
    state: AuthState = AuthState.REQUESTED
    id: int | None = None
    response_code: str | None = None
    category: Category | None = None
    label: str | Message | None = None  # a response-code label, or the engine's own words
    auth_code: str | None = None
    acquirer_ref: str | None = None
    captured_amount: Decimal = Decimal("0.00")
    requested_at: datetime | None = None
    answered_at: datetime | None = None
    expires_at: datetime | None = None
    void_state: VoidState = VoidState.NONE
    operator: str = ""
    capture_pending: bool = False
    """A capture was sent and its answer not yet recorded: the reconciler asks the acquirer."""
    owner: str | None = None
    """host:pid:start of the process that sent the call, while REQUESTED."""
    initiator: Initiator = Initiator.CIT
    """Who asked: the customer at the phone (CIT) or the pre-check on the stored card (MIT)."""
    auth_type: AuthType = AuthType.FINAL
    """Final authorization, or a pre-authorization (an order shipped in several parcels)."""
    void_attempts: int = 0
    """Tries of a void that did not get through (real time, then the reconciler's retries)."""
    void_first_at: datetime | None = None
    void_tried_at: datetime | None = None
    void_next_at: datetime | None = None
    """When the scheduled retry tries that void again (backoff)."""
    capture_run_id: int | None = None
    """The capture run that sent (or last sent) its capture, beside `owner`."""
    network: str | None = None
    """The network the call went on (CB, or Visa/Mastercard on the customer's request)."""
    security_check: str | None = None
    """The issuer's CVV check (a CvvResult value; None: no answer yet). Never the CVV."""

    @property
    def cvv_mismatch(self) -> bool:
        """Approved although the issuer said the CVV does not match: the operator is told."""
        return self.security_check == CvvResult.NO_MATCH.value and self.state in (
            AuthState.APPROVED,
            AuthState.CAPTURED,
        )

    @property
    def live(self) -> bool:
        """Holds money on the cardholder's account, or might: in flight (REQUESTED) or unknown."""
        return self.kind is AuthKind.AUTHORIZE and self.state in LIVE_STATES

    def move(self, target: AuthState) -> None:
        check_transition(self.state, target)
        self.state = target

    @property
    def remaining(self) -> Decimal:
        """What the hold still holds for a capture: the authorized amount less the parcels taken."""
        return self.amount - self.captured_amount if self.state is AuthState.APPROVED else Decimal("0.00")

    def check_capture(self, amount: Decimal, now: datetime) -> None:
        check_capture(self.state, self.amount, self.expires_at, amount, now)
        if amount > self.remaining:  # parcels already captured from it (shipments): the sum stays within
            raise DomainError("engine.capture_over_left", amount=amount, left=self.remaining)


def check_capture(
    state: AuthState, authorized: Decimal, expires_at: datetime | None, amount: Decimal, now: datetime
) -> None:
    """A capture of `amount` on an authorization: approved, never above what it holds, not zero, not
    expired. A function too, for the batched capture run that reads the columns, not the object."""
    if state is not AuthState.APPROVED:
        raise DomainError("engine.capture_state", state=state)
    if amount > authorized:
        raise DomainError("engine.capture_over", amount=amount, authorized=authorized)
    if amount <= 0:
        raise DomainError("engine.capture_zero")
    if expires_at and now > expires_at:
        raise DomainError("engine.auth_expired")


def validity_days(brand: Brand, table: dict[str, int], default: int = 7) -> int:
    return table.get(brand.value, default)


@dataclass(frozen=True)
class Actor:
    """Who asks: every engine call carries one, supervisor rights are checked in the engine."""

    name: str
    supervisor: bool = False


@dataclass(eq=False)
class Decision:
    order_id: int
    kind: DecisionKind
    operator: str
    at: datetime
    shown_category: str = ""
    shown_code: str = ""
    shown_label: str = ""
    authorization_id: int | None = None


@dataclass(frozen=True)
class RetryLimit:
    """At most `max_reattempts` presentations of one card after declines, over `window_days`."""

    brand: str
    max_reattempts: int
    window_days: int
    source: str = ""


class ReleaseState(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REFUSED = "REFUSED"


@dataclass
class ReleaseRequest:
    """Four eyes: an operator asked to release an order refused as lost or stolen (category
    BLOCKED); it stays blocked until a supervisor other than the asker approves."""

    order_id: int
    asked_by: str
    asked_at: datetime
    shown_category: str
    shown_code: str
    shown_label: str
    authorization_id: int | None = None
    state: ReleaseState = ReleaseState.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    id: int | None = None


@dataclass
class ResponseCode:
    code: str
    category: Category
    label_fr: str
    label_en: str
    retry_class: RetryClass = RetryClass.LATER
    visa_category: str = ""  # 1 never retry, 2 retry later, 3 data quality, 4 generic; "" not Visa's
    mc_advice: str = ""  # the Mastercard merchant advice code it answers to, where one does
    advice_fr: str = ""
    advice_en: str = ""


def order_totals(lines: list[OrderLine]) -> tuple[Decimal, Decimal, Decimal]:
    net = sum((ln.net for ln in lines), Decimal("0.00"))
    vat = sum((ln.vat for ln in lines), Decimal("0.00"))
    return net, vat, net + vat


@dataclass
class OrderDraft:
    """What an order entry carries before it is saved (screen or CLI)."""

    customer_id: int
    lines: list[OrderLine] = field(default_factory=list)
    channel: Channel = Channel.PHONE
    payment_method: PaymentMethod = PaymentMethod.CARD
    plan: Plan = field(default_factory=Plan)


@dataclass(eq=False)
class Order:
    """The aggregate: header, lines, instalments, their authorizations and the decisions taken."""

    customer_id: int
    channel: Channel
    payment_method: PaymentMethod
    created_by: str
    created_at: datetime
    order_date: date
    plan: str = "immediate"
    status: OrderStatus = OrderStatus.DRAFT
    hold: PaymentHold = PaymentHold.NONE
    awaiting_decision: bool = False
    total: Decimal = Decimal("0.00")
    card_token: str | None = field(default=None, repr=False)  # the acquirer's token: no use in a log
    token_acquirer: str | None = None
    """The acquirer that issued `card_token` (a token is only good there); None: the primary."""
    card_brand: str | None = None
    card_first6: str | None = None
    card_last4: str | None = None
    card_expiry: str | None = None
    card_network: str | None = None
    """The network chosen for the card (co-badged: CB by default), sent with every call on it."""
    cancel_reason: str | Message | None = None  # the operator's words, or why the engine closed it
    updated_at: datetime | None = None
    id: int | None = None
    version: int = 1
    lines: list[OrderLine] = field(default_factory=list)
    instalments: list[Instalment] = field(default_factory=list)
    authorizations: list[Authorization] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    # -- card ----------------------------------------------------------------------------
    @property
    def card(self) -> MaskedCard | None:
        if not self.card_last4:
            return None
        return MaskedCard(
            Brand(self.card_brand or "UNKNOWN"), self.card_first6 or "", self.card_last4, self.card_expiry or ""
        )

    def set_card(self, card: MaskedCard | None, token: str | None, token_acquirer: str | None = None) -> None:
        """A new card (typed, or on file with its token and its token's issuer) replaces both."""
        self.card_brand = card.brand.value if card else None
        self.card_first6 = card.first6 if card else None
        self.card_last4 = card.last4 if card else None
        self.card_expiry = card.expiry if card else None
        self.card_token = token
        self.token_acquirer = token_acquirer if token else None
        self.card_network = None  # set by the engine from the card's routing

    # -- instalments and authorizations ----------------------------------------------------
    def instalment(self, seq: int) -> Instalment:
        for inst in self.instalments:
            if inst.seq == seq:
                return inst
        raise DomainError("engine.instalment_unknown", seq=seq)

    def pending_instalments(self) -> list[Instalment]:
        return [i for i in sorted(self.instalments, key=lambda i: i.seq) if i.state is InstalmentState.PENDING]

    def authorizations_of(self, inst: Instalment) -> list[Authorization]:
        return [a for a in self.authorizations if a.instalment_id == inst.id and a.kind is AuthKind.AUTHORIZE]

    def live_authorization(self, inst: Instalment) -> Authorization | None:
        for a in reversed(self.authorizations_of(inst)):
            if a.state in LIVE_STATES:
                return a
        return None

    def live_authorizations(self) -> list[Authorization]:
        return [a for a in self.authorizations if a.live]

    def check_settled(self, inst: Instalment, allow_in_flight: bool = False) -> None:
        """An authorization in flight, unknown, being voided or captured freezes its instalment
        until it is answered or the reconciler settles it (no second hold, no double capture)."""
        for a in self.authorizations_of(inst):
            if a.state is AuthState.REQUESTED and not allow_in_flight:
                raise DomainError("engine.in_flight", seq=inst.seq, auth=a.id)
            if a.state is AuthState.UNKNOWN or a.void_state is VoidState.PENDING or a.capture_pending:
                raise DomainError("engine.unsettled", seq=inst.seq, auth=a.id)

    # -- status ----------------------------------------------------------------------------
    def touch(self, now: datetime) -> None:
        self.updated_at = now

    def ensure_open(self) -> None:
        if self.status in (OrderStatus.CANCELLED, OrderStatus.DELETED, OrderStatus.INVOICED):
            raise DomainError("engine.closed", order=self.id, status=STATUS_MESSAGE[self.status])

    def ensure_phone(self) -> None:
        if self.channel is not Channel.PHONE:
            raise DomainError("engine.not_phone", order=self.id, channel=self.channel.value)

    def recompute_total(self) -> None:
        self.total = order_totals(self.lines)[2]

    def validate(self) -> None:
        if self.status is not OrderStatus.DRAFT:
            raise DomainError("engine.already", order=self.id, status=STATUS_MESSAGE[self.status])
        if not self.lines:
            raise DomainError("engine.no_lines")
        self.status = OrderStatus.VALIDATED

    def ensure_no_capture_in_flight(self) -> None:
        """A capture sent and not yet answered may take the money whatever we decide now: the order
        cannot be cancelled or deleted until its answer is written (or the reconciler settles it)."""
        for a in self.authorizations:
            if a.capture_pending:
                raise DomainError("engine.capture_in_flight", order=self.id, auth=a.id)

    def cancel(self, reason: str) -> None:
        self.ensure_open()
        self.ensure_no_capture_in_flight()
        if not reason.strip():
            raise DomainError("engine.cancel_reason_required")
        self.status = OrderStatus.CANCELLED
        self.cancel_reason = reason.strip()[:200]
        for inst in self.pending_instalments():
            inst.state = InstalmentState.CANCELLED

    def delete(self) -> None:
        if self.status is OrderStatus.INVOICED:
            raise DomainError("engine.invoiced_no_delete", order=self.id)
        if any(i.state is InstalmentState.CAPTURED for i in self.instalments):
            raise DomainError("engine.captured_no_delete", order=self.id)
        if self.status is OrderStatus.DELETED:
            raise DomainError("engine.already_deleted", order=self.id)
        self.ensure_no_capture_in_flight()
        if any(a.captured_amount > 0 and a.state is AuthState.APPROVED for a in self.authorizations):
            raise DomainError("engine.captured_no_delete", order=self.id)  # parcels of it captured (shipments)
        self.status = OrderStatus.DELETED
        for inst in self.pending_instalments():
            inst.state = InstalmentState.CANCELLED

    def settle_if_done(self) -> None:
        """All instalments captured or dropped: invoiced (or cancelled when nothing was paid). A
        cancelled or deleted order stays so, whatever a late capture answer says."""
        if self.pending_instalments() or self.status in (OrderStatus.CANCELLED, OrderStatus.DELETED):
            return
        if any(i.state is InstalmentState.CAPTURED for i in self.instalments):
            self.status = OrderStatus.INVOICED
        else:
            self.status = OrderStatus.CANCELLED
            self.cancel_reason = self.cancel_reason or Message("engine.nothing_to_pay")

    def set_hold(self, kind: DecisionKind) -> None:
        self.ensure_open()
        if kind is DecisionKind.BLOCK:
            self.hold = PaymentHold.BLOCKED
        elif kind is DecisionKind.RELEASE:
            self.hold = PaymentHold.RELEASED


STATUS_MESSAGE = {s: Message(f"engine.word_{s.name}") for s in OrderStatus}
"""The status word inside a message ("commande 12 déjà {status}"), in the reader's language."""


@dataclass(eq=False)
class Operator:
    name: str
    password_hash: str
    supervisor: bool = False
    failures: int = 0
    locked: bool = False
    created_at: datetime | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.supervisor)


@dataclass(eq=False)
class PrecheckRun:
    """One batch run — invoicing pre-check or capture — and its per-instalment results."""

    kind: str  # PRECHECK | CAPTURE
    run_date: date
    started_at: datetime
    operator: str
    concurrency: int = 1
    finished_at: datetime | None = None
    selected: int = 0
    approved: int = 0
    refused: int = 0
    unavailable: int = 0
    skipped: int = 0
    id: int | None = None
    planned: int | None = None  # due when the run started (workers' progress total)


@dataclass(eq=False)
class RunResult:
    run_id: int
    order_id: int
    instalment_seq: int
    outcome: str  # APPROVED | REFUSED | UNAVAILABLE | SKIPPED | CAPTURED
    amount: Decimal
    code: str = ""
    category: str = ""
    reason: str = ""
    authorization_id: int | None = None
    id: int | None = None
    worker: str | None = None  # the worker that did it (run report: each worker's share)
    latency_ms: float | None = None  # the acquirer's answer time
