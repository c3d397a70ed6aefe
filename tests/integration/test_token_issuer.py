"""A card token belongs to the acquirer that issued it (issue 13.5, issuer branch), on SQLite and
PostgreSQL, over the in-process simulated issuers: each acquirer has its own issuer state (its own
token vault) unless the test says they share one.

The first acquirer is up all along, but once answered 91 (issuer unavailable) for the card: the
operator's S sent it to the secondary, whose token the order then carries. Every later call with
that token — the pre-check's re-authorization, a modify's, an R — must go to the secondary: the
first does not know the token and would answer a false 14 (card unknown)."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, update

from d400tui.domain import model as m
from d400tui.domain.cards import Brand, CardData, parse_expiry
from d400tui.domain.message import Message
from d400tui.engine import EngineError
from d400tui.store import tables as t
from tests.support.demo import OPER, SUPER

A, B = ("BON0001", 1), ("GRI0002", 1)
GOOD = "4970100000000014"


def card(pan: str = GOOD) -> CardData:
    expiry, network = ("06/31", Brand.MASTERCARD) if pan.startswith("5") else ("12/30", Brand.VISA)
    return CardData(pan, parse_expiry(expiry), "123", network)


def answering(issuer, pan: str, code: str) -> None:  # type: ignore[no-untyped-def]
    """The simulated issuer's own rule for this card: what it answers from now on."""
    h = issuer.card_hash(pan)
    issuer.cards[h] = dataclasses.replace(issuer.cards[h], code=code)


def open_two(settings, monkeypatch, clock=None, **more):  # type: ignore[no-untyped-def]
    from d400tui.engine import open_engine

    monkeypatch.setattr(settings, "secondary_acquirer", "simulator")
    for k, v in more.items():
        monkeypatch.setattr(settings, k, v)
    return open_engine(settings, clock=clock)


async def close(engine) -> None:  # type: ignore[no-untyped-def]
    engine.acquirer.issuer.close()
    await engine.close()


def at(day: date):  # type: ignore[no-untyped-def]
    return lambda: datetime.combine(day, datetime.min.time()) + timedelta(hours=9)


async def failed_over(engine, plan: m.Plan | None = None, lines: list | None = None) -> int:  # type: ignore[no-untyped-def,type-arg]
    """An order the first acquirer answered 91 for, sent to the secondary by S and approved there."""
    answering(engine.acquirer.issuer, GOOD, "91")
    placed = await engine.place_order(OPER, 100001, lines or [A], card(), plan=plan)
    assert placed.failed is not None and placed.failed.code == "91"
    again = await engine.decide(OPER, placed.order.id, m.DecisionKind.FAILOVER, card=card())
    assert again.approved
    answering(engine.acquirer.issuer, GOOD, "00")  # the first one's issuer is back
    return int(placed.order.id)


def token_of(engine, order_id: int) -> tuple[str | None, str | None]:  # type: ignore[no-untyped-def]
    with engine.db.engine.connect() as conn:
        row = conn.execute(
            select(t.orders.c.card_token, t.orders.c.token_acquirer).where(t.orders.c.id == order_id)
        ).one()
    return row[0], row[1]


