"""Voids that did not get through (the acquirer was down), for supervisors: the list ordered by
the Visa clock — the hold that has sat longest on a cardholder's account first, since Visa charges
a misuse-of-authorization fee on a card-not-present hold neither captured nor reversed in time —
and their retries: the scheduled one takes each void when its next try on the backoff has come
(`void_retry_after`: 5 min, 1 h, 1 day …), a supervisor may retry one at once. Every try is
counted on the row and audited (a VOID record with its attempt number)."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.read_models import PendingVoid
from d400tui.store import pending_voids as store

from . import reconcile
from . import steps as s
from .errors import NotFound
from .results import ReconcileReport, VoidOutcome

WHAT = Message("engine.what_voids")


def pending(ctx: s.Context, actor: m.Actor, limit: int = 500) -> list[PendingVoid]:
    ctx.require_supervisor(actor, WHAT)
    with ctx.db.uow() as uow:
        return store.pending_voids(uow.session, limit)


async def retry_due(ctx: s.Context, actor: m.Actor, every: bool = False) -> ReconcileReport:
    """The scheduled retry (what a cron runs every few minutes): the reconciler, each pending void
    taken only once its next try has come; `every`: all of them now (the service is back)."""
    ctx.require_supervisor(actor, WHAT)
    return await reconcile.reconcile(ctx, actor, due_only=not every)


async def retry_one(ctx: s.Context, actor: m.Actor, auth_id: int) -> VoidOutcome:
    """Try one pending void now, whatever its backoff says."""
    ctx.require_supervisor(actor, WHAT)
    found = next((p for p in pending(ctx, actor) if p.auth_id == auth_id), None)
    if found is None:
        raise NotFound("engine.void_not_pending", auth=auth_id)
    return await ctx.void(actor, found.order_id, auth_id)
