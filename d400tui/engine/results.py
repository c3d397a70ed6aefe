"""What engine operations hand back to screens and CLI: plain data, nothing to call."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from d400tui.domain.message import Message
from d400tui.domain.model import AuthKind, AuthState, Category, Order


@dataclass(frozen=True)
class AuthAnswer:
    """One acquirer answer as the operator sees it: which check failed, then code and label."""

    authorization_id: int | None
    instalment_seq: int | None
    kind: AuthKind
    amount: Decimal
    state: AuthState
    category: Category
    code: str
    label: str | Message  # a response-code label, or the engine's own words (rendered at the edge)
    auth_code: str | None = None
    network: str | None = None  # the network it went on (CB, VISA, MASTERCARD…)
    security_check: str | None = None  # the issuer's CVV check (a CvvResult value), never the CVV

    @property
    def approved(self) -> bool:
        return self.state is AuthState.APPROVED

    @property
    def cvv_mismatch(self) -> bool:
        """Approved although the CVV does not match: the operator is told before the goods leave."""
        return self.approved and self.security_check == "NO_MATCH"


@dataclass(frozen=True)
class VoidOutcome:
    authorization_id: int
    amount: Decimal
    done: bool
    message: Message


@dataclass
class ValidationResult:
    order: Order
    answers: list[AuthAnswer] = field(default_factory=list)
    voids: list[VoidOutcome] = field(default_factory=list)
    note: Message | str = ""  # e.g. Message("engine.note_channel", channel="MAIL"); "" when none

    @property
    def approved(self) -> bool:
        return all(a.approved for a in self.answers)

    @property
    def failed(self) -> AuthAnswer | None:
        return next((a for a in self.answers if not a.approved), None)

    @property
    def needs_decision(self) -> bool:
        return self.failed is not None


@dataclass
class ReconcileReport:
    settled: list[Message] = field(default_factory=list)
    still_unknown: list[Message] = field(default_factory=list)

    @property
    def lines(self) -> list[Message]:
        return [*self.settled, *(Message("engine.still_unknown", line=s) for s in self.still_unknown)]
