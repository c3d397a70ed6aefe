"""The pre-check's call for one claim (issue 13.5): the stored token goes to the acquirer that
issued it (the claim's row names it) — a token is good nowhere else —, and a failover by setting
when that acquirer is the first and definitely failed. Kept out of precheck.py, the run's loop."""

from __future__ import annotations

import asyncio
import logging
import secrets

from d400tui.acquirers.base import Acquirer, AcquirerResponse, AcquirerUnavailable, NotSent, PaymentSource
from d400tui.domain import model as m
from d400tui.domain.cards import Brand
from d400tui.domain.message import Message
from d400tui.store.claims import PrecheckClaim
from d400tui.store.failover import hand_over, move_request

from . import failover, owner
from .runs import BatchContext

log = logging.getLogger("d400.engine")


def configured(e: BatchContext) -> tuple[str, ...]:
    """The acquirers a stored token may be sent to: the one that issued it, if configured."""
    second = e.secondary
    return (e.acquirer.name, second.name) if second is not None else (e.acquirer.name,)


async def send(
    e: BatchContext, c: PrecheckClaim, db_turn: asyncio.Semaphore, actor: str
) -> tuple[AcquirerResponse | None, bool, Message | None]:
    """The call, whether it left, and the failover it took (what the run's result says). When the
    token's acquirer is the first and it definitely failed (never sent, or it answered 91/96), the
    run fails over by setting (`failover_precheck`) — only to a secondary that takes the brand and
    the first one's tokens (`secondary_shares_tokens`): a row never sent is handed to it, one
    answered 91/96 is settled and a new row (a new key) made for it, committed before the call.
    A time-out never fails over (UNKNOWN, for the reconciler)."""
    holder = e.token_acquirer(c.acquirer)
    if holder is None:  # a row taken over after the settings changed: its sender may have sent it
        log.warning("authorization %s: acquirer %s no longer configured", c.auth_id, c.acquirer)
        return None, True, None
    source = PaymentSource(token=c.token, network=Brand(c.network) if c.network else None)
    sent = True
    try:
        resp = await holder.authorize(source, c.amount, c.key)
    except NotSent:
        resp, sent = failover.NOT_SENT_ANSWER, False
    except AcquirerUnavailable:
        return None, True, None
    target = _target(e, c, holder) if failover.definite_answer(resp, sent) else None
    if target is None:
        return resp, sent, None
    async with db_turn:
        if sent:
            moved = await asyncio.to_thread(_hand_over, e, c, target.name, resp.code, actor)
        else:
            moved = await asyncio.to_thread(_move, e, c, target.name)
    if not moved:
        return resp, sent, None
    why = (
        Message("engine.precheck_failed_over", acquirer=target.name, first=holder.name, code=resp.code)
        if sent
        else Message("engine.precheck_failed_over_not_sent", acquirer=target.name, first=holder.name)
    )
    try:
        return await target.authorize(source, c.amount, c.key), True, why
    except NotSent:
        return failover.NOT_SENT_ANSWER, False, why
    except AcquirerUnavailable:
        return None, True, why  # UNKNOWN: the reconciler asks the secondary (the row names it)


def _target(e: BatchContext, c: PrecheckClaim, holder: Acquirer) -> Acquirer | None:
    """The secondary a definitely failed pre-check call may go to, or None (see send)."""
    secondary, settings = e.secondary, e.settings
    if secondary is None or holder is secondary or not settings.failover_precheck:
        return None
    if not settings.secondary_shares_tokens:  # the first one's token means nothing there
        return None
    brand = Brand(c.network) if c.network else Brand(c.brand)
    return secondary if brand in secondary.brands else None


def _hand_over(e: BatchContext, c: PrecheckClaim, acquirer: str, code: str, actor: str) -> bool:
    """The first acquirer's 91/96 settled on its row (audited), the claim moved to a new
    REQUESTED row for `acquirer` under a new key (store.failover.hand_over)."""
    key = secrets.token_hex(16)
    with e.unit() as uow:
        now, label = e.clock(), e.label(code)
        new_id = hand_over(uow.session, c.auth_id or 0, acquirer, key, code, label, now, owner.me())
        if new_id is None:
            return False
        uow.audit(
            actor, "AUTHORIZE", c.order_id, authorization=c.auth_id, state=m.AuthState.DECLINED.value,
            code=code, amount=c.amount, failover_to=acquirer,
        )  # fmt: skip
        uow.commit()
    c.auth_id, c.key, c.acquirer = new_id, key, acquirer
    return True


def _move(e: BatchContext, c: PrecheckClaim, acquirer: str) -> bool:
    """A request the first acquirer never got: its row (same key) handed to `acquirer`, which the
    claim names from now on (its answer's validity window is that acquirer's)."""
    with e.unit() as uow:
        moved = move_request(uow.session, c.auth_id or 0, acquirer)
        uow.commit()
    if moved:
        c.acquirer = acquirer
    return moved
