"""The authorization plan of an order: which calls to make (AUTHORIZE what falls due within the card's
validity, one VERIFY for what falls due later), made one after the other, each REQUESTED row
committed before its call, stopping at the first refusal so the operator decides before anything
else is asked. Used by validation, a retry decision and every change that re-authorizes."""

from __future__ import annotations

import logging

from d400tui.acquirers.base import Acquirer, AcquirerResponse, AcquirerUnavailable, NotSent, PaymentSource
from d400tui.domain import model as m
from d400tui.domain.cards import Brand, CardData
from d400tui.domain.message import Message
from d400tui.store.batch_writes import DatabaseBusy, database_errors
from d400tui.store.db import UnitOfWork

from . import failover, lookups, networks
from . import steps as s
from .errors import EngineError
from .results import AuthAnswer, ValidationResult, VoidOutcome

log = logging.getLogger("d400.engine")


def plan(
    ctx: s.Context, order: m.Order, card: CardData | None, only_seq: int | None
) -> list[tuple[int | None, m.AuthKind]]:
    """Which calls to make: AUTHORIZE each pending instalment due within the validity window,
    one VERIFY of the card when others fall due later. Refuses while anything is unsettled."""
    brand = order.card_brand or (card.brand.value if card else "UNKNOWN")
    limit = ctx.today() + ctx.validity(brand, auth_type=ctx.auth_type_for(order, brand))
    considered = [i for i in order.pending_instalments() if only_seq is None or i.seq == only_seq]
    for inst in considered:
        order.check_settled(inst)
    todo = [i for i in considered if order.live_authorization(i) is None]
    steps: list[tuple[int | None, m.AuthKind]] = [(i.seq, m.AuthKind.AUTHORIZE) for i in todo if i.due_date <= limit]
    has_verify = any(a.kind is m.AuthKind.VERIFY and a.state is m.AuthState.APPROVED for a in order.authorizations)
    if only_seq is None and not has_verify and any(i.due_date > limit for i in todo):
        steps.append((None, m.AuthKind.VERIFY))
    return steps


async def authorize_due(
    ctx: s.Context,
    actor: m.Actor,
    order_id: int,
    card: CardData | None,
    only_seq: int | None = None,
    via: Acquirer | None = None,
) -> ValidationResult:
    with ctx.unit() as uow:
        return await authorize_planned(ctx, uow, actor, s.load(uow, order_id), card, only_seq, via)


async def authorize_planned(
    ctx: s.Context,
    uow: UnitOfWork,
    actor: m.Actor,
    order: m.Order,
    card: CardData | None,
    only_seq: int | None = None,
    via: Acquirer | None = None,
) -> ValidationResult:
    """Plan the calls, commit the first REQUESTED row with whatever `uow` already holds, then
    run the calls one after the other, stopping at the first refusal (the operator decides
    before anything else). One transaction after each call. `via`: the acquirer to ask (a
    failover's secondary); default the first one for a card as typed, and for the stored token the
    acquirer that issued it (a token is only good there)."""
    acquirer = via or (ctx.acquirer if card is not None else s.token_holder(ctx, order))
    if card is not None:  # the network chosen at entry (CB by default) travels with every later call
        card = networks.route(acquirer, card)
        order.card_network = card.network.value if card.network else None
    network = Brand(order.card_network) if order.card_network else None
    steps = plan(ctx, order, card, only_seq)
    if not steps:
        order.awaiting_decision = False
        order.touch(ctx.clock())
        s.commit(uow)
        return ValidationResult(order)
    pending = s.open_request(ctx, uow, order, actor, *steps[0], card, acquirer)
    s.commit(uow)
    order_id = order.id or 0
    answers: list[AuthAnswer] = []
    source_card = card
    for n, (seq, kind) in enumerate(steps):
        auth_id, key, amount, token = pending
        source = PaymentSource(card=source_card) if source_card else PaymentSource(token=token, network=network)
        source_card = None  # later calls use the token the first one brought back
        sent = True
        try:
            if kind is m.AuthKind.VERIFY:
                resp: AcquirerResponse | None = await acquirer.verify(source, key)
            else:
                resp = await acquirer.authorize(source, amount, key)
        except NotSent as exc:  # never left: nothing held, settled at once (a failover may follow)
            log.warning("authorization %s: not sent (%s)", auth_id, exc)
            resp, sent = failover.NOT_SENT_ANSWER, False
        except AcquirerUnavailable as exc:
            log.warning("authorization %s: no answer (%s)", auth_id, exc)
            resp = None
        try:
            with database_errors(), ctx.unit() as after:
                order = s.load_any(after, order_id)
                auth = next(a for a in order.authorizations if a.id == auth_id)
                s.record_answer(ctx, order, auth, resp)
                if not sent:
                    failover.not_sent(auth)
                elif n == 0 and card is not None and resp is not None and resp.token:
                    # the card as typed: its new token, with the acquirer that issued it, replaces the
                    # old one (after a failover the later calls go to the secondary, which knows it)
                    order.card_token, order.token_acquirer = resp.token, auth.acquirer
                log.info(
                    "order %s %s %s %s: %s %s",
                    order_id,
                    kind.value.lower(),
                    auth.card,
                    amount,
                    auth.state.value,
                    auth.response_code,
                )
                after.audit(
                    actor.name,
                    "AUTHORIZE" if kind is m.AuthKind.AUTHORIZE else "VERIFY",
                    order_id,
                    authorization=auth_id,
                    amount=amount,
                    state=auth.state.value,
                    code=auth.response_code,
                )
                answers.append(s.answer(auth, seq))
                more = answers[-1].approved and n + 1 < len(steps) and order.status is m.OrderStatus.VALIDATED
                # Cancelled, deleted or re-paid on another terminal while the call was in flight:
                # the hold just made must go at once.
                orphan = auth.state is m.AuthState.APPROVED and (
                    auth.void_state is m.VoidState.PENDING or order.status is not m.OrderStatus.VALIDATED
                )
                more = more and not orphan
                if more:
                    pending = s.open_request(ctx, after, order, actor, *steps[n + 1], None, acquirer)
                else:
                    order.awaiting_decision = any(not a.approved for a in answers) and not orphan
                order.touch(ctx.clock())
                s.commit(after)
        except DatabaseBusy as exc:
            # The call went, its answer could not be written (the database busy past its wait):
            # the order and its REQUESTED row are committed and the reconciler settles it. Said so:
            # an operator told only "database locked" types the order again — a second hold.
            log.warning("order %s authorization %s: answer not recorded (%s)", order_id, auth_id, exc)
            raise EngineError("engine.answer_not_recorded", order=order_id) from exc
        if orphan:
            voids = [await ctx.void(actor, order_id, auth_id)]
            return ValidationResult(
                lookups.get_order(ctx, order_id),
                answers,
                voids,
                note=Message("engine.changed_meanwhile"),
            )
        if not more:
            return ValidationResult(order, answers)
    raise AssertionError("unreachable")  # pragma: no cover


async def authorize_after_change(
    ctx: s.Context,
    actor: m.Actor,
    order_id: int,
    card: CardData | None,
    voids: list[VoidOutcome],
    only_seq: int | None = None,
) -> ValidationResult:
    """The change is committed: whatever stops the new authorization now is reported with it,
    never as if the change had failed (the operator decides, with the order as it is)."""
    try:
        result = await authorize_due(ctx, actor, order_id, card, only_seq)
    except (EngineError, m.DomainError) as exc:
        return ValidationResult(
            lookups.get_order(ctx, order_id),
            voids=voids,
            note=Message("engine.change_saved", error=exc.message),
        )
    result.voids = voids
    return result
