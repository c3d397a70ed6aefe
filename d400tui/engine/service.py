"""The payment-authorization engine as screens, CLI, tests and benches call it: a thin façade over
one module per use case (`placing`, `authorizing`, `decisions`, `voids`, `drafts`, `reconcile`,
`lookups`, `audit_view`, the batch runs), all over the shared steps of `steps`.

Rules kept by those modules, whatever the caller:
- the Authorization row is committed (REQUESTED) before the acquirer is called, and every call
  carries that row's idempotency key; a transport failure leaves it UNKNOWN for the reconciler;
- nothing is ever blocked automatically: refusals set `awaiting_decision`, the operator decides;
- a void that fails is left PENDING, retried by the reconciler, and reported;
- supervisor-only operations are refused in the engine, not only hidden on screen."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from d400tui.domain import model as m
from d400tui.domain.cards import Brand, CardData
from d400tui.domain.message import Message
from d400tui.domain.read_models import ChainCheck, OrderFilter, OrderRow, PendingVoid

from . import (
    audit_view,
    blocked_queue,
    decisions,
    drafts,
    failover,
    lookups,
    networks,
    pending_voids,
    placing,
    reconcile,
    retry_rules,
    shipped_capture,
    shipping,
    voids,
    workers,
)
from . import steps as s
from .capture import Capture, CaptureOutcome
from .precheck import Precheck
from .results import AuthAnswer, ReconcileReport, ValidationResult, VoidOutcome


class Engine(s.Context):
    async def close(self) -> None:
        """Close the acquirer's connections and the database pool (end of a CLI command, app exit)."""
        await self.acquirer.close()
        if self.secondary is not None:  # built by the engine: its simulated issuer closes with it
            await self.secondary.close()
            issuer = getattr(self.secondary, "issuer", None)
            if issuer is not None:
                issuer.close()
        self.db.dispose()

    # -- network choice on a co-badged card ----------------------------------------------------------
    def network_choice(self, pan: str) -> tuple[Brand, ...]:
        """The networks the operator may choose between for this card (CB first), or () when the
        card is not co-badged (or the acquirer takes only one of its networks): no choice then."""
        return networks.choice(self.acquirer, pan)

    def card_networks(self, pan: str) -> tuple[Brand, ...]:
        """The networks this card would go on with this acquirer, the default first."""
        return networks.offered(self.acquirer, pan)

    def failover_target(self, answer: AuthAnswer) -> str | None:
        """The secondary acquirer's name when this failed authorization may be sent there (the first
        acquirer is definitely unavailable), else None (a time-out: reconcile first)."""
        return failover.possible(self, answer)

    # -- reference data and reading ------------------------------------------------------------
    def get_customer(self, customer_id: int) -> m.Customer:
        return lookups.get_customer(self, customer_id)

    def search_customers(self, text: str = "", limit: int = 50, after_id: int = 0) -> list[m.Customer]:
        return lookups.search_customers(self, text, limit, after_id)

    def get_article(self, code: str) -> m.Article:
        return lookups.get_article(self, code)

    def search_articles(self, text: str = "", limit: int = 50, after_code: str = "") -> list[m.Article]:
        return lookups.search_articles(self, text, limit, after_code)

    def get_order(self, order_id: int) -> m.Order:
        return lookups.get_order(self, order_id)

    def list_orders(
        self, f: OrderFilter | None = None, after_id: int | None = None, before_id: int | None = None, limit: int = 15
    ) -> list[OrderRow]:
        return lookups.list_orders(self, f, after_id, before_id, limit)

    def last_runs(self, kind: str | None = None, limit: int = 10) -> list[m.PrecheckRun]:
        return lookups.last_runs(self, kind, limit)

    def run_results(
        self, run_id: int, after_id: int = 0, limit: int = 1000, outcome: str | None = None
    ) -> list[m.RunResult]:
        return lookups.run_results(self, run_id, after_id, limit, outcome)

    # -- order entry ---------------------------------------------------------------------------
    def create_order(
        self,
        actor: m.Actor,
        customer_id: int,
        lines: list[tuple[str, int]],
        channel: m.Channel = m.Channel.PHONE,
        payment_method: m.PaymentMethod = m.PaymentMethod.CARD,
        plan: m.Plan | None = None,
    ) -> m.Order:
        return placing.create_order(self, actor, customer_id, lines, channel, payment_method, plan)

    async def place_order(
        self,
        actor: m.Actor,
        customer_id: int,
        lines: list[tuple[str, int]],
        card: CardData | None,
        channel: m.Channel = m.Channel.PHONE,
        payment_method: m.PaymentMethod = m.PaymentMethod.CARD,
        plan: m.Plan | None = None,
    ) -> ValidationResult:
        return await placing.place_order(self, actor, customer_id, lines, card, channel, payment_method, plan)

    async def validate_order(self, actor: m.Actor, order_id: int, card: CardData | None) -> ValidationResult:
        return await placing.validate_order(self, actor, order_id, card)

    async def modify_lines(self, actor: m.Actor, order_id: int, lines: list[tuple[str, int]]) -> ValidationResult:
        return await placing.modify_lines(self, actor, order_id, lines)

    # -- drafts --------------------------------------------------------------------------------
    def save_draft(self, actor: m.Actor, content: dict[str, object]) -> None:
        drafts.save_draft(self, actor, content)

    def load_draft(self, actor: m.Actor) -> tuple[datetime, dict[str, object]] | None:
        return drafts.load_draft(self, actor)

    def discard_draft(self, actor: m.Actor) -> None:
        drafts.discard_draft(self, actor)

    # -- decisions and the void family ---------------------------------------------------------
    async def decide(
        self, actor: m.Actor, order_id: int, kind: m.DecisionKind, card: CardData | None = None
    ) -> ValidationResult:
        return await decisions.decide(self, actor, order_id, kind, card)

    # advice (issue 13): retry rules and four-eyes release
    def retry_refusal(self, order_id: int, card: CardData | None = None) -> Message | None:
        """Why R would be refused on this order now (never-retry answer, re-attempt limit), or None."""
        return retry_rules.retry_refusal(self, order_id, card)

    def release_request(self, actor: m.Actor, order_id: int) -> m.ReleaseRequest | None:
        """Supervisors: the order's release request waiting for a decision, or None."""
        return blocked_queue.pending_request(self, actor, order_id)

    async def approve_release(self, actor: m.Actor, order_id: int) -> ValidationResult:
        return await blocked_queue.approve_release(self, actor, order_id)

    async def refuse_release(self, actor: m.Actor, order_id: int) -> ValidationResult:
        return await blocked_queue.refuse_release(self, actor, order_id)

    async def delete_order(self, actor: m.Actor, order_id: int) -> ValidationResult:
        return await voids.delete_order(self, actor, order_id)

    async def cancel_order(self, actor: m.Actor, order_id: int, reason: str) -> ValidationResult:
        return await voids.cancel_order(self, actor, order_id, reason)

    async def cancel_deferred(self, actor: m.Actor, order_id: int, seq: int, pay_now: bool) -> ValidationResult:
        return await voids.cancel_deferred(self, actor, order_id, seq, pay_now)

    async def change_payment_method(
        self, actor: m.Actor, order_id: int, method: m.PaymentMethod, card: CardData | None = None
    ) -> ValidationResult:
        return await voids.change_payment_method(self, actor, order_id, method, card)

    # -- shipments (issue 12.1) ------------------------------------------------------------------
    def ship(
        self, actor: m.Actor, order_id: int, lines: list[tuple[str, int]], final: bool = False
    ) -> shipping.ShipResult:
        return shipping.ship(self, actor, order_id, lines, final)

    def shipping_view(self, order_id: int) -> shipping.ShippingView:
        return shipping.shipping_view(self, order_id)

    async def capture_shipped(
        self, actor: m.Actor, order_id: int, seq: int, run_date: date | None = None
    ) -> CaptureOutcome:
        self.require_supervisor(actor, Message("engine.what_capture"))
        return await shipped_capture.capture_shipped(self, actor, order_id, seq, run_date)

    # -- audit trail (supervisors) -------------------------------------------------------------
    def audit_trail(self, actor: m.Actor, since: date | None = None, limit: int = 200) -> list[dict[str, object]]:
        return audit_view.audit_trail(self, actor, since, limit)

    def verify_audit(self, actor: m.Actor, expect: str | None = None) -> ChainCheck:
        return audit_view.verify_audit(self, actor, expect)

    # -- batch runs and reconciliation (supervisors) -------------------------------------------
    async def precheck(
        self,
        actor: m.Actor,
        run_date: date | None = None,
        concurrency: int = 16,
        progress: Callable[[int, int], None] | None = None,
        run_id: int | None = None,
        lease_s: float = workers.LEASE_S,
    ) -> m.PrecheckRun:
        """A new run at `run_date`, or one more worker on run `run_id` (engine.workers)."""
        return await Precheck(self).run(actor, run_date, concurrency, progress, run_id, lease_s=lease_s)

    def start_precheck(self, actor: m.Actor, run_date: date | None = None, concurrency: int = 16) -> int:
        """Open a pre-check run for workers to join (`d400 precheck --workers N`)."""
        return Precheck(self).start(actor, run_date, concurrency)

    def run_progress(self, actor: m.Actor, run_id: int) -> workers.RunProgress:
        return workers.progress(self, actor, run_id)

    def run_report(self, actor: m.Actor, run_id: int) -> workers.RunReport:
        return workers.report(self, actor, run_id)

    def runs_shared(self) -> bool:
        """Whether several workers may share a run on this database (PostgreSQL)."""
        return workers.can_share(self)

    async def capture(
        self,
        actor: m.Actor,
        run_date: date | None = None,
        concurrency: int = 8,
        progress: Callable[[int, int], None] | None = None,
        run_id: int | None = None,
        lease_s: float = workers.LEASE_S,
    ) -> m.PrecheckRun:
        """A new capture run at `run_date`, or one more worker on run `run_id` (engine.workers)."""
        return await Capture(self).run(actor, run_date, concurrency, progress, run_id, lease_s=lease_s)

    def start_capture(self, actor: m.Actor, run_date: date | None = None, concurrency: int = 8) -> int:
        """Open a capture run for workers to join (`d400 capture --workers N`)."""
        return Capture(self).start(actor, run_date, concurrency)

    async def capture_one(
        self,
        actor: m.Actor,
        order_id: int,
        seq: int,
        amount: Decimal | None = None,
    ) -> CaptureOutcome:
        return await Capture(self).capture_one(actor, order_id, seq, None, amount)

    def precheck_selection(self, run_date: date) -> list[tuple[int, int]]:
        return Precheck(self).selection(run_date)

    async def reconcile(self, actor: m.Actor, grace_s: float | None = None) -> ReconcileReport:
        return await reconcile.reconcile(self, actor, grace_s)

    # -- voids that did not get through (supervisors) -------------------------------------------
    def pending_voids(self, actor: m.Actor, limit: int = 500) -> list[PendingVoid]:
        return pending_voids.pending(self, actor, limit)

    async def retry_voids(self, actor: m.Actor, every: bool = False) -> ReconcileReport:
        return await pending_voids.retry_due(self, actor, every)

    async def retry_void(self, actor: m.Actor, auth_id: int) -> VoidOutcome:
        return await pending_voids.retry_one(self, actor, auth_id)
