"""Failover to a secondary acquirer (issue 13.5), through the engine on SQLite and PostgreSQL,
over real transports: the first acquirer is an HTTP service nobody listens on (connection
refused: definitely not sent), or the in-process simulator whose card never answers (a time-out:
not definite). The secondary is a simulated issuer of its own state file."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import update

from bench._servers import free_port
from d400tui.domain import model as m
from d400tui.domain.cards import Brand, CardData, parse_expiry
from d400tui.domain.message import Message
from d400tui.engine import USER_ERRORS, EngineError
from d400tui.engine.failover import definite
from d400tui.store import tables as t
from tests.support.demo import OPER, SUPER

A = ("BON0001", 1)
CARD = "4970100000000014"


def card(pan: str = CARD, network: Brand | None = None) -> CardData:
    return CardData(pan, parse_expiry("12/30"), "123", network)


@pytest.fixture
async def engine2(settings, monkeypatch):  # type: ignore[no-untyped-def]
    """An engine whose first acquirer refuses connections and whose secondary is a simulator."""
    from d400tui.engine import open_engine

    monkeypatch.setattr(settings, "acquirer", "http")
    monkeypatch.setattr(settings, "acquirer_url", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(settings, "secondary_acquirer", "simulator")
    e = open_engine(settings)
    yield e
    await e.close()


def holds(engine) -> int:  # type: ignore[no-untyped-def]
    return len(engine.secondary.issuer.live_holds())


async def test_primary_refusing_connections_fails_over_on_the_operators_choice(engine2) -> None:  # type: ignore[no-untyped-def]
    assert engine2.secondary.name == "simulator"
    result = await engine2.place_order(OPER, 100001, [A], card(network=Brand.VISA))
    failed = result.failed
    assert failed is not None and failed.category is m.Category.UNAVAILABLE
    assert failed.state is m.AuthState.DECLINED  # never left: settled at once, not UNKNOWN
    assert engine2.failover_target(failed) == "simulator"
    assert holds(engine2) == 0
    again = await engine2.decide(OPER, result.order.id, m.DecisionKind.FAILOVER, card=card(network=Brand.VISA))
    assert again.approved
    order = engine2.get_order(result.order.id)
    first, second = order.authorizations
    assert (first.acquirer, second.acquirer) == ("http", "simulator")
    assert second.network == "VISA" and engine2.secondary.issuer.hold_networks()[second.acquirer_ref] == "VISA"
    assert order.decisions[-1].kind is m.DecisionKind.FAILOVER
    assert holds(engine2) == 1
    # the void goes to the acquirer that holds it, not to the first one (still down)
    cancelled = await engine2.cancel_order(OPER, order.id, "client annule")
    assert all(v.done for v in cancelled.voids)
    assert holds(engine2) == 0


async def test_failover_is_refused_without_the_card_or_twice(engine2) -> None:  # type: ignore[no-untyped-def]
    result = await engine2.place_order(OPER, 100001, [A], card())
    with pytest.raises(EngineError) as exc:
        await engine2.decide(OPER, result.order.id, m.DecisionKind.FAILOVER)
    assert exc.value.message.key == "engine.failover_card"
    assert [d.kind for d in engine2.get_order(result.order.id).decisions] == []  # refused before it is recorded
    await engine2.decide(OPER, result.order.id, m.DecisionKind.FAILOVER, card=card())
    assert holds(engine2) == 1


async def test_secondary_must_take_the_brand(engine2, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(engine2.secondary, "brands", frozenset({Brand.MASTERCARD}))
    result = await engine2.place_order(OPER, 100001, [A], card())
    with pytest.raises(EngineError) as exc:
        await engine2.decide(OPER, result.order.id, m.DecisionKind.FAILOVER, card=card())
    assert exc.value.message.key == "engine.failover_brand"
    assert holds(engine2) == 0


async def test_a_time_out_never_fails_over_and_is_reconciled(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from d400tui.engine import open_engine

    monkeypatch.setattr(settings, "secondary_acquirer", "simulator")
    engine = open_engine(settings)
    try:
        assert engine.secondary.name == "simulator-2"  # same kind as the first: told apart
        engine.acquirer.timeout_s = 0.3
        hang = card("4970100000000089")  # the issuer holds it but never answers
        result = await engine.place_order(OPER, 100001, [A], hang)
        assert result.failed.state is m.AuthState.UNKNOWN
        assert engine.failover_target(result.failed) is None
        with pytest.raises(USER_ERRORS) as exc:  # maybe a hold: reconcile first
            await engine.decide(OPER, result.order.id, m.DecisionKind.FAILOVER, card=hang)
        assert exc.value.message.key == "engine.unsettled"
        report = await engine.reconcile(SUPER, grace_s=0)
        assert report.settled
        order = engine.get_order(result.order.id)
        assert [a.state for a in order.authorizations] == [m.AuthState.APPROVED]
        with pytest.raises(USER_ERRORS):  # settled approved: nothing to fail over
            await engine.decide(OPER, result.order.id, m.DecisionKind.FAILOVER, card=hang)
        # one hold in all: the first issuer's; the secondary was never asked
        assert len(engine.acquirer.issuer.live_holds()) == 1
        assert engine.secondary.issuer.holds() == []
    finally:
        engine.acquirer.issuer.close()
        engine.secondary.issuer.close()
        engine.db.dispose()


@pytest.mark.parametrize("failover", [False, True])
async def test_precheck_fails_over_by_setting(settings, monkeypatch, failover: bool) -> None:  # type: ignore[no-untyped-def]
    """A deferred order taken while the first acquirer worked; at the pre-check it refuses
    connections. The secondary here is another front end of the same processor (the same issuer
    state): it knows the card's token. Without the setting the row is settled "not sent"."""
    from d400tui.engine import open_engine

    today = date.today()
    plan = m.Plan(m.PlanKind.DEFERRED, deferred_to=today + timedelta(days=20))
    first = open_engine(settings)
    placed = await first.place_order(OPER, 100001, [A], card(network=Brand.VISA), plan=plan)
    with first.db.engine.begin() as conn:  # taken through the processor's http front end (issuer branch)
        conn.execute(update(t.orders).where(t.orders.c.id == placed.order.id).values(token_acquirer="http"))
    first.acquirer.issuer.close()
    first.db.dispose()
    monkeypatch.setattr(settings, "acquirer", "http")
    monkeypatch.setattr(settings, "acquirer_url", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(settings, "secondary_acquirer", "simulator")
    monkeypatch.setattr(settings, "secondary_simulator_db", settings.simulator_path)
    monkeypatch.setattr(settings, "failover_precheck", failover)
    monkeypatch.setattr(settings, "secondary_shares_tokens", True)  # the same processor's token vault
    run_date = today + timedelta(days=20)
    engine = open_engine(settings, clock=lambda: datetime.combine(run_date, datetime.min.time()) + timedelta(hours=9))
    try:
        run = await engine.precheck(SUPER, run_date, concurrency=2)
        order = engine.get_order(placed.order.id)
        last = order.authorizations[-1]
        if not failover:
            assert run.unavailable == 1
            assert last.state is m.AuthState.DECLINED and last.acquirer == "http"  # never UNKNOWN: not sent
            assert isinstance(last.label, Message) and last.label.key == "engine.not_sent_label"
            assert engine.secondary.issuer.live_holds() == {}
        else:
            assert run.approved == 1
            assert last.state is m.AuthState.APPROVED and last.acquirer == "simulator"
            assert last.network == "VISA"
            assert engine.secondary.issuer.hold_networks()[last.acquirer_ref] == "VISA"
            assert list(engine.secondary.issuer.live_holds()) == [last.acquirer_ref]
    finally:
        await engine.close()


def test_what_is_definite() -> None:
    assert definite("91", "", m.AuthState.DECLINED) and definite("96", "", m.AuthState.DECLINED)
    assert definite("A0", Message("engine.not_sent_label"), m.AuthState.DECLINED)
    assert not definite("A0", "Pas de réponse", m.AuthState.UNKNOWN)  # a time-out
    assert not definite("91", "", m.AuthState.UNKNOWN)
    assert not definite("05", "", m.AuthState.DECLINED)


async def test_two_terminals_pressing_s_at_once_make_one_hold(engine2) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    result = await engine2.place_order(OPER, 100001, [A], card())
    outcomes = await asyncio.gather(
        *(engine2.decide(OPER, result.order.id, m.DecisionKind.FAILOVER, card=card()) for _ in range(2)),
        return_exceptions=True,
    )
    assert sum(1 for o in outcomes if not isinstance(o, BaseException) and o.approved) == 1
    assert all(isinstance(o, USER_ERRORS) for o in outcomes if isinstance(o, BaseException))
    assert holds(engine2) == 1
    order = engine2.get_order(result.order.id)
    assert [a.state for a in order.authorizations if a.acquirer == "simulator"] == [m.AuthState.APPROVED]
