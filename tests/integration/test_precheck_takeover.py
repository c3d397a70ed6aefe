"""A worker taking over a lost worker's pre-check claims voids their expired holds where they are
held (issue 13.5, issuer2 branch), on SQLite and PostgreSQL: the hold the claim replaces was made
on the secondary (an operator's failover, whose token the order now carries); the lost worker
claimed the instalment (old hold EXPIRED, void pending, a REQUESTED row) and never sent anything.
The worker that takes the claim over must void the old hold at the secondary — the first
acquirer does not know it, and its "unknown authorization" would mark a live hold voided."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from d400tui.domain import model as m
from d400tui.store import claims, leases
from d400tui.store import tables as t
from tests.integration.test_token_issuer import close, failed_over, open_two
from tests.support.demo import SUPER

LOST = "elsewhere:4242:1"  # a worker of another machine whose lease has run out


def lapse(engine, order_id: int) -> None:  # type: ignore[no-untyped-def]
    """The order's hold past its validity (in our books): the next pre-check re-authorizes it."""
    i = t.instalments
    with engine.db.engine.begin() as conn:
        conn.execute(
            update(i).where(i.c.order_id == order_id).values(authorized_until=engine.clock() - timedelta(hours=1))
        )


def voids_at_the_first(engine) -> list[str]:  # type: ignore[no-untyped-def]
    """The references the first acquirer is asked to void from now on."""
    asked: list[str] = []
    void = engine.acquirer.void

    async def recorded(reference: str, key: str):  # type: ignore[no-untyped-def]
        asked.append(reference)
        return await void(reference, key)

    engine.acquirer.void = recorded
    return asked


def claimed_by_a_lost_worker(engine, run_id: int) -> list[claims.PrecheckClaim]:  # type: ignore[no-untyped-def]
    """What a worker on another machine claimed in the run before it vanished (lease run out)."""
    with engine.unit() as uow:
        run = uow.runs.get(run_id)
        leases.join(uow.session, run_id, LOST, 4, -1.0)
        got, _ = claims.claim_precheck(
            uow.session, run_id, run.run_date, run.started_at, engine.clock(), 32, 0,
            engine.acquirer.name, SUPER.name, LOST, "no token", ("simulator", "simulator-2"),
        )  # fmt: skip
        uow.commit()
    return got


async def test_a_taken_over_claim_voids_the_old_hold_at_the_acquirer_holding_it(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine = open_two(settings, monkeypatch)
    try:
        oid = await failed_over(engine)
        (held,) = [a for a in engine.get_order(oid).authorizations if a.state is m.AuthState.APPROVED]
        assert held.acquirer == "simulator-2" and list(engine.secondary.issuer.live_holds()) == [held.acquirer_ref]
        lapse(engine, oid)
        run_id = engine.start_precheck(SUPER, engine.today(), 4)
        (claim,) = claimed_by_a_lost_worker(engine, run_id)
        assert (claim.old_auth_id, claim.old_acquirer, claim.acquirer) == (held.id, "simulator-2", "simulator-2")
        first_calls, first_voids = len(engine.acquirer.issuer.holds()), voids_at_the_first(engine)
        run = await engine.precheck(SUPER, None, 4, run_id=run_id, lease_s=2)
        assert run.approved == 1
        order = engine.get_order(oid)
        old = next(a for a in order.authorizations if a.id == held.id)
        assert (old.state, old.void_state) == (m.AuthState.VOIDED, m.VoidState.DONE)
        (new,) = [a for a in order.authorizations if a.state is m.AuthState.APPROVED]
        assert new.acquirer == "simulator-2" and new.id == claim.auth_id  # the lost worker's row, sent
        # the old hold is gone at the secondary, which holds the new one only; the first never asked
        assert list(engine.secondary.issuer.live_holds()) == [new.acquirer_ref]
        assert len(engine.acquirer.issuer.holds()) == first_calls and first_voids == []
        voids = [r for r in engine.audit_trail(SUPER, limit=50) if r["action"] == "VOID" and r["order_id"] == oid]
        assert voids and '"done": true' in voids[0]["detail"]
    finally:
        await close(engine)


async def test_a_taken_over_claim_whose_old_hold_names_no_acquirer_leaves_its_void_pending(
    settings, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """An old hold whose row names no acquirer (a row from before acquirers were recorded): the
    taking-over worker does not guess (the first acquirer by default): the void stays pending."""
    engine = open_two(settings, monkeypatch)
    try:
        oid = await failed_over(engine)
        (held,) = [a for a in engine.get_order(oid).authorizations if a.state is m.AuthState.APPROVED]
        lapse(engine, oid)
        run_id = engine.start_precheck(SUPER, engine.today(), 4)
        claimed_by_a_lost_worker(engine, run_id)
        with engine.db.engine.begin() as conn:
            a = t.authorizations
            conn.execute(update(a).where(a.c.id == held.id).values(acquirer=""))
        first_voids = voids_at_the_first(engine)
        run = await engine.precheck(SUPER, None, 4, run_id=run_id, lease_s=2)
        assert run.approved == 1
        old = next(a for a in engine.get_order(oid).authorizations if a.id == held.id)
        assert (old.state, old.void_state) == (m.AuthState.EXPIRED, m.VoidState.PENDING)
        assert first_voids == []  # not sent where it is not held
        assert held.acquirer_ref in engine.secondary.issuer.live_holds()  # still held: nothing lost
    finally:
        await close(engine)
