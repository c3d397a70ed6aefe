"""The steps every use case shares: the context (settings, database, acquirer, clock), the unit of
work that reads a lost optimistic race as `ConcurrentChange`, loading an order under its lock,
opening a REQUESTED authorization row, recording an acquirer's answer, and voiding.

Written once here so each use-case module (placing, authorizing, decisions, voids, reconcile, the
batch runs) keeps the same rules: the REQUESTED row is committed before any call and carries the
idempotency key; a void is marked PENDING (committed) before its call."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal

from d400tui.acquirers.base import Acquirer, AcquirerResponse, AcquirerUnavailable, Outcome
from d400tui.acquirers.unconfigured import Unconfigured
from d400tui.config import Settings
from d400tui.domain import model as m
from d400tui.domain.cards import Brand, CardData
from d400tui.domain.message import Message
from d400tui.domain.validity import AuthType, Initiator, next_try
from d400tui.store.db import Database, StaleVersion, UnitOfWork
from d400tui.store.repositories import MAX_ID

from . import networks, owner, retry_rules
from . import validity as validity_model
from .codes import NO_ANSWER, NOT_ACCEPTED, lookup
from .errors import ConcurrentChange, EngineError, NotFound
from .operators import require_supervisor
from .results import AuthAnswer, VoidOutcome

log = logging.getLogger("d400.engine")

CONCURRENT = "engine.concurrent_change"


class Context:
    """What a use case works with. The batch runs receive it too (their Protocol names `unit`,
    `clock`, `today`, `acquirer`, `db`, `settings`, `label`, `validity`, `require_supervisor` and
    `void`); the `Engine` façade is one."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        acquirer: Acquirer,
        clock: Callable[[], datetime] | None = None,
        secondary: Acquirer | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.acquirer = acquirer
        self.clock = clock or datetime.now
        self.validity_model = validity_model.model(settings)
        self.secondary = secondary
        """The acquirer a failover sends to (settings `secondary_*`), None when there is none."""

    def acquirer_for(self, name: str) -> Acquirer:
        """The acquirer that holds an authorization made under `name` (authorizations.acquirer):
        voids, captures and reconciliation go there, never to whichever is first now. One no
        longer configured gets nothing sent (acquirers.unconfigured): its holds wait, never
        "unknown authorization" from another acquirer taken for done."""
        if self.secondary is not None and name == self.secondary.name:
            return self.secondary
        if not name or name == self.acquirer.name:
            return self.acquirer
        return Unconfigured(name)

    def token_acquirer(self, issuer: str | None) -> Acquirer | None:
        """The acquirer that issued a stored card token (orders.token_acquirer; None: the
        primary): every call made with the token goes there — another acquirer does not know it
        (a false 14). None when that acquirer is no longer configured: the card is typed again."""
        if issuer is None or issuer == self.acquirer.name:
            return self.acquirer
        if self.secondary is not None and issuer == self.secondary.name:
            return self.secondary
        return None

    def today(self) -> date:
        return self.clock().date()

    def label(self, code: str) -> str:
        rc = lookup(code)
        return rc.label_en if self.settings.lang == "en" else rc.label_fr

    def validity(
        self,
        brand: str | Brand,
        initiator: Initiator = Initiator.CIT,
        auth_type: AuthType = AuthType.FINAL,
        acquirer: str | None = None,
    ) -> timedelta:
        """How long an approval holds (the validity model) on `acquirer`, the one that approved it
        (a failover's: the secondary's window, not the first one's); None: the configured first."""
        key = brand.value if isinstance(brand, Brand) else brand
        return self.validity_model.window(acquirer or self.acquirer.name, key, initiator, auth_type)

    def auth_type_for(self, order: m.Order, brand: str) -> AuthType:
        """A pre-authorization for an order of several lines (several parcels) on a brand the
        settings name; a final authorization otherwise."""
        several = len(order.lines) > 1
        return AuthType.PRE if several and brand in self.settings.preauthorization_brands else AuthType.FINAL

    @staticmethod
    def require_supervisor(actor: m.Actor, what: Message) -> None:
        require_supervisor(actor, what)

    @contextmanager
    def unit(self, lock: bool = False) -> Iterator[UnitOfWork]:
        """A unit of work whose lost optimistic race (on flush or commit) reads as ConcurrentChange.
        Every unit that reads an order to decide loads it with `load`/`load_any`, which lock it
        (row lock on PostgreSQL, the write lock on SQLite) before the read: no terminal, batch or
        reconciler can write between what was read and what is written. `lock` takes it up front."""
        try:
            with self.db.uow(lock) as uow:
                yield uow
        except StaleVersion as exc:
            raise ConcurrentChange(CONCURRENT) from exc

    async def void(self, actor: m.Actor, order_id: int, auth_id: int) -> VoidOutcome:
        """Void one live authorization in real time. Marked PENDING (committed) before the call,
        so a crash or a dead acquirer leaves a void the reconciler will finish."""
        with self.unit() as uow:
            order = load_any(uow, order_id)
            auth = next(a for a in order.authorizations if a.id == auth_id)
            auth.void_state = m.VoidState.PENDING
            ref, key, amount = auth.acquirer_ref, auth.idempotency_key + "-void", auth.amount
            state, holder = auth.state, self.acquirer_for(auth.acquirer)
            commit(uow)
        if state is m.AuthState.UNKNOWN or not ref:
            return VoidOutcome(auth_id, amount, False, Message("engine.void_waiting"))
        try:
            resp: AcquirerResponse | None = await holder.void(ref, key)
        except AcquirerUnavailable as exc:
            log.warning("void of authorization %s: no answer (%s)", auth_id, exc)
            resp = None
        with self.unit() as uow:
            order = load_any(uow, order_id)
            auth = next(a for a in order.authorizations if a.id == auth_id)
            outcome = record_void(self, order, auth, resp)
            uow.audit(
                actor.name,
                "VOID",
                order_id,
                authorization=auth_id,
                amount=amount,
                done=outcome.done,
                message=outcome.message,
                attempt=auth.void_attempts,
            )
            commit(uow)
            return outcome

    async def void_all(self, actor: m.Actor, order_id: int, auth_ids: list[int]) -> list[VoidOutcome]:
        """Void what the caller's committed change marked PENDING. A void that cannot run now (a
        concurrent writer on the order, a busy database) stays PENDING for the reconciler and is
        said so: the change it follows is applied, so it must never read as failed (a terminal was
        shown an error for a payment change the audit trail had — bench/concurrency.py)."""
        out = []
        for auth_id in auth_ids:
            try:
                out.append(await self.void(actor, order_id, auth_id))
            except EngineError as exc:
                log.warning("void of authorization %s left to the reconciler: %s", auth_id, exc)
                out.append(VoidOutcome(auth_id, self._amount(order_id, auth_id), False, Message("engine.void_waiting")))
        return out

    def _amount(self, order_id: int, auth_id: int) -> Decimal:
        with self.db.uow() as uow:
            order = uow.orders.get(order_id)
            auth = next((a for a in order.authorizations if a.id == auth_id), None) if order else None
            return auth.amount if auth else Decimal(0)