async def test_a_failover_token_is_the_secondarys_and_a_modify_goes_there(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine = open_two(settings, monkeypatch)
    try:
        oid = await failed_over(engine)
        token, issuer = token_of(engine, oid)
        assert token and issuer == "simulator-2"
        modified = await engine.modify_lines(OPER, oid, [A, B])
        assert modified.approved, modified.failed  # not a false 14 from the first acquirer
        order = engine.get_order(oid)
        last = order.authorizations[-1]
        assert last.state is m.AuthState.APPROVED and last.acquirer == "simulator-2"
        assert all(v.done for v in modified.voids)  # the old hold voided where it was held
        assert list(engine.secondary.issuer.live_holds()) == [last.acquirer_ref]
        assert engine.acquirer.issuer.live_holds() == {}
        # R with the stored token after a refusal goes there too
        answering(engine.secondary.issuer, GOOD, "51")
        refused = await engine.modify_lines(OPER, oid, [A])
        assert refused.failed is not None and refused.failed.code == "51"
        answering(engine.secondary.issuer, GOOD, "00")
        retried = await engine.decide(OPER, oid, m.DecisionKind.RETRY)
        assert retried.approved and engine.get_order(oid).authorizations[-1].acquirer == "simulator-2"
    finally:
        await close(engine)


async def test_the_precheck_reauthorizes_a_failover_token_on_the_secondary(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    today = date.today()
    run_date = today + timedelta(days=20)
    engine = open_two(settings, monkeypatch)
    try:
        oid = await failed_over(engine, m.Plan(m.PlanKind.DEFERRED, deferred_to=run_date))
    finally:
        await close(engine)
    engine = open_two(settings, monkeypatch, clock=at(run_date))
    try:
        run = await engine.precheck(SUPER, run_date, concurrency=2)
        assert (run.approved, run.refused, run.unavailable) == (1, 0, 0)
        last = engine.get_order(oid).authorizations[-1]
        assert last.kind is m.AuthKind.AUTHORIZE and last.state is m.AuthState.APPROVED
        assert last.acquirer == "simulator-2"
        assert list(engine.secondary.issuer.live_holds()) == [last.acquirer_ref]
        assert engine.acquirer.issuer.live_holds() == {}
    finally:
        await close(engine)


async def test_a_new_card_typed_replaces_the_token_and_its_issuer(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine = open_two(settings, monkeypatch)
    try:
        oid = await failed_over(engine)
        old, _ = token_of(engine, oid)
        changed = await engine.change_payment_method(OPER, oid, m.PaymentMethod.CARD, card("5130100000000018"))
        assert changed.approved
        token, issuer = token_of(engine, oid)
        assert token and token != old and issuer == "simulator"
        assert (await engine.modify_lines(OPER, oid, [A, B])).approved
        assert engine.get_order(oid).authorizations[-1].acquirer == "simulator"
    finally:
        await close(engine)


async def test_a_token_whose_acquirer_is_gone_asks_for_the_card(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from d400tui.engine import open_engine
    from d400tui.engine.card_on_file import card_on_file

    today = date.today()
    run_date = today + timedelta(days=20)
    engine = open_two(settings, monkeypatch)
    try:
        now = await failed_over(engine)
        later = await failed_over(engine, m.Plan(m.PlanKind.DEFERRED, deferred_to=run_date))
        assert card_on_file(engine, 100001) is not None
    finally:
        await close(engine)
    monkeypatch.setattr(settings, "secondary_acquirer", None)  # the secondary's contract has ended
    engine = open_engine(settings, clock=at(run_date))
    try:
        calls = len(engine.acquirer.issuer.holds())
        result = await engine.modify_lines(OPER, now, [A, B])
        assert result.answers == [] and result.note.key == "engine.change_saved"
        assert result.note.params["error"] == Message("engine.token_acquirer_gone", acquirer="simulator-2")
        with pytest.raises(EngineError) as exc:  # R with the stored token: refused before it is recorded
            await engine.decide(OPER, later, m.DecisionKind.RETRY)
        assert exc.value.key == "engine.token_acquirer_gone"
        assert [d.kind for d in engine.get_order(later).decisions] == [m.DecisionKind.FAILOVER]
        run = await engine.precheck(SUPER, run_date, concurrency=2)
        # both due: the deferred one, and the one whose hold the modify voided
        assert (run.approved, run.refused, run.unavailable, run.skipped) == (0, 0, 0, 2)
        rows = {r.order_id: r for r in engine.run_results(run.id)}
        assert set(rows) == {now, later} and {r.outcome for r in rows.values()} == {"SKIPPED"}
        assert rows[later].reason == Message("engine.skip_token_acquirer_gone", acquirer="simulator-2")
        assert [a.state for a in engine.get_order(later).authorizations if a.kind is m.AuthKind.AUTHORIZE] == []
        assert card_on_file(engine, 100001) is None  # its token is good nowhere now
        assert len(engine.acquirer.issuer.holds()) == calls  # the first acquirer was never asked
        typed = await engine.change_payment_method(OPER, later, m.PaymentMethod.CARD, card())  # M: typed again
        assert typed.approved and token_of(engine, later)[1] == "simulator"
    finally:
        engine.acquirer.issuer.close()
        engine.db.dispose()


@pytest.mark.parametrize("shares", [False, True])
async def test_precheck_fails_over_an_answered_91_only_where_the_token_is_good(
    settings, monkeypatch, shares: bool
) -> None:  # type: ignore[no-untyped-def]
    """A deferred order taken on the first acquirer; at the pre-check its issuer answers 91. With
    `failover_precheck` the run sends it to the secondary only if that one takes the first one's
    tokens (one processor, a shared vault); otherwise it stays a 91 for a person to decide."""
    from d400tui.engine import open_engine

    today = date.today()
    run_date = today + timedelta(days=20)
    first = open_engine(settings)
    placed = await first.place_order(OPER, 100001, [A], card(), plan=m.Plan(m.PlanKind.DEFERRED, deferred_to=run_date))
    first.acquirer.issuer.close()
    first.db.dispose()
    shared = {"secondary_simulator_db": settings.simulator_path} if shares else {}
    engine = open_two(
        settings,
        monkeypatch,
        clock=at(run_date),
        failover_precheck=True,
        secondary_shares_tokens=shares,
        **shared,
    )
    try:
        answering(engine.acquirer.issuer, GOOD, "91")
        run = await engine.precheck(SUPER, run_date, concurrency=2)
        last = engine.get_order(placed.order.id).authorizations[-1]
        (row,) = [r for r in engine.run_results(run.id) if r.order_id == placed.order.id]
        if shares:
            assert (run.approved, run.unavailable) == (1, 0)
            assert last.state is m.AuthState.APPROVED and last.acquirer == "simulator-2"
            assert row.reason == Message(
                "engine.precheck_failed_over", acquirer="simulator-2", first="simulator", code="91"
            )
            audit = [r for r in engine.audit_trail(SUPER, limit=50) if r["action"] == "AUTHORIZE"]
            assert json.loads(audit[0]["detail"])["failover_from"] == "simulator"
        else:
            assert (run.approved, run.unavailable) == (0, 1)
            assert last.state is m.AuthState.DECLINED and last.response_code == "91"
            assert last.acquirer == "simulator"
            assert engine.secondary.issuer.holds() == []  # never sent a token it cannot know
    finally:
        await close(engine)


async def test_precheck_never_fails_over_without_the_setting(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from d400tui.engine import open_engine

    run_date = date.today() + timedelta(days=20)
    first = open_engine(settings)
    placed = await first.place_order(OPER, 100001, [A], card(), plan=m.Plan(m.PlanKind.DEFERRED, deferred_to=run_date))
    first.acquirer.issuer.close()
    first.db.dispose()
    engine = open_two(
        settings, monkeypatch, clock=at(run_date), secondary_shares_tokens=True,
        secondary_simulator_db=settings.simulator_path,
    )  # fmt: skip
    try:
        answering(engine.acquirer.issuer, GOOD, "96")
        run = await engine.precheck(SUPER, run_date, concurrency=2)
        last = engine.get_order(placed.order.id).authorizations[-1]
        assert run.unavailable == 1 and last.response_code == "96" and last.acquirer == "simulator"
    finally:
        await close(engine)


def test_the_migration_fills_the_token_issuer_of_existing_orders(settings) -> None:  # type: ignore[no-untyped-def]
    """0016 on rows written before it: a failover order's token is the secondary's, another's the
    acquirer of its first answered authorization."""
    from alembic import command

    from d400tui.store.db import Database

    db = Database(settings.db_url)
    cfg = db.alembic_config()
    command.downgrade(cfg, "0009")
    now = datetime.now()
    with db.engine.begin() as conn:
        o, a, d = t.orders, t.authorizations, t.decisions
        base = dict(
            customer_id=100001, channel="PHONE", payment_method="CARD", plan="immediate", status="VALIDATED",
            hold="NONE", awaiting_decision=False, total=1000, card_token="tok_x", created_by="OPER1",
            created_at=now, order_date=now.date(), version=1,
        )  # fmt: skip
        plain = conn.execute(o.insert().values(**base).returning(o.c.id)).scalar_one()
        moved = conn.execute(o.insert().values(**base).returning(o.c.id)).scalar_one()
        bare = conn.execute(o.insert().values(**{**base, "card_token": None}).returning(o.c.id)).scalar_one()

        def auth(order_id: int, acquirer: str, state: str, at_: datetime) -> None:
            conn.execute(
                a.insert().values(
                    order_id=order_id, kind="AUTHORIZE", state=state, amount=1000, captured_amount=0,
                    idempotency_key=f"{order_id}-{acquirer}-{at_.timestamp()}", acquirer=acquirer,
                    card_brand="VISA", card_first6="497010", card_last4="0014", card_expiry="12/30",
                    requested_at=at_, answered_at=at_, void_state="NONE", capture_pending=False, operator="OPER1",
                )
            )  # fmt: skip

        auth(plain, "http", "APPROVED", now)
        auth(plain, "simulator", "APPROVED", now + timedelta(seconds=1))
        auth(moved, "http", "DECLINED", now)
        conn.execute(
            d.insert().values(
                order_id=moved, kind="FAILOVER", operator="OPER1", at=now + timedelta(seconds=1),
                shown_category="UNAVAILABLE", shown_code="91", shown_label="", authorization_id=None,
            )
        )  # fmt: skip
        auth(moved, "simulator", "APPROVED", now + timedelta(seconds=2))
    command.upgrade(cfg, "head")
    with db.engine.connect() as conn:
        got = dict(conn.execute(select(t.orders.c.id, t.orders.c.token_acquirer)).all())
    assert (got[plain], got[moved], got[bare]) == ("http", "simulator", None)
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:  # the migration and store/tables.py agree on the column
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert [d for d in diff if "token_acquirer" in repr(d)] == []
    command.downgrade(cfg, "0009")  # and it goes back
    with db.engine.connect() as conn:
        assert "token_acquirer" not in {c["name"] for c in sa_inspect(conn).get_columns("orders")}
    command.upgrade(cfg, "head")
    db.dispose()


async def test_demo_and_bootstrap_tokens_are_the_primarys(engine) -> None:  # type: ignore[no-untyped-def]
    """NULL (rows no answer filled) is the primary: such a token is sent there."""
    placed = await engine.place_order(OPER, 100001, [A], card())
    with engine.db.engine.begin() as conn:
        conn.execute(update(t.orders).where(t.orders.c.id == placed.order.id).values(token_acquirer=None))
    assert (await engine.modify_lines(OPER, placed.order.id, [A, B])).approved
    assert engine.get_order(placed.order.id).authorizations[-1].acquirer == "simulator"


async def test_a_precheck_failover_left_unanswered_is_reconciled_with_the_secondary(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The first acquirer answered 91, the run handed the claim to the secondary (a new row, a new
    key, committed), and the secondary held the amount but its answer never came: the row is
    UNKNOWN on the secondary, the reconciler settles it there, and there is one hold in all."""
    from d400tui.engine import open_engine

    run_date = date.today() + timedelta(days=20)
    first = open_engine(settings)
    placed = await first.place_order(OPER, 100001, [A], card(), plan=m.Plan(m.PlanKind.DEFERRED, deferred_to=run_date))
    first.acquirer.issuer.close()
    first.db.dispose()
    engine = open_two(
        settings, monkeypatch, clock=at(run_date), failover_precheck=True, secondary_shares_tokens=True,
        secondary_simulator_db=settings.simulator_path,
    )  # fmt: skip
    try:
        answering(engine.acquirer.issuer, GOOD, "91")
        answering(engine.secondary.issuer, GOOD, "timeout")  # holds, never answers
        engine.secondary.timeout_s = 0.3
        run = await engine.precheck(SUPER, run_date, concurrency=2)
        assert run.unavailable == 1
        auths = [a for a in engine.get_order(placed.order.id).authorizations if a.kind is m.AuthKind.AUTHORIZE]
        assert [(a.acquirer, a.state, a.response_code) for a in auths] == [
            ("simulator", m.AuthState.DECLINED, "91"),
            ("simulator-2", m.AuthState.UNKNOWN, auths[1].response_code),
        ]
        assert auths[0].idempotency_key != auths[1].idempotency_key
        answering(engine.secondary.issuer, GOOD, "00")
        report = await engine.reconcile(SUPER, grace_s=0)
        assert report.settled
        auths = [a for a in engine.get_order(placed.order.id).authorizations if a.kind is m.AuthKind.AUTHORIZE]
        assert auths[1].state is m.AuthState.APPROVED
        assert list(engine.secondary.issuer.live_holds()) == [auths[1].acquirer_ref]  # shared state: one hold
    finally:
        await close(engine)


async def test_a_parcels_reauthorization_goes_to_the_tokens_acquirer(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A secondary that takes one capture per hold: the first parcel closes the hold, what remains
    is held again with the order's token — on the secondary, which issued it."""
    from d400tui.acquirers.base import MULTICAPTURE, PARTIAL_VOID

    engine = open_two(settings, monkeypatch)
    try:
        engine.secondary.capabilities = engine.secondary.capabilities - {MULTICAPTURE, PARTIAL_VOID}
        oid = await failed_over(engine, lines=[("BON0001", 2), ("GRI0002", 1), ("RID0003", 1)])
        engine.ship(OPER, oid, [("BON0001", 2), ("GRI0002", 1)])
        out = await engine.capture_shipped(SUPER, oid, 1)
        assert out[0] == "CAPTURED" and out[3].key == "engine.ship_reauthorized"
        assert out[3].params["state"] == "APPROVED"  # not a false 14 from the first acquirer
        last = engine.get_order(oid).authorizations[-1]
        assert last.acquirer == "simulator-2" and last.state is m.AuthState.APPROVED
        assert list(engine.secondary.issuer.live_holds()) == [last.acquirer_ref]
        assert engine.acquirer.issuer.live_holds() == {}
    finally:
        await close(engine)
