"""An approval's validity window is the approving acquirer's (issue 13.5 × 12, issuer2 branch), on
SQLite and PostgreSQL: an authorization approved on the secondary — the operator's S, the
pre-check's failover after a 91 or a call that never left, the pre-check asking the token's
issuer — takes the validity model's window under the secondary's name (here a per-acquirer
override), never the first acquirer's."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import update

from bench._servers import free_port
from d400tui.domain import model as m
from d400tui.domain.validity import Initiator
from d400tui.store import tables as t
from tests.integration.test_token_issuer import answering as shared_answering
from tests.integration.test_token_issuer import at, card, close
from tests.integration.test_token_issuer import open_two as shared_open_two
from tests.support.demo import OPER, SUPER

A = ("BON0001", 1)
GOOD = "4970100000000014"
SHORT = {"simulator-2": {"VISA:CIT:FINAL": "3d", "VISA:MIT:FINAL": "2d"}}  # the secondary's own windows


def answering(issuer, code: str) -> None:  # type: ignore[no-untyped-def]
    shared_answering(issuer, GOOD, code)


def open_two(settings, monkeypatch, clock=None, **more):  # type: ignore[no-untyped-def]
    """The first acquirer `simulator`, the secondary `simulator-2` with its own windows."""
    return shared_open_two(settings, monkeypatch, clock, validity_windows=SHORT, **more)


def authorizations(engine, order_id: int) -> list[m.Authorization]:  # type: ignore[no-untyped-def]
    return [a for a in engine.get_order(order_id).authorizations if a.kind is m.AuthKind.AUTHORIZE]


async def test_an_operators_failover_holds_the_secondarys_window(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine = open_two(settings, monkeypatch)
    try:
        first = await engine.place_order(OPER, 100001, [A], card())  # approved on the first: its 7 days
        assert first.approved
        answering(engine.acquirer.issuer, "91")
        placed = await engine.place_order(OPER, 100002, [A], card())
        assert placed.failed is not None and placed.failed.code == "91"
        again = await engine.decide(OPER, placed.order.id, m.DecisionKind.FAILOVER, card=card())
        assert again.approved
        (mine,) = authorizations(engine, first.order.id)
        assert (mine.acquirer, mine.expires_at - mine.requested_at) == ("simulator", timedelta(days=7))
        moved = authorizations(engine, placed.order.id)[-1]
        assert moved.acquirer == "simulator-2" and moved.state is m.AuthState.APPROVED
        assert moved.expires_at - moved.requested_at == timedelta(days=3)  # not the first one's 7
        assert engine.get_order(placed.order.id).instalments[0].authorized_until == moved.expires_at
    finally:
        await close(engine)


@pytest.mark.parametrize("how", ["token", "failover"])
async def test_the_precheck_on_the_secondary_holds_its_merchant_initiated_window(settings, monkeypatch, how) -> None:  # type: ignore[no-untyped-def]
    """A pre-check approval at the secondary: asked there because the order's token is the
    secondary's (an earlier S), or failed over after the first's 91 (a shared token vault)."""
    run_date = date.today() + timedelta(days=20)
    plan = m.Plan(m.PlanKind.DEFERRED, deferred_to=run_date)
    engine = open_two(settings, monkeypatch)
    try:
        if how == "token":
            answering(engine.acquirer.issuer, "91")
        placed = await engine.place_order(OPER, 100001, [A], card(), plan=plan)
        if how == "token":
            assert (await engine.decide(OPER, placed.order.id, m.DecisionKind.FAILOVER, card=card())).approved
    finally:
        await close(engine)
    more = {}
    if how == "failover":
        more = dict(
            failover_precheck=True, secondary_shares_tokens=True, secondary_simulator_db=settings.simulator_path
        )
    engine = open_two(settings, monkeypatch, clock=at(run_date), **more)
    try:
        answering(engine.acquirer.issuer, "91")
        run = await engine.precheck(SUPER, run_date, concurrency=2)
        assert run.approved == 1
        last = authorizations(engine, placed.order.id)[-1]
        assert (last.acquirer, last.state, last.initiator) == ("simulator-2", m.AuthState.APPROVED, Initiator.MIT)
        assert last.expires_at == at(run_date)() + timedelta(days=2)  # the first's Visa MIT: 5 days
        assert engine.get_order(placed.order.id).instalments[0].authorized_until == last.expires_at
    finally:
        await close(engine)


async def test_a_precheck_call_that_never_left_holds_the_secondarys_window(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The first acquirer refuses connections at the pre-check: the row is handed to the
    secondary (same key), whose window the approval takes."""
    from d400tui.engine import open_engine

    today = date.today()
    run_date = today + timedelta(days=20)
    first = open_engine(settings)
    placed = await first.place_order(OPER, 100001, [A], card(), plan=m.Plan(m.PlanKind.DEFERRED, deferred_to=run_date))
    with first.db.engine.begin() as conn:  # taken through the processor's http front end
        conn.execute(update(t.orders).where(t.orders.c.id == placed.order.id).values(token_acquirer="http"))
    first.acquirer.issuer.close()
    first.db.dispose()
    for k, v in dict(
        acquirer="http",
        acquirer_url=f"http://127.0.0.1:{free_port()}",
        secondary_acquirer="simulator",
        secondary_simulator_db=settings.simulator_path,
        failover_precheck=True,
        secondary_shares_tokens=True,
        validity_windows={"simulator": {"VISA:MIT:FINAL": "2d"}, "http": {"VISA:MIT:FINAL": "6d"}},
    ).items():
        monkeypatch.setattr(settings, k, v)
    engine = open_engine(settings, clock=at(run_date))
    try:
        run = await engine.precheck(SUPER, run_date, concurrency=2)
        assert run.approved == 1
        last = authorizations(engine, placed.order.id)[-1]
        assert (last.acquirer, last.state) == ("simulator", m.AuthState.APPROVED)
        assert last.expires_at == at(run_date)() + timedelta(days=2)  # not http's 6 days
    finally:
        await engine.close()