def id_in_range(n: int) -> bool:
    """An id the Integer columns can hold: anything else is unknown, not a database error."""
    return isinstance(n, int) and 0 < n <= MAX_ID


def load_any(uow: UnitOfWork, order_id: int) -> m.Order:
    """The order, locked against other writers until the unit ends, whatever its status."""
    order = uow.orders.get(order_id, lock=True) if id_in_range(order_id) else None
    if order is None:
        raise NotFound("engine.order_unknown", order=order_id)
    return order


def load(uow: UnitOfWork, order_id: int) -> m.Order:
    """As `load_any`, but a deleted order is unknown."""
    order = uow.orders.get(order_id, lock=True) if id_in_range(order_id) else None
    if order is None or order.status is m.OrderStatus.DELETED:
        raise NotFound("engine.order_unknown", order=order_id)
    return order


def commit(uow: UnitOfWork) -> None:
    """Commit; a lost race reads as ConcurrentChange even outside `Context.unit`."""
    try:
        uow.commit()
    except StaleVersion as exc:
        raise ConcurrentChange(CONCURRENT) from exc


def flush(uow: UnitOfWork) -> None:
    try:
        uow.flush()
    except StaleVersion as exc:
        raise ConcurrentChange(CONCURRENT) from exc


def token_holder(ctx: Context, order: m.Order) -> Acquirer:
    """Where a call with the order's stored token goes (its issuer); refused in one line when that
    acquirer is no longer configured."""
    holder = ctx.token_acquirer(order.token_acquirer)
    if holder is None:
        raise EngineError("engine.token_acquirer_gone", field="card", acquirer=order.token_acquirer)
    return holder


