"""The pre-check never re-asks a card refused never-retry, whatever the order (issue 13.1, issuer2
branch), on SQLite and PostgreSQL: a card refused 41/43/57 on order A within the scheme's window
(30 days) is not presented again for order B's due instalment either — the same card identity
(first 6, last 4, expiry) the retry rules count. The instalment is claimed and recorded SKIPPED
with the reason, counted in the run's report, and the acquirer is never asked."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import update

from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.i18n.render import tx
from d400tui.store import tables as t
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)
FUNDS, GOOD, OTHER = "4970100000000055", "4970100000000014", "5130100000000018"


def answering(issuer, pan: str, code: str) -> None:  # type: ignore[no-untyped-def]
    """The simulated issuer's own rule for this card: what it answers from now on."""
    h = issuer.card_hash(pan)
    issuer.cards[h] = dataclasses.replace(issuer.cards[h], code=code)


def asked(engine, order_id: int) -> int:  # type: ignore[no-untyped-def]
    """Authorizations of the order's instalments ever asked (REQUESTED rows included)."""
    return len([a for a in engine.get_order(order_id).authorizations if a.kind is m.AuthKind.AUTHORIZE])


async def stolen_elsewhere(engine, issuer, pan: str, code: str = "43") -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Order B placed on `pan` (refused 51: retry later, the pre-check may ask again), then the
    card reported stolen and refused `code` on order A; the issuer's rule goes back to 51."""
    h = issuer.card_hash(pan)
    rule = issuer.cards[h]
    waiting = await engine.place_order(OPER, 100001, [A], card(pan))
    assert waiting.failed is not None and waiting.failed.code == rule.code
    answering(issuer, pan, code)
    stolen = await engine.place_order(OPER, 100002, [A], card(pan))
    assert stolen.failed is not None and stolen.failed.code == code
    issuer.cards[h] = rule
    return int(waiting.order.id), int(stolen.order.id)


async def test_precheck_skips_another_orders_instalment_on_a_card_refused_never_retry(engine, issuer, today) -> None:  # type: ignore[no-untyped-def]
    b, a = await stolen_elsewhere(engine, issuer, FUNDS)
    other = await engine.place_order(OPER, 100003, [A], card(OTHER))  # another card: asked
    assert other.approved
    with engine.db.engine.begin() as conn:  # the other card's hold has expired: due again
        i = t.instalments
        conn.execute(update(i).where(i.c.order_id == other.order.id).values(authorized_until=None))
    calls, before = len(issuer.holds()), asked(engine, b)
    run = await engine.precheck(SUPER, today, concurrency=2)
    assert asked(engine, b) == before  # order B's instalment never asked
    assert asked(engine, a) == 1  # order A's own refusal: never asked again (as before)
    assert (run.approved, run.refused, run.unavailable, run.skipped) == (1, 0, 0, 1)
    rows = {r.order_id: r for r in engine.run_results(run.id)}
    assert set(rows) == {b, other.order.id}
    assert rows[b].outcome == "SKIPPED"
    assert rows[b].reason == Message("engine.skip_never_retry", day=today.strftime("%d/%m/%Y"), code="43")
    assert "code 43, qui interdit de la représenter" in tx(rows[b].reason)
    assert rows[other.order.id].outcome == "APPROVED"
    assert len(issuer.holds()) == calls + 1  # only the other card was asked
    report = engine.run_report(SUPER, run.id)
    assert report.run.skipped == 1 and report.outcomes.get("SKIPPED") == 1


async def test_a_deferred_order_on_a_card_stolen_since_is_not_asked_at_its_due_date(engine, issuer, today) -> None:  # type: ignore[no-untyped-def]
    run_date = today + timedelta(days=20)
    deferred = await engine.place_order(
        OPER, 100001, [A], card(GOOD), plan=m.Plan(m.PlanKind.DEFERRED, deferred_to=run_date)
    )
    assert not deferred.needs_decision
    answering(issuer, GOOD, "41")
    lost = await engine.place_order(OPER, 100003, [A], card(GOOD))
    assert lost.failed is not None and lost.failed.code == "41"
    answering(issuer, GOOD, "00")
    now = engine.clock()
    engine.clock = lambda: now + timedelta(days=20)
    run = await engine.precheck(SUPER, run_date, concurrency=2)
    assert (run.approved, run.skipped) == (0, 1)
    (row,) = engine.run_results(run.id)
    assert (row.order_id, row.outcome, row.reason.params["code"]) == (deferred.order.id, "SKIPPED", "41")
    assert asked(engine, deferred.order.id) == 0
    # 31 days after the refusal it is another attempt: the next run asks the issuer
    engine.clock = lambda: now + timedelta(days=31)
    run = await engine.precheck(SUPER, run_date + timedelta(days=11), concurrency=2)
    assert (run.approved, run.skipped) == (1, 0)
    assert asked(engine, deferred.order.id) == 1


async def test_the_window_and_the_card_identity_are_the_retry_rules(engine, issuer, today) -> None:  # type: ignore[no-untyped-def]
    b, a = await stolen_elsewhere(engine, issuer, FUNDS, "57")
    with engine.db.engine.begin() as conn:  # the 57 is 31 days old: past Visa's 30-day window
        au = t.authorizations
        conn.execute(update(au).where(au.c.order_id == a).values(answered_at=au.c.answered_at - timedelta(days=31)))
    run = await engine.precheck(SUPER, today, concurrency=2)
    assert (run.refused, run.skipped) == (1, 0)  # order B asked again: 51 once more
    assert asked(engine, b) == 2


