"""The payment-authorization engine: the only code that combines the store and the acquirer.

Rules kept here, whatever the caller:
- the Authorization row is committed (REQUESTED) before the acquirer is called, and every call
  carries that row's idempotency key; a transport failure leaves it UNKNOWN for the reconciler;
- nothing is ever blocked automatically: refusals set `awaiting_decision`, the operator decides;
- a void that fails is left PENDING, retried by the reconciler, and reported;
- supervisor-only operations are refused here, not only hidden on screen."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm.exc import StaleDataError

from d400tui.acquirers.base import Acquirer, AcquirerResponse, AcquirerUnavailable, Outcome, PaymentSource
from d400tui.config import Settings
from d400tui.domain import model as m
from d400tui.domain.cards import Brand, CardData
from d400tui.domain.money import MAX_AMOUNT, MoneyError, split
from d400tui.store.db import Database, UnitOfWork
from d400tui.store.repositories import MAX_ID, ChainCheck, OrderFilter, OrderRow

from . import owner
from .codes import NO_ANSWER, NOT_ACCEPTED, lookup
from .errors import ConcurrentChange, EngineError, NotFound, PermissionDenied
from .results import AuthAnswer, ReconcileReport, ValidationResult, VoidOutcome

log = logging.getLogger("d400.engine")


class Engine:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        acquirer: Acquirer,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.acquirer = acquirer
        self.clock = clock or datetime.now

    async def close(self) -> None:
        """Close the acquirer's connections and the database pool (end of a CLI command, app exit)."""
        await self.acquirer.close()
        self.db.dispose()

    # -- small helpers ---------------------------------------------------------------------
    def today(self) -> date:
        return self.clock().date()

    def label(self, code: str) -> str:
        rc = lookup(code)
        return rc.label_en if self.settings.lang == "en" else rc.label_fr

    def validity(self, brand: str | Brand) -> timedelta:
        key = brand.value if isinstance(brand, Brand) else brand
        return timedelta(days=self.settings.validity_days.get(key, 7))

    @staticmethod
    def require_supervisor(actor: m.Actor, what: str) -> None:
        if not actor.supervisor:
            raise PermissionDenied(f"{what} : réservé aux superviseurs")

    @contextmanager
    def _unit(self, lock: bool = False) -> Iterator[UnitOfWork]:
        """A unit of work whose lost optimistic race (on flush or commit) reads as ConcurrentChange.
        Every unit that reads an order to decide loads it with `_load`/`_load_any`, which lock it
        (row lock on PostgreSQL, the write lock on SQLite) before the read: no terminal, batch or
        reconciler can write between what was read and what is written. `lock` takes it up front."""
        try:
            with self.db.uow(lock) as uow:
                yield uow
        except StaleDataError as exc:
            raise ConcurrentChange("Commande modifiée sur un autre poste — F5 pour recharger") from exc

    unit = _unit  # engbatch: the public name batch runs use (engine-core's split provides it)

    @staticmethod
    def _id_in_range(n: int) -> bool:
        """An id the Integer columns can hold: anything else is unknown, not a database error."""
        return isinstance(n, int) and 0 < n <= MAX_ID

    def _load(self, uow: UnitOfWork, order_id: int) -> m.Order:
        order = uow.orders.get(order_id, lock=True) if self._id_in_range(order_id) else None
        if order is None or order.status is m.OrderStatus.DELETED:
            raise NotFound(f"commande {order_id} inconnue")
        return order

    def _commit(self, uow: UnitOfWork) -> None:
        try:
            uow.commit()
        except StaleDataError as exc:
            raise ConcurrentChange("Commande modifiée sur un autre poste — F5 pour recharger") from exc

    def _flush(self, uow: UnitOfWork) -> None:
        try:
            uow.session.flush()
        except StaleDataError as exc:
            raise ConcurrentChange("Commande modifiée sur un autre poste — F5 pour recharger") from exc

    def _answer(self, auth: m.Authorization, seq: int | None) -> AuthAnswer:
        return AuthAnswer(auth.id, seq, auth.kind, auth.amount, auth.state,
                          auth.category or m.Category.OTHER, auth.response_code or "",
                          auth.label or "", auth.auth_code)

    # -- reference data --------------------------------------------------------------------
    def get_customer(self, customer_id: int) -> m.Customer:
        with self._unit() as uow:
            c = uow.customers.get(customer_id) if self._id_in_range(customer_id) else None
            if c is None:
                raise NotFound(f"client {customer_id} inconnu", field="customer")
            return c

    def search_customers(self, text: str = "", limit: int = 50, after_id: int = 0) -> list[m.Customer]:
        with self._unit() as uow:
            return uow.customers.search(text[:60], limit, after_id)

    def get_article(self, code: str) -> m.Article:
        code = code.strip().upper()[:12]
        with self._unit() as uow:
            a = uow.articles.get(code) if code else None
            if a is None:
                raise NotFound(f"article {code or '?'} inconnu", field="article")
            return a

    def search_articles(self, text: str = "", limit: int = 50, after_code: str = "") -> list[m.Article]:
        with self._unit() as uow:
            return uow.articles.search(text[:60], limit, after_code)

    # -- reading orders --------------------------------------------------------------------
    def get_order(self, order_id: int) -> m.Order:
        with self._unit() as uow:
            order = uow.orders.get(order_id) if self._id_in_range(order_id) else None
            if order is None:
                raise NotFound(f"commande {order_id} inconnue")
            return order

    def list_orders(self, f: OrderFilter | None = None, after_id: int | None = None,
                    before_id: int | None = None, limit: int = 15) -> list[OrderRow]:
        with self._unit() as uow:
            return uow.orders.page(f or OrderFilter(), after_id, before_id, limit)

    # -- order entry -----------------------------------------------------------------------
    def create_order(
        self,
        actor: m.Actor,
        customer_id: int,
        lines: list[tuple[str, int]],
        channel: m.Channel = m.Channel.PHONE,
        payment_method: m.PaymentMethod = m.PaymentMethod.CARD,
        plan: m.Plan | None = None,
    ) -> m.Order:
        """Save a DRAFT order with its lines and instalment schedule (no acquirer call)."""
        with self._unit() as uow:
            order = self._build_order(uow, actor, customer_id, lines, channel, payment_method, plan)
            self._commit(uow)
            return order

    def _build_order(self, uow: UnitOfWork, actor: m.Actor, customer_id: int, lines: list[tuple[str, int]],
                     channel: m.Channel, payment_method: m.PaymentMethod, plan: m.Plan | None) -> m.Order:
        plan = plan or m.Plan()
        now = self.clock()
        if not self._id_in_range(customer_id) or uow.customers.get(customer_id) is None:
            raise NotFound(f"client {customer_id} inconnu", field="customer")
        order = m.Order(customer_id, channel, payment_method, actor.name, now, now.date(), plan=str(plan))
        self._set_lines(uow, order, lines)
        order.instalments = plan.schedule(order.total, now.date())
        order.touch(now)
        uow.orders.add(order)
        uow.session.flush()
        uow.audit(actor.name, "ORDER_CREATE", order.id, total=order.total, plan=str(plan),
                  channel=channel.value, method=payment_method.value)
        return order

    @staticmethod
    def _set_lines(uow: UnitOfWork, order: m.Order, lines: list[tuple[str, int]]) -> None:
        if not lines:
            raise EngineError("au moins une ligne de commande", field="article")
        if len(lines) > 99:
            raise EngineError("99 lignes au plus", field="article")
        new: list[m.OrderLine] = []
        for code, qty in lines:
            art = uow.articles.get(code)
            if art is None:
                raise NotFound(f"article {code.strip().upper()[:12]} inconnu", field="article")
            new.append(m.OrderLine(art.code, art.label, qty, art.unit_price, art.vat_rate))
        for i, line in enumerate(new, 1):
            line.line_no = i  # type: ignore[attr-defined]
        # Refused here, before any row is written: an amount past what money (and every amount
        # column, the acquirers' amount fields) takes would otherwise fail at the database.
        try:
            totals = m.order_totals(new)
        except MoneyError:
            totals = (MAX_AMOUNT + 1,) * 3
        if totals[2] > MAX_AMOUNT:
            raise EngineError(f"montant de commande trop élevé : {MAX_AMOUNT} € au plus", field="article")
        order.lines = new
        order.recompute_total()

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
        """Create and validate (the F10 of order entry, `d400 order new`). For a phone card order,
        the order, its validation and the first REQUESTED row are one transaction before the call."""
        if channel is not m.Channel.PHONE or payment_method is not m.PaymentMethod.CARD:
            order = self.create_order(actor, customer_id, lines, channel, payment_method, plan)
            return await self.validate_order(actor, order.id or 0, card)
        self._check_card(card, channel)
        assert card is not None
        with self._unit() as uow:
            order = self._build_order(uow, actor, customer_id, lines, channel, payment_method, plan)
            self._prepare_validation(uow, order, actor, card)
            return await self._authorize_planned(uow, actor, order, card)

    def _check_card(self, card: CardData | None, channel: m.Channel) -> None:
        if card is None:
            raise EngineError("numéro de carte obligatoire", field="card")
        if card.brand not in self.acquirer.brands:
            raise EngineError(f"{self.label(NOT_ACCEPTED)} ({card.brand.value})", field="card")

    async def validate_order(self, actor: m.Actor, order_id: int, card: CardData | None) -> ValidationResult:
        """Validate a draft: authorize every instalment due within its validity window (the
        immediate one always), verify the card for those due later. Never sets the hold."""
        with self._unit() as uow:
            order = self._load(uow, order_id)
            if order.status is not m.OrderStatus.DRAFT:
                raise EngineError(f"commande {order_id} déjà {m.STATUS_WORD[order.status]}")
            if order.channel is not m.Channel.PHONE or order.payment_method is not m.PaymentMethod.CARD:
                order.validate()
                order.touch(self.clock())
                uow.audit(actor.name, "ORDER_VALIDATE", order.id, authorization="none")
                self._commit(uow)
                note = (f"canal {order.channel.value} : hors autorisation temps réel"
                        if order.channel is not m.Channel.PHONE else
                        f"paiement {order.payment_method.value} : pas d'autorisation carte")
                return ValidationResult(order, note=note)
            self._check_card(card, order.channel)
            assert card is not None
            self._prepare_validation(uow, order, actor, card)
            return await self._authorize_planned(uow, actor, order, card)

    def _prepare_validation(self, uow: UnitOfWork, order: m.Order, actor: m.Actor, card: CardData) -> None:
        order.set_card(card.masked, None)
        order.validate()
        uow.audit(actor.name, "ORDER_VALIDATE", order.id, card=str(card.masked))

    def _plan(self, order: m.Order, card: CardData | None, only_seq: int | None) -> list[tuple[int | None, m.AuthKind]]:
        """Which calls to make: AUTHORIZE each pending instalment due within the validity window,
        one VERIFY of the card when others fall due later. Refuses while anything is unsettled."""
        brand = order.card_brand or (card.brand.value if card else "UNKNOWN")
        limit = self.today() + self.validity(brand)
        considered = [i for i in order.pending_instalments() if only_seq is None or i.seq == only_seq]
        for inst in considered:
            order.check_settled(inst)
        todo = [i for i in considered if order.live_authorization(i) is None]
        steps: list[tuple[int | None, m.AuthKind]] = [(i.seq, m.AuthKind.AUTHORIZE) for i in todo
                                                       if i.due_date <= limit]
        has_verify = any(a.kind is m.AuthKind.VERIFY and a.state is m.AuthState.APPROVED for a in order.authorizations)
        if only_seq is None and not has_verify and any(i.due_date > limit for i in todo):
            steps.append((None, m.AuthKind.VERIFY))
        return steps

    def _open_request(self, uow: UnitOfWork, order: m.Order, actor: m.Actor, seq: int | None, kind: m.AuthKind,
                      card: CardData | None) -> tuple[int, str, Decimal, str | None]:
        """Add the REQUESTED row (the caller commits it before any call); returns what the call needs."""
        inst = order.instalment(seq) if seq is not None else None
        if card is None and not order.card_token:
            raise EngineError("carte à ressaisir (pas de jeton prestataire)", field="card")
        masked = card.masked if card else order.card
        assert masked is not None
        auth = m.Authorization(
            order_id=order.id or 0,
            instalment_id=inst.id if inst else None,
            kind=kind,
            amount=inst.amount if inst and kind is m.AuthKind.AUTHORIZE else Decimal("0.00"),
            idempotency_key=uuid.uuid4().hex,
            acquirer=self.acquirer.name,
            card=masked,
            requested_at=self.clock(),
            operator=actor.name,
            owner=owner.me(),
        )
        order.authorizations.append(auth)
        if inst is not None and kind is m.AuthKind.AUTHORIZE:
            inst.auth_pending = True
        order.touch(self.clock())
        self._flush(uow)
        return auth.id or 0, auth.idempotency_key, auth.amount, order.card_token

    async def _authorize_due(self, actor: m.Actor, order_id: int, card: CardData | None,
                             only_seq: int | None = None) -> ValidationResult:
        with self._unit() as uow:
            return await self._authorize_planned(uow, actor, self._load(uow, order_id), card, only_seq)

    async def _authorize_planned(self, uow: UnitOfWork, actor: m.Actor, order: m.Order, card: CardData | None,
                                 only_seq: int | None = None) -> ValidationResult:
        """Plan the calls, commit the first REQUESTED row with whatever `uow` already holds, then
        run the calls one after the other, stopping at the first refusal (the operator decides
        before anything else). One transaction after each call."""
        steps = self._plan(order, card, only_seq)
        if not steps:
            order.awaiting_decision = False
            order.touch(self.clock())
            self._commit(uow)
            return ValidationResult(order)
        pending = self._open_request(uow, order, actor, *steps[0], card)
        self._commit(uow)
        order_id = order.id or 0
        answers: list[AuthAnswer] = []
        source_card = card
        for n, (seq, kind) in enumerate(steps):
            auth_id, key, amount, token = pending
            source = PaymentSource(card=source_card) if source_card else PaymentSource(token=token)
            source_card = None  # later calls use the token the first one brought back
            try:
                if kind is m.AuthKind.VERIFY:
                    resp: AcquirerResponse | None = await self.acquirer.verify(source, key)
                else:
                    resp = await self.acquirer.authorize(source, amount, key)
            except AcquirerUnavailable as exc:
                log.warning("authorization %s: no answer (%s)", auth_id, exc)
                resp = None
            with self._unit() as after:
                order = self._load_any(after, order_id)
                auth = next(a for a in order.authorizations if a.id == auth_id)
                self._record_answer(order, auth, resp)
                log.info("order %s %s %s %s: %s %s", order_id, kind.value.lower(), auth.card, amount,
                         auth.state.value, auth.response_code)
                after.audit(actor.name, "AUTHORIZE" if kind is m.AuthKind.AUTHORIZE else "VERIFY", order_id,
                            authorization=auth_id, amount=amount, state=auth.state.value, code=auth.response_code)
                answers.append(self._answer(auth, seq))
                more = answers[-1].approved and n + 1 < len(steps) and order.status is m.OrderStatus.VALIDATED
                # Cancelled, deleted or re-paid on another terminal while the call was in flight:
                # the hold just made must go at once.
                orphan = auth.state is m.AuthState.APPROVED and (
                    auth.void_state is m.VoidState.PENDING or order.status is not m.OrderStatus.VALIDATED)
                more = more and not orphan
                if more:
                    pending = self._open_request(after, order, actor, *steps[n + 1], None)
                else:
                    order.awaiting_decision = any(not a.approved for a in answers) and not orphan
                order.touch(self.clock())
                self._commit(after)
            if orphan:
                voids = [await self._void(actor, order_id, auth_id)]
                return ValidationResult(self.get_order(order_id), answers, voids,
                                        note="commande modifiée pendant l'autorisation : autorisation annulée")
            if not more:
                return ValidationResult(order, answers)
        raise AssertionError("unreachable")  # pragma: no cover

    def _record_answer(self, order: m.Order, auth: m.Authorization, resp: AcquirerResponse | None) -> None:
        now = self.clock()
        if auth.state not in (m.AuthState.REQUESTED, m.AuthState.UNKNOWN):
            # Settled meanwhile by a reconciler that took this caller for dead: keep its verdict, but
            # a hold the acquirer made after all must not stay unknown to us.
            if resp is not None and resp.approved and auth.state is not m.AuthState.APPROVED:
                log.warning("authorization %s answered after it was settled %s", auth.id, auth.state.value)
                auth.acquirer_ref = auth.acquirer_ref or resp.reference
                auth.void_state = m.VoidState.PENDING  # the reconciler voids that hold
            return
        inst = next((i for i in order.instalments if i.id == auth.instalment_id), None)
        if resp is None:
            auth.move(m.AuthState.UNKNOWN)
            auth.response_code, auth.category, auth.label = NO_ANSWER, m.Category.UNAVAILABLE, self.label(NO_ANSWER)
            return  # the instalment stays auth_pending until the reconciler settles it
        auth.answered_at = now
        auth.response_code = resp.code
        auth.acquirer_ref = resp.reference
        if resp.token and not order.card_token:
            order.card_token = resp.token
        if resp.outcome in (Outcome.APPROVED, Outcome.CAPTURED, Outcome.VOIDED):
            auth.move(m.AuthState.APPROVED)
            auth.category = m.Category.APPROVED
            auth.auth_code = resp.auth_code
            auth.label = self.label("00")
            auth.expires_at = (auth.requested_at or now) + self.validity(auth.card.brand)
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
            auth.label = self.label(resp.code)
        if inst is not None and auth.kind is m.AuthKind.AUTHORIZE:
            inst.auth_pending = False

    async def _authorize_after_change(self, actor: m.Actor, order_id: int, card: CardData | None,
                                      voids: list[VoidOutcome], only_seq: int | None = None) -> ValidationResult:
        """The change is committed: whatever stops the new authorization now is reported with it,
        never as if the change had failed (the operator decides, with the order as it is)."""
        try:
            result = await self._authorize_due(actor, order_id, card, only_seq)
        except (EngineError, m.DomainError) as exc:
            return ValidationResult(self.get_order(order_id), voids=voids,
                                    note=f"modification enregistrée ; autorisation non demandée : {exc}")
        result.voids = voids
        return result

    # -- drafts: an order being typed survives a dropped terminal ----------------------------
    MAX_DRAFT = 64 * 1024

    def save_draft(self, actor: m.Actor, content: dict[str, object]) -> None:
        """Save the entry screen's fields (never the card number nor the CVV: refused here)."""
        import json

        from sqlalchemy.dialects import postgresql, sqlite

        from d400tui.domain.cards import scrub
        from d400tui.store import tables as t

        text = json.dumps(content, ensure_ascii=False, default=str)
        if len(text) > self.MAX_DRAFT:
            raise EngineError("brouillon trop volumineux")
        text = scrub(text)  # a card number typed in a free field is masked, never stored
        ins = (postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert)(t.order_drafts)
        stmt = ins.values(operator=actor.name, saved_at=self.clock(), content=text)
        stmt = stmt.on_conflict_do_update(index_elements=["operator"],
                                          set_={"saved_at": stmt.excluded.saved_at, "content": stmt.excluded.content})
        with self._unit() as uow:
            uow.session.execute(stmt)
            uow.commit()

    def load_draft(self, actor: m.Actor) -> tuple[datetime, dict[str, object]] | None:
        import json

        from sqlalchemy import select

        from d400tui.store import tables as t

        with self._unit() as uow:
            row = uow.session.execute(select(t.order_drafts.c.saved_at, t.order_drafts.c.content)
                                      .where(t.order_drafts.c.operator == actor.name)).first()
        if row is None:
            return None
        try:
            return row[0], json.loads(row[1])
        except ValueError:
            return None

    def discard_draft(self, actor: m.Actor) -> None:
        from sqlalchemy import delete

        from d400tui.store import tables as t

        with self._unit() as uow:
            uow.session.execute(delete(t.order_drafts).where(t.order_drafts.c.operator == actor.name))
            uow.commit()

    # -- modifying lines (option 2) ----------------------------------------------------------
    async def modify_lines(self, actor: m.Actor, order_id: int, lines: list[tuple[str, int]]) -> ValidationResult:
        """Replace the lines of an open order. The new total is spread over the pending
        instalments; a validated card order's live authorizations are voided and the card (its
        token) authorized again for the new amounts."""
        with self._unit() as uow:
            order = self._load(uow, order_id)
            order.ensure_open()
            if any(i.state is m.InstalmentState.CAPTURED for i in order.instalments):
                raise EngineError(f"commande {order_id} déjà encaissée en partie : modification impossible")
            pending = order.pending_instalments()
            for inst in pending:
                order.check_settled(inst)
            old_total = order.total
            self._set_lines(uow, order, lines)
            if not pending:
                raise EngineError(f"commande {order_id} : plus d'échéance à payer")
            for inst, amount in zip(pending, split(order.total, len(pending)), strict=True):
                inst.amount = amount
            reauthorize = (order.status is m.OrderStatus.VALIDATED and order.channel is m.Channel.PHONE
                           and order.payment_method is m.PaymentMethod.CARD and bool(order.card_token))
            live = self._mark_for_void(order) if reauthorize else []
            uow.audit(actor.name, "ORDER_MODIFY", order_id, old_total=old_total, new_total=order.total,
                      lines=len(order.lines), voids=len(live))
            order.touch(self.clock())
            self._commit(uow)
        voids = await self._void_all(actor, order_id, live) if reauthorize else []
        if reauthorize:
            return await self._authorize_after_change(actor, order_id, None, voids)
        return ValidationResult(self.get_order(order_id), voids=voids)

    # -- decisions -------------------------------------------------------------------------
    async def decide(self, actor: m.Actor, order_id: int, kind: m.DecisionKind,
                     card: CardData | None = None) -> ValidationResult:
        """Record the operator's choice with what was shown; RETRY asks the acquirer again."""
        with self._unit() as uow:
            order = self._load(uow, order_id)
            order.ensure_open()
            shown = next((a for a in reversed(order.authorizations)
                          if a.state is not m.AuthState.APPROVED and a.category), None)
            order.decisions.append(m.Decision(
                order_id, kind, actor.name, self.clock(),
                shown.category.value if shown and shown.category else "",
                shown.response_code or "" if shown else "",
                (shown.label or "") if shown else "",
                shown.id if shown else None,
            ))
            if kind in (m.DecisionKind.BLOCK, m.DecisionKind.RELEASE):
                order.set_hold(kind)
                order.awaiting_decision = False
            uow.audit(actor.name, f"DECISION_{kind.value}", order_id,
                      shown=f"{shown.category} {shown.response_code}" if shown else "")
            order.touch(self.clock())
            self._commit(uow)
        if kind is m.DecisionKind.RETRY:
            return await self._authorize_due(actor, order_id, card)
        return ValidationResult(self.get_order(order_id))

    # -- voids -----------------------------------------------------------------------------
    async def _void(self, actor: m.Actor, order_id: int, auth_id: int) -> VoidOutcome:
        """Void one live authorization in real time. Marked PENDING (committed) before the call,
        so a crash or a dead acquirer leaves a void the reconciler will finish."""
        with self._unit() as uow:
            order = self._load_any(uow, order_id)
            auth = next(a for a in order.authorizations if a.id == auth_id)
            auth.void_state = m.VoidState.PENDING
            ref, key, amount = auth.acquirer_ref, auth.idempotency_key + "-void", auth.amount
            state = auth.state
            self._commit(uow)
        if state is m.AuthState.UNKNOWN or not ref:
            return VoidOutcome(auth_id, amount, False, "annulation en attente de rapprochement")
        try:
            resp: AcquirerResponse | None = await self.acquirer.void(ref, key)
        except AcquirerUnavailable as exc:
            log.warning("void of authorization %s: no answer (%s)", auth_id, exc)
            resp = None
        with self._unit() as uow:
            order = self._load_any(uow, order_id)
            auth = next(a for a in order.authorizations if a.id == auth_id)
            outcome = self._record_void(order, auth, resp)
            uow.audit(actor.name, "VOID", order_id, authorization=auth_id, amount=amount,
                      done=outcome.done, message=outcome.message)
            self._commit(uow)
            return outcome

    void = _void  # engbatch: the public name batch runs use (engine-core's split provides it)

    def _record_void(self, order: m.Order, auth: m.Authorization, resp: AcquirerResponse | None) -> VoidOutcome:
        inst = next((i for i in order.instalments if i.id == auth.instalment_id), None)
        if resp is None:
            return VoidOutcome(auth.id or 0, auth.amount, False,
                               "prestataire injoignable : annulation reprise par le rapprochement")
        if resp.outcome is Outcome.VOIDED:
            if auth.state in (m.AuthState.APPROVED, m.AuthState.EXPIRED, m.AuthState.UNKNOWN):
                auth.move(m.AuthState.VOIDED)
            auth.void_state = m.VoidState.DONE
            if inst is not None and inst.authorized_until is not None and inst.authorized_until == auth.expires_at:
                inst.authorized_until = None
            return VoidOutcome(auth.id or 0, auth.amount, True, f"autorisation {auth.auth_code or auth.id} annulée")
        auth.void_state = m.VoidState.DONE  # the acquirer refused: nothing to retry, report it
        return VoidOutcome(auth.id or 0, auth.amount, False,
                           f"annulation refusée ({resp.code} {resp.message or self.label(resp.code)})")

    def _load_any(self, uow: UnitOfWork, order_id: int) -> m.Order:
        order = uow.orders.get(order_id, lock=True) if self._id_in_range(order_id) else None
        if order is None:
            raise NotFound(f"commande {order_id} inconnue")
        return order

    @staticmethod
    def _mark_for_void(order: m.Order) -> list[int]:
        """Mark the order's live authorizations for void in the same transaction as the change that
        makes them useless, so a process killed before the voids leaves work the reconciler does."""
        live = order.live_authorizations()
        for a in live:
            a.void_state = m.VoidState.PENDING
        return [a.id for a in live if a.id is not None]

    async def _void_all(self, actor: m.Actor, order_id: int, auth_ids: list[int]) -> list[VoidOutcome]:
        return [await self._void(actor, order_id, a) for a in auth_ids]

    async def delete_order(self, actor: m.Actor, order_id: int) -> ValidationResult:
        return await self._close_order(actor, order_id, None)

    async def cancel_order(self, actor: m.Actor, order_id: int, reason: str) -> ValidationResult:
        if not reason or not reason.strip():
            raise EngineError("motif d'annulation obligatoire", field="reason")
        return await self._close_order(actor, order_id, reason)

    async def _close_order(self, actor: m.Actor, order_id: int, reason: str | None) -> ValidationResult:
        with self._unit() as uow:
            order = self._load(uow, order_id)
            live = self._mark_for_void(order)
            if reason is None:
                order.delete()
                uow.audit(actor.name, "ORDER_DELETE", order_id, total=order.total, voids=len(live))
            else:
                order.cancel(reason)
                uow.audit(actor.name, "ORDER_CANCEL", order_id, reason=reason[:200], voids=len(live))
            order.awaiting_decision = False
            order.touch(self.clock())
            self._commit(uow)
        voids = await self._void_all(actor, order_id, live)
        with self._unit() as uow:
            return ValidationResult(self._load_any(uow, order_id), voids=voids)

    # -- deferred payments -----------------------------------------------------------------
    async def cancel_deferred(self, actor: m.Actor, order_id: int, seq: int, pay_now: bool) -> ValidationResult:
        """DESIGN §1.4: void the deferred instalment's authorization, then drop it or pay it now."""
        with self._unit() as uow:
            order = self._load(uow, order_id)
            order.ensure_open()
            order.ensure_phone()
            inst = order.instalment(seq)
            if inst.state is not m.InstalmentState.PENDING:
                raise EngineError(f"échéance {seq} déjà {inst.state.value.lower()}", field="instalment")
            if not inst.is_deferred(order.order_date):
                raise EngineError(f"échéance {seq} : paiement immédiat, pas un différé", field="instalment")
            order.check_settled(inst)
            live = order.live_authorization(inst)
            live_id = live.id if live else None
            if live is not None:
                live.void_state = m.VoidState.PENDING  # committed with the decision: a crash cannot lose it
            self._commit(uow)
        voids = await self._void_all(actor, order_id, [live_id] if live_id else [])
        with self._unit() as uow:
            order = self._load(uow, order_id)
            inst = order.instalment(seq)
            if pay_now:
                inst.due_date = self.today()
                uow.audit(actor.name, "DEFERRED_PAY_NOW", order_id, instalment=seq, amount=inst.amount)
            else:
                inst.state = m.InstalmentState.CANCELLED
                order.total = order.total - inst.amount
                order.settle_if_done()
                uow.audit(actor.name, "DEFERRED_DROP", order_id, instalment=seq, amount=inst.amount,
                          order_status=order.status.value)
            order.touch(self.clock())
            self._commit(uow)
        if pay_now:
            return await self._authorize_after_change(actor, order_id, None, voids, only_seq=seq)
        return ValidationResult(self.get_order(order_id), voids=voids)

    # -- payment method --------------------------------------------------------------------
    async def change_payment_method(self, actor: m.Actor, order_id: int, method: m.PaymentMethod,
                                    card: CardData | None = None) -> ValidationResult:
        """Void what the old card holds, then authorize the new card (or nothing for cheque/transfer)."""
        if method is m.PaymentMethod.CARD:
            if card is None:
                raise EngineError("numéro de carte obligatoire", field="card")
            if card.brand not in self.acquirer.brands:
                raise EngineError(f"{self.label(NOT_ACCEPTED)} ({card.brand.value})", field="card")
        with self._unit() as uow:
            order = self._load(uow, order_id)
            order.ensure_open()
            for inst in order.pending_instalments():
                # A new card is authorized at once: nothing may be in flight. Cheque or transfer only
                # needs the old holds gone: a call in flight is voided when its answer arrives.
                order.check_settled(inst, allow_in_flight=method is not m.PaymentMethod.CARD)
            live = self._mark_for_void(order)
            old = f"{order.payment_method.value} {order.card or ''}".strip()
            # The new method is written with the old holds' void marks, before any void: a pre-check
            # claim after this commit finds no card to hold, and one in flight is voided on its answer
            # (cheque-races-precheck: in a second transaction, a pre-check landing between kept its hold).
            order.payment_method = method
            order.set_card(card.masked if card else None, None)
            order.awaiting_decision = False
            order.hold = m.PaymentHold.NONE
            uow.audit(actor.name, "PAYMENT_CHANGE", order_id, old=old,
                      new=f"{method.value} {card.masked if card else ''}".strip())
            order.touch(self.clock())
            self._commit(uow)
            status = order.status
        voids = await self._void_all(actor, order_id, live)
        if method is m.PaymentMethod.CARD and status is m.OrderStatus.VALIDATED:
            return await self._authorize_after_change(actor, order_id, card, voids)
        return ValidationResult(self.get_order(order_id), voids=voids)

    def audit_trail(self, actor: m.Actor, since: date | None = None, limit: int = 200) -> list[dict[str, object]]:
        """The trail, newest first (supervisors: it names every operator's actions and reasons)."""
        from sqlalchemy import select

        self.require_supervisor(actor, "journal d'audit")

        from d400tui.store import tables as t

        q = select(t.audit)
        if since:
            q = q.where(t.audit.c.at >= datetime.combine(since, datetime.min.time()))
        with self._unit() as uow:
            return [dict(r._mapping) for r in uow.session.execute(q.order_by(t.audit.c.id.desc()).limit(limit))]

    def verify_audit(self, actor: m.Actor, expect: str | None = None) -> ChainCheck:
        """Walk the audit chain (supervisors). It proves the records were not changed, removed or
        inserted one by one since they were written; whoever owns the database can still rewrite the
        whole chain, which only a head hash kept outside (printed here) can reveal."""
        self.require_supervisor(actor, "vérification du journal d'audit")
        with self._unit() as uow:
            return uow.audits.verify(expect=expect)

    # -- batch runs (supervisors) -----------------------------------------------------------
    async def precheck(self, actor: m.Actor, run_date: date | None = None, concurrency: int = 16,
                       progress: Callable[[int, int], None] | None = None) -> m.PrecheckRun:
        from .precheck import Precheck

        return await Precheck(self).run(actor, run_date, concurrency, progress)

    async def capture(self, actor: m.Actor, run_date: date | None = None, concurrency: int = 8,
                      progress: Callable[[int, int], None] | None = None) -> m.PrecheckRun:
        from .capture import Capture

        return await Capture(self).run(actor, run_date, concurrency, progress)

    async def capture_one(self, actor: m.Actor, order_id: int, seq: int, amount: Decimal | None = None,
                          ) -> tuple[str, Decimal, str, str, int | None]:
        from .capture import Capture

        return await Capture(self).capture_one(actor, order_id, seq, None, amount)

    def precheck_selection(self, run_date: date) -> list[tuple[int, int]]:
        from .precheck import Precheck

        return Precheck(self).selection(run_date)

    def last_runs(self, kind: str | None = None, limit: int = 10) -> list[m.PrecheckRun]:
        with self._unit() as uow:
            return uow.runs.last(kind, limit)

    def run_results(self, run_id: int, after_id: int = 0, limit: int = 1000,
                    outcome: str | None = None) -> list[m.RunResult]:
        with self._unit() as uow:
            return uow.runs.results(run_id, after_id, limit, outcome)

    # -- reconciliation --------------------------------------------------------------------
    async def reconcile(self, actor: m.Actor, grace_s: float | None = None) -> ReconcileReport:
        """Settle UNKNOWN authorizations (ask the acquirer by key), finish pending voids and
        captures. A row still REQUESTED whose sending process is gone (same machine), or older than
        `grace_s` (default: the acquirer timeout + 5 s, past which no live caller can still be
        waiting), belonged to a killed process: it is treated as UNKNOWN."""
        from sqlalchemy import and_, or_, select, update

        from d400tui.store import tables as t

        a = t.authorizations
        grace = timedelta(seconds=self.settings.acquirer_timeout + 5 if grace_s is None else grace_s)
        report = ReconcileReport()
        with self._unit() as uow:
            stale = [aid for aid, who, at in uow.session.execute(
                select(a.c.id, a.c.owner, a.c.requested_at).where(a.c.state == m.AuthState.REQUESTED.value))
                if owner.is_dead(who) or (at is not None and at <= self.clock() - grace)]
            if stale:
                uow.session.execute(update(a).where(a.c.id.in_(stale), a.c.state == m.AuthState.REQUESTED.value)
                                    .values(state=m.AuthState.UNKNOWN.value, response_code=NO_ANSWER,
                                            category=m.Category.UNAVAILABLE.value, label=self.label(NO_ANSWER)))
            # Safety sweep: a hold that nothing needs any more (order cancelled or deleted, instalment
            # dropped) is voided even if no void was ever asked for it.
            o, i = t.orders, t.instalments
            uow.session.execute(update(a).where(
                a.c.state == m.AuthState.APPROVED.value, a.c.kind == m.AuthKind.AUTHORIZE.value,
                a.c.void_state == m.VoidState.NONE.value, a.c.capture_pending.is_(False),
                or_(a.c.order_id.in_(select(o.c.id).where(o.c.status.in_(["CANCELLED", "DELETED"]))),
                    a.c.instalment_id.in_(select(i.c.id).where(i.c.state == "CANCELLED"))),
            ).values(void_state=m.VoidState.PENDING.value))
            uow.commit()
            rows = uow.session.execute(
                select(a.c.id, a.c.order_id).where(or_(
                    a.c.state == m.AuthState.UNKNOWN.value,
                    a.c.void_state == m.VoidState.PENDING.value,
                    and_(a.c.capture_pending.is_(True), a.c.state == m.AuthState.APPROVED.value),
                )).order_by(a.c.id)
            ).all()
        for auth_id, order_id in rows:
            try:
                line = await self._reconcile_one(actor, order_id, auth_id)
            except AcquirerUnavailable as exc:
                report.still_unknown.append(f"autorisation {auth_id} (commande {order_id}) : {exc}")
                continue
            if line.startswith("?"):
                report.still_unknown.append(line[1:])
            else:
                report.settled.append(line)
        return report

    async def _reconcile_one(self, actor: m.Actor, order_id: int, auth_id: int) -> str:
        with self._unit() as uow:
            order = self._load_any(uow, order_id)
            auth = next(a for a in order.authorizations if a.id == auth_id)
            state, key, kind = auth.state, auth.idempotency_key, auth.kind
            capturing = auth.capture_pending and auth.state is m.AuthState.APPROVED
            sender = auth.owner
        if capturing:
            if self._sender_alive_here(sender):
                # Its sender still waits for the answer: settling it now could clear the flag that
                # keeps the order from being cancelled while the capture may still go through.
                return "?" + f"autorisation {auth_id} (commande {order_id}) : remise en cours, réponse attendue"
            return await self._settle_capture(actor, order_id, auth_id, key)
        if state is m.AuthState.UNKNOWN:
            resp = await self.acquirer.status(key)
            if resp.outcome is Outcome.NOT_FOUND:
                # Never reached the issuer: nothing is held. An acquirer that speaks ISO 8583 still
                # gets the reversal its network expects for an unanswered request.
                await self._reverse_unanswered(key)
            with self._unit() as uow:
                order = self._load_any(uow, order_id)
                auth = next(a for a in order.authorizations if a.id == auth_id)
                if resp.outcome is Outcome.NOT_FOUND:
                    auth.move(m.AuthState.VOIDED)
                    auth.void_state = m.VoidState.DONE
                    auth.label = "jamais parvenue au prestataire"
                    inst = next((i for i in order.instalments if i.id == auth.instalment_id), None)
                    if inst is not None:
                        inst.auth_pending = False
                    msg = f"autorisation {auth_id} (commande {order_id}) : jamais parvenue, rien à annuler"
                else:
                    self._record_answer_reconciled(order, auth, resp)
                    msg = f"autorisation {auth_id} (commande {order_id}) : {auth.state.value} {auth.response_code}"
                uow.audit(actor.name, "RECONCILE", order_id, authorization=auth_id, state=auth.state.value)
                order.touch(self.clock())
                self._commit(uow)
                needs_void = (auth.state is m.AuthState.APPROVED and kind is m.AuthKind.AUTHORIZE
                              and (order.status in (m.OrderStatus.CANCELLED, m.OrderStatus.DELETED)
                                   or auth.void_state is m.VoidState.PENDING
                                   or not self._still_needed(order, auth)))
            if needs_void:
                v = await self._void(actor, order_id, auth_id)
                msg += f", {v.message}"
            return msg
        # a pending void
        v = await self._void(actor, order_id, auth_id)
        if not v.done and "injoignable" in v.message:
            return f"?autorisation {auth_id} (commande {order_id}) : {v.message}"
        return f"autorisation {auth_id} (commande {order_id}) : {v.message}"

    @staticmethod
    def _sender_alive_here(who: str | None) -> bool:
        """The process that sent a call runs on this machine and is still alive (it is waiting)."""
        return bool(who) and who.partition(":")[0] == owner.me().partition(":")[0] and not owner.is_dead(who)

    async def _settle_capture(self, actor: m.Actor, order_id: int, auth_id: int, key: str) -> str:
        """A capture sent by a process that died before writing its answer: the acquirer knows."""
        resp = await self.acquirer.status(key)
        with self._unit() as uow:
            order = self._load_any(uow, order_id)
            auth = next(a for a in order.authorizations if a.id == auth_id)
            inst = next((i for i in order.instalments if i.id == auth.instalment_id), None)
            auth.capture_pending = False
            if inst is not None:
                inst.auth_pending = False
            if resp.outcome is Outcome.CAPTURED:
                auth.move(m.AuthState.CAPTURED)  # captured_amount already holds the amount that was sent
                if inst is not None:
                    inst.state = m.InstalmentState.CAPTURED
                    inst.authorized_until = None
                order.settle_if_done()
                msg = f"autorisation {auth_id} (commande {order_id}) : remise faite ({auth.captured_amount} €)"
            else:
                auth.captured_amount = Decimal("0.00")
                msg = f"autorisation {auth_id} (commande {order_id}) : remise non faite, à relancer"
            uow.audit(actor.name, "RECONCILE_CAPTURE", order_id, authorization=auth_id, outcome=resp.outcome.value)
            order.touch(self.clock())
            self._commit(uow)
            return msg

    async def _reverse_unanswered(self, key: str) -> None:
        inner = getattr(self.acquirer, "inner", None)  # under the circuit breaker
        reverse = getattr(self.acquirer, "reverse", None) or getattr(inner, "reverse", None)
        if reverse is None:
            return
        try:
            await reverse(key, key + "-reversal")
        except AcquirerUnavailable as exc:
            log.warning("reversal of %s not sent (%s): the host will time it out", key, exc)

    @staticmethod
    def _still_needed(order: m.Order, auth: m.Authorization) -> bool:
        inst = next((i for i in order.instalments if i.id == auth.instalment_id), None)
        if inst is None or inst.state is not m.InstalmentState.PENDING:
            return False
        others = [a for a in order.authorizations_of(inst) if a.id != auth.id and a.state is m.AuthState.APPROVED]
        return not others

    def _record_answer_reconciled(self, order: m.Order, auth: m.Authorization, resp: AcquirerResponse) -> None:
        if resp.outcome is Outcome.DECLINED:
            self._record_answer(order, auth, resp)
            if auth.void_state is m.VoidState.PENDING:
                auth.void_state = m.VoidState.DONE  # refused: nothing was held, nothing to void
            return
        if resp.outcome is Outcome.CAPTURED:
            auth.move(m.AuthState.APPROVED)
            auth.move(m.AuthState.CAPTURED)
            auth.captured_amount = resp.amount or auth.amount
            auth.acquirer_ref, auth.auth_code, auth.response_code = resp.reference, resp.auth_code, resp.code
            auth.category = m.Category.APPROVED
            return
        self._record_answer(order, auth, resp)