def check_card(ctx: Context, card: CardData | None) -> CardData:
    """A card was typed, the acquirer takes its brand and the schemes let it be presented."""
    if card is None:
        raise EngineError("engine.card_required", field="card")
    if card.brand not in ctx.acquirer.brands and not networks.offered(ctx.acquirer, card.pan):
        raise EngineError("engine.not_accepted", field="card", label=ctx.label(NOT_ACCEPTED), brand=card.brand.value)
    retry_rules.check_card(ctx, card)  # refused never to be presented again (41, 43, 57 … on any order)
    return networks.route(ctx.acquirer, card)


def answer(auth: m.Authorization, seq: int | None) -> AuthAnswer:
    return AuthAnswer(
        auth.id,
        seq,
        auth.kind,
        auth.amount,
        auth.state,
        auth.category or m.Category.OTHER,
        auth.response_code or "",
        auth.label or "",
        auth.auth_code,
        auth.network,
        auth.security_check,
    )


def instalment_of(order: m.Order, auth: m.Authorization) -> m.Instalment | None:
    return next((i for i in order.instalments if i.id == auth.instalment_id), None)


def open_request(
    ctx: Context,
    uow: UnitOfWork,
    order: m.Order,
    actor: m.Actor,
    seq: int | None,
    kind: m.AuthKind,
    card: CardData | None,
    acquirer: Acquirer | None = None,
) -> tuple[int, str, Decimal, str | None]:
    """Add the REQUESTED row (the caller commits it before any call); returns what the call needs."""
    inst = order.instalment(seq) if seq is not None else None
    if card is None and not order.card_token:
        raise EngineError("engine.card_again", field="card")
    masked = card.masked if card else order.card
    assert masked is not None
    auth_type = ctx.auth_type_for(order, masked.brand.value) if kind is m.AuthKind.AUTHORIZE else AuthType.FINAL
    auth = m.Authorization(
        order_id=order.id or 0,
        instalment_id=inst.id if inst else None,
        kind=kind,
        amount=inst.amount if inst and kind is m.AuthKind.AUTHORIZE else Decimal("0.00"),
        idempotency_key=uuid.uuid4().hex,
        acquirer=(acquirer or ctx.acquirer).name,
        card=masked,
        requested_at=ctx.clock(),
        operator=actor.name,
        owner=owner.me(),
        auth_type=auth_type,
        network=card.network.value if card and card.network else order.card_network,
    )
    order.authorizations.append(auth)
    if inst is not None and kind is m.AuthKind.AUTHORIZE:
        inst.auth_pending = True
    order.touch(ctx.clock())
    flush(uow)
    return auth.id or 0, auth.idempotency_key, auth.amount, order.card_token