def test_migration_0017_indexes_a_cards_declines_by_its_identity_and_code(settings) -> None:  # type: ignore[no-untyped-def]
    """0017 replaces 0013's declined-card index with one on the whole card identity and the code
    (the claims' never-retry look-up), agrees with store/tables.py, and goes back."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect as sa_inspect

    from d400tui.store.db import HEAD, Database

    def indexes() -> dict[str, list[str | None]]:
        with db.engine.connect() as conn:
            return {ix["name"] or "": ix["column_names"] for ix in sa_inspect(conn).get_indexes("authorizations")}

    db = Database(settings.db_url)
    assert db.current_revision() == HEAD
    got = indexes()
    assert got["ix_authorizations_card_declines"] == [
        "card_last4", "card_first6", "card_expiry", "response_code", "answered_at",
    ]  # fmt: skip
    assert "ix_authorizations_declined_card" not in got
    with db.engine.connect() as conn:  # the migration and store/tables.py agree on the indexes
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert [d for d in diff if "declin" in repr(d)] == []
    cfg = db.alembic_config()
    command.downgrade(cfg, "0016")
    got = indexes()
    assert got["ix_authorizations_declined_card"] == ["card_last4", "card_first6", "answered_at"]
    assert "ix_authorizations_card_declines" not in got
    command.upgrade(cfg, "head")
    assert "ix_authorizations_card_declines" in indexes()
    db.dispose()


async def test_the_count_due_is_the_claims_predicate_less_exactly_its_refusals(engine, today) -> None:  # type: ignore[no-untyped-def]
    """count_precheck_due (0019) counts the untried instalments and subtracts those refused
    never-retry on their order's card, found from the declines: the same number as the claims'
    predicate evaluated under each instalment, whatever the declines look like."""
    from sqlalchemy import func, insert, select

    from d400tui.store import claims

    placed = [(await engine.place_order(OPER, 100001, [A], card(GOOD))).order.id for _ in range(7)]
    i, a = t.instalments, t.authorizations
    with engine.db.engine.begin() as conn:  # every hold expired: all seven due again
        conn.execute(update(i).where(i.c.order_id.in_(placed)).values(authorized_until=None))
        held = {r["order_id"]: dict(r) for r in conn.execute(select(a).where(a.c.order_id.in_(placed))).mappings()}

        def declined(order_id: int, code: str, n: int = 0, **card: object) -> None:
            row = {k: v for k, v in held[order_id].items() if k != "id"}
            row.update(state="DECLINED", response_code=code, idempotency_key=f"dec-{order_id}-{code}-{n}", **card)
            conn.execute(insert(a).values(row))

        declined(placed[0], "43")  # refused on its card: not counted
        declined(placed[1], "43")
        declined(placed[1], "41", 1)  # refused twice: subtracted once
        declined(placed[2], "43", card_last4="0022")  # refused on the card the order had before: counted
        declined(placed[3], "51")  # retry later: counted
        declined(placed[4], "43")  # refused, and in flight: counted neither way
        conn.execute(update(i).where(i.c.order_id == placed[4]).values(auth_pending=True))
        declined(placed[5], "43", instalment_id=None)  # the order's, on no instalment: counted
    now = engine.clock()
    with engine.db.sessions() as session:
        where = claims._precheck_where(engine.db.dialect, today, -1, now, now)
        per_instalment = session.scalar(select(func.count()).select_from(i).where(where))
        selection = claims.precheck_selection(session, today, now)
        assert claims.count_precheck_due(session, today, -1, now, now) == per_instalment == len(selection) == 4
    assert {o for o, _ in selection} == {placed[2], placed[3], placed[5], placed[6]}


def test_migration_0019_puts_the_counts_columns_in_the_due_index(settings) -> None:  # type: ignore[no-untyped-def]
    """0019 widens ix_instalments_run_due to the columns the pre-check's count filters on and adds
    the declines-by-code index; it agrees with store/tables.py and goes back."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import inspect as sa_inspect

    from d400tui.store.db import HEAD, Database

    def indexes(table: str) -> dict[str, list[str | None]]:
        with db.engine.connect() as conn:
            return {ix["name"] or "": ix["column_names"] for ix in sa_inspect(conn).get_indexes(table)}

    db = Database(settings.db_url)
    assert db.current_revision() == HEAD
    assert indexes("instalments")["ix_instalments_run_due"] == [
        "run_scope", "due_date", "auth_pending", "precheck_run_id", "authorized_until",
    ]  # fmt: skip
    assert indexes("authorizations")["ix_authorizations_declined_code"] == ["response_code", "instalment_id"]
    with db.engine.connect() as conn:  # the migration and store/tables.py agree on the indexes
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert [d for d in diff if "run_due" in repr(d) or "declined_code" in repr(d)] == []
    cfg = db.alembic_config()
    command.downgrade(cfg, "0018")
    assert indexes("instalments")["ix_instalments_run_due"] == ["run_scope", "due_date"]
    assert "ix_authorizations_declined_code" not in indexes("authorizations")
    command.upgrade(cfg, "head")
    assert len(indexes("instalments")["ix_instalments_run_due"]) == 5
    assert "ix_authorizations_declined_code" in indexes("authorizations")
    db.dispose()