def record_answer(ctx: Context, order: m.Order, auth: m.Authorization, resp: AcquirerResponse | None) -> None:
    """Write the acquirer's answer (None: no answer, the row goes UNKNOWN) onto the row."""
    now = ctx.clock()
    if auth.state not in (m.AuthState.REQUESTED, m.AuthState.UNKNOWN):
        # Settled meanwhile by a reconciler that took this caller for dead: keep its verdict, but
        # a hold the acquirer made after all must not stay unknown to us.
        if resp is not None and resp.approved and auth.state is not m.AuthState.APPROVED:
            log.warning("authorization %s answered after it was settled %s", auth.id, auth.state.value)
            auth.acquirer_ref = auth.acquirer_ref or resp.reference
            auth.void_state = m.VoidState.PENDING  # the reconciler voids that hold
        return
    inst = instalment_of(order, auth)
    if resp is None:
        auth.move(m.AuthState.UNKNOWN)
        auth.response_code, auth.category, auth.label = NO_ANSWER, m.Category.UNAVAILABLE, ctx.label(NO_ANSWER)
        return  # the instalment stays auth_pending until the reconciler settles it
    auth.answered_at = now
    auth.response_code = resp.code
    auth.acquirer_ref = resp.reference
    auth.network = resp.network or auth.network  # what the acquirer says it routed it on
    auth.security_check = resp.cvv.value if resp.cvv else auth.security_check
    if resp.token and not order.card_token:
        order.card_token, order.token_acquirer = resp.token, auth.acquirer  # a token is its issuer's
    if resp.outcome in (Outcome.APPROVED, Outcome.CAPTURED, Outcome.VOIDED):
        auth.move(m.AuthState.APPROVED)
        auth.category = m.Category.APPROVED
        auth.auth_code = resp.auth_code
        auth.label = ctx.label("00")
        # the window of the acquirer that approved it (the row names it: a failover's is the secondary)
        window = ctx.validity(auth.card.brand, auth.initiator, auth.auth_type, auth.acquirer)
        auth.expires_at = (auth.requested_at or now) + window
        if inst is not None and auth.kind is m.AuthKind.AUTHORIZE:
            inst.authorized_until = auth.expires_at
        if resp.outcome is Outcome.VOIDED:
            auth.move(m.AuthState.VOIDED)
            auth.void_state = m.VoidState.DONE
            if inst is not None:
                inst.authorized_until = None
    else:
        auth.move(m.AuthState.DECLINED)
        rc = lookup(resp.code)
        auth.category = rc.category
        auth.label = ctx.label(resp.code)
    if inst is not None and auth.kind is m.AuthKind.AUTHORIZE:
        inst.auth_pending = False


def count_void_try(ctx: Context, auth: m.Authorization, got_through: bool) -> None:
    """One more try of this void; one that did not get through is tried again on the backoff
    (`void_retry_after`: 5 min, 1 h, 1 day …) by the scheduled retry (`d400 voids retry`)."""
    now = ctx.clock()
    auth.void_attempts = (auth.void_attempts or 0) + 1
    auth.void_first_at = auth.void_first_at or now
    auth.void_tried_at = now
    auth.void_next_at = None if got_through else next_try(auth.void_attempts, now, ctx.settings.void_retry_after)


def record_void(ctx: Context, order: m.Order, auth: m.Authorization, resp: AcquirerResponse | None) -> VoidOutcome:
    inst = instalment_of(order, auth)
    count_void_try(ctx, auth, resp is not None)
    if resp is None:
        return VoidOutcome(auth.id or 0, auth.amount, False, Message("engine.void_unreachable"))
    if resp.outcome is Outcome.VOIDED:
        if auth.state in (m.AuthState.APPROVED, m.AuthState.EXPIRED, m.AuthState.UNKNOWN):
            auth.move(m.AuthState.VOIDED)
        auth.void_state = m.VoidState.DONE
        if inst is not None and inst.authorized_until is not None and inst.authorized_until == auth.expires_at:
            inst.authorized_until = None
        return VoidOutcome(auth.id or 0, auth.amount, True, Message("engine.voided", ref=auth.auth_code or auth.id))
    auth.void_state = m.VoidState.DONE  # the acquirer refused: nothing to retry, report it
    detail = resp.message or ctx.label(resp.code)  # the acquirer's own words, else the code's label
    return VoidOutcome(auth.id or 0, auth.amount, False, Message("engine.void_refused", code=resp.code, detail=detail))


def mark_for_void(order: m.Order) -> list[int]:
    """Mark the order's live authorizations for void in the same transaction as the change that
    makes them useless, so a process killed before the voids leaves work the reconciler does."""
    live = order.live_authorizations()
    for a in live:
        a.void_state = m.VoidState.PENDING
    return [a.id for a in live if a.id is not None]
