"""Issue 14 point 4: on a table large enough that the planner prefers indexes (200,000 orders, a
night's worth due, the rest invoiced history, ANALYZEd), every statement the batch runs execute —
selections, counts, claims, the capture worklist, the answer writes — is planned without a full scan
of orders, instalments or authorizations: EXPLAIN of each statement as it was actually sent.
And the instalment's run scope (0008) follows its order whichever way the order changes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text, update
from sqlalchemy.engine import Engine

from d400tui.domain import model as m
from d400tui.domain.read_models import OrderFilter
from d400tui.engine import retry_rules
from d400tui.store import claims, list_queries
from d400tui.store import tables as t
from d400tui.store.batch_writes import Answer, AnswerBatch, write_precheck_answers
from d400tui.store.repositories import OrderRepository
from tests.support.demo import OPER, SUPER, card

N = 200_000
WATCHED = ("orders", "instalments", "authorizations")

# n % 100: 0-1 due phone card orders (2 %: 4,000 a night), 2 a mail cheque order due, 3 a draft,
# 4 cancelled, the rest invoiced (instalment captured, authorization captured). Half the due ones
# hold an approval that expired before the run date (the claim re-authorizes them, voids the old);
# one order in a thousand is blocked (the capture leaves it).
_ORDER = """
INSERT INTO orders (id, customer_id, channel, payment_method, plan, status, hold, awaiting_decision,
  total, card_token, card_brand, card_first6, card_last4, card_expiry, created_by, created_at,
  order_date, updated_at, version)
SELECT n, 100001,
  CASE WHEN n % 100 = 2 THEN 'MAIL' ELSE 'PHONE' END,
  CASE WHEN n % 100 = 2 THEN 'CHEQUE' ELSE 'CARD' END,
  'immediate',
  CASE WHEN n % 100 < 3 THEN 'VALIDATED' WHEN n % 100 = 3 THEN 'DRAFT'
       WHEN n % 100 = 4 THEN 'CANCELLED' ELSE 'INVOICED' END,
  CASE WHEN n % 1000 = 1 THEN 'BLOCKED' ELSE 'NONE' END,
  {false}, 1000, 'tok_plans', 'VISA', '497010', '0014', '12/30', 'OPER1', :now,
  :day0 - (n % 400) * {day}, :now, 1
FROM g
"""
_INSTALMENT = """
INSERT INTO instalments (id, order_id, seq, due_date, amount, state, authorized_until, auth_pending)
SELECT n, n, 1, :today - (n % 40) * {day}, 1000,
  CASE WHEN n % 100 < 4 THEN 'PENDING' WHEN n % 100 = 4 THEN 'CANCELLED' ELSE 'CAPTURED' END,
  CASE WHEN n % 100 = 0 THEN :lapsed END, {false}
FROM g
"""
_AUTHORIZATION = """
INSERT INTO authorizations (id, order_id, instalment_id, kind, state, amount, captured_amount,
  idempotency_key, acquirer, card_brand, card_first6, card_last4, card_expiry, acquirer_ref,
  requested_at, answered_at, expires_at, void_state, operator, capture_pending)
SELECT n, n, n, 'AUTHORIZE', CASE WHEN n % 100 < 2 THEN 'APPROVED' ELSE 'CAPTURED' END, 1000,
  CASE WHEN n % 100 < 2 THEN 0 ELSE 1000 END, 'plans-' || n, 'simulator', 'VISA', '497010', '0014',
  '12/30', 'ref-' || n, :now, :now, :lapsed, 'NONE', 'OPER1', {false}
FROM g WHERE n % 100 = 0 OR n % 100 >= 5
"""

# A card refused never-retry (43) on 2 % of the orders, due (n % 100 = 1) or history: the pre-check's
# count looks for its refusals among these (0019). Another card than the orders' own: no count changes.
_DECLINE = """
INSERT INTO authorizations (id, order_id, instalment_id, kind, state, amount, captured_amount,
  idempotency_key, acquirer, card_brand, card_first6, card_last4, card_expiry, response_code,
  requested_at, answered_at, void_state, operator, capture_pending)
SELECT {n} + n, n, n, 'AUTHORIZE', 'DECLINED', 1000, 0, 'plans-declined-' || n, 'simulator', 'VISA',
  '497010', '0022', '12/30', '43', :now, :now, 'NONE', 'OPER1', {false}
FROM g WHERE n % 100 IN (1, 5)
"""


def _numbers(dialect: str) -> str:
    if dialect == "postgresql":
        return f"WITH g(n) AS (SELECT generate_series(1, {N})) "
    return f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {N}) "


def _fill(engine: Any, today: date) -> None:
    dialect = engine.db.dialect
    sql = dict(false="false", day="1", n=str(N)) if dialect == "postgresql" else dict(false="0", day="1", n=str(N))
    now = datetime.combine(today, datetime.min.time()) - timedelta(days=3)
    params = dict(now=now, today=today, day0=today, lapsed=now + timedelta(days=1))
    with engine.db.engine.begin() as conn:
        for stmt in (_ORDER, _INSTALMENT, _AUTHORIZATION, _DECLINE):
            body = stmt.format(**sql)
            if dialect == "sqlite":  # dates are ISO text there: date arithmetic by date()
                body = body.replace(":day0 - (n % 400) * 1", "date(:day0, '-' || (n % 400) || ' days')")
                body = body.replace(":today - (n % 40) * 1", "date(:today, '-' || (n % 40) || ' days')")
            conn.execute(text(_numbers(dialect) + body), params)
        if dialect == "postgresql":
            for seq, table in (("orders_id_seq", "orders"), ("instalments_id_seq", "instalments")):
                conn.exec_driver_sql(f"SELECT setval('{seq}', (SELECT MAX(id) FROM {table}))")
            conn.exec_driver_sql("SELECT setval('authorizations_id_seq', (SELECT MAX(id) FROM authorizations))")
    with engine.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")


@contextmanager
def recorded(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement sent inside, with its (first) parameters."""
    sent: list[tuple[str, Any]] = []

    def listen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        sent.append((statement, parameters[0] if executemany and parameters else parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def _full_scans(conn: Any, statement: str, params: Any) -> list[str]:
    if conn.dialect.name == "postgresql":
        plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params)]
        bad = [line for line in plan if re.search(rf"Seq Scan on ({'|'.join(WATCHED)})\b", line)]
    else:
        plan = [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
        # "SCAN t" alone reads the whole table; "SCAN t USING … INDEX ix" walks an index in order
        # (only the partial ones are small)
        bad = [
            line
            for line in plan
            if re.match(rf"SCAN ({'|'.join(WATCHED)})\b", line)
            and not re.search(r"USING (COVERING )?INDEX ix_instalments_run_", line)
        ]
        # a batch sent as JSON (store/json_rows) must drive the loop: a table read first, the
        # whole JSON scanned again for each of its rows, cost 10 ms a batch once
        tables = [k for k, line in enumerate(plan) if re.match(rf"(SCAN|SEARCH) ({'|'.join(WATCHED)})\b", line)]
        batch = [k for k, line in enumerate(plan) if line.startswith("SCAN json_each")]
        if tables and batch and min(tables) < min(batch):
            bad.append(" / ".join(plan))
    return [f"{statement!r}: {line}" for line in bad] if bad else []


def _capture_worklist(session: Any, run_date: date) -> Any:
    try:  # the capture branch moves it to store/capture_batch.py
        from d400tui.store import capture_batch  # type: ignore[attr-defined]

        return capture_batch.capture_worklist(session, run_date)
    except ImportError:
        return claims.capture_worklist(session, run_date)


async def test_batch_statements_never_scan_a_large_table(engine, today: date) -> None:  # type: ignore[no-untyped-def]
    _fill(engine, today)
    run_date, now = today, datetime.combine(today, datetime.min.time()) + timedelta(hours=9)
    with engine.db.engine.begin() as conn:
        run_id = conn.execute(
            insert(t.precheck_runs).values(
                kind="PRECHECK",
                run_date=run_date,
                started_at=now,
                operator="SUPER1",
                concurrency=8,
                selected=0,
                approved=0,
                refused=0,
                unavailable=0,
                skipped=0,
            )
        ).inserted_primary_key[0]
    with engine.db.sessions() as session, recorded(engine.db.engine) as sent:
        selection = claims.precheck_selection(session, run_date, now)
        due = claims.count_precheck_due(session, run_date, run_id, now, now)
        todo, last = claims.claim_precheck(
            session, run_id, run_date, now, now, 256, 0, "simulator", "SUPER1", "test", "no token",
            never_retry=retry_rules.precheck_rule(now),  # the claim's look-up of never-retry cards
        )  # fmt: skip
        batch = AnswerBatch()
        for c in todo:
            batch.answers.append(Answer(c.auth_id, c.inst_id, "APPROVED", "00", "APPROVED", "", "A1", "r", now, now))
            batch.results.append(
                dict(
                    run_id=run_id,
                    order_id=c.order_id,
                    instalment_seq=c.seq,
                    outcome="APPROVED",
                    amount=c.amount,
                    code="00",
                    category="APPROVED",
                    reason="",
                    authorization_id=c.auth_id,
                )
            )
        write_precheck_answers(session, run_id, batch)
        ends = claims.precheck_end_counts(session, run_date, run_id)
        worklist = _capture_worklist(session, run_date)
        capturable = list_queries.capturable(session, claims.due_where(engine.db.dialect, run_date), run_date)
        page = OrderRepository(session).page(
            OrderFilter(since=today - timedelta(days=300), until=today - timedelta(days=299))
        )
        # the data are what the test means: a night's worth due, some holds to renew, history
        assert len(selection) == due == 4000 and len(todo) == 256 and last == todo[-1].inst_id
        assert sum(1 for c in todo if c.old_auth_id) == 128  # ids 100, 200, … 12800
        assert ends == (0, 0, 2000)
        # 200 due orders blocked; of the 256 approved here, 13 (ids 1, 1001, … 12001)
        assert len(worklist) == 3800 and capturable[0] == 256 - 13 and len(page) == 15
        statements = [
            (s, p)
            for s, p in sent
            if re.search(rf"\b({'|'.join(WATCHED)})\b", s) and not s.lstrip().upper().startswith("INSERT INTO audit")
        ]
        assert len(statements) >= 12
        conn = session.connection()
        scans = [line for s, p in statements for line in _full_scans(conn, s, p)]
        session.rollback()
    assert scans == [], "\n".join(scans)


def _scopes(engine: Any, order_id: int) -> set[str | None]:
    i = t.instalments
    with engine.db.engine.connect() as conn:
        return set(conn.execute(select(i.c.run_scope).where(i.c.order_id == order_id)).scalars())


@pytest.mark.parametrize("plan", [None, m.Plan(m.PlanKind.INSTALMENTS, count=3)])
async def test_run_scope_follows_the_order(engine, plan) -> None:  # type: ignore[no-untyped-def]
    oid = (await engine.place_order(OPER, 100001, [("BON0001", 1)], card("4970100000000014"), plan=plan)).order.id
    assert _scopes(engine, oid) == {"CARD"}
    draft = engine.create_order(OPER, 100001, [("BON0001", 1)])
    assert _scopes(engine, draft.id) in ({None}, set())
    with engine.db.engine.begin() as conn:  # by hand, as a fix in SQL would
        conn.execute(update(t.orders).where(t.orders.c.id == oid).values(payment_method="CHEQUE"))
    assert _scopes(engine, oid) == {"OTHER"}
    with engine.db.engine.begin() as conn:
        conn.execute(update(t.orders).where(t.orders.c.id == oid).values(payment_method="CARD"))
    assert _scopes(engine, oid) == {"CARD"}
    await engine.cancel_order(OPER, oid, "client rappelle")
    assert _scopes(engine, oid) == {None}
    assert engine.precheck_selection(date.today() + timedelta(days=200)) == []


async def test_an_instalment_inserted_with_a_wrong_scope_gets_its_orders(engine) -> None:  # type: ignore[no-untyped-def]
    oid = (await engine.place_order(OPER, 100001, [("BON0001", 1)], card("4970100000000014"))).order.id
    i = t.instalments
    with engine.db.engine.begin() as conn:
        conn.execute(
            insert(i).values(
                order_id=oid,
                seq=2,
                due_date=date.today(),
                amount=1,
                state="PENDING",
                auth_pending=False,
                run_scope="OTHER",
            )
        )
    assert _scopes(engine, oid) == {"CARD"}
    run = await engine.precheck(SUPER, date.today() + timedelta(days=8))
    assert run.approved == 2


async def test_migration_0008_backfills_the_scope_of_existing_orders(engine) -> None:  # type: ignore[no-untyped-def]
    """Down to 0007 (no column), orders of every kind placed, up again: each instalment gets its
    order's scope from the backfill."""
    from alembic import command

    cfg = engine.db.alembic_config()
    paid = (await engine.place_order(OPER, 100001, [("BON0001", 1)], card("4970100000000014"))).order.id
    mail = engine.create_order(OPER, 100001, [("BON0001", 1)], channel=m.Channel.MAIL)
    await engine.validate_order(OPER, mail.id, None)
    draft = engine.create_order(OPER, 100001, [("BON0001", 1)])
    command.downgrade(cfg, "0007")
    command.upgrade(cfg, "head")
    assert (_scopes(engine, paid), _scopes(engine, mail.id), _scopes(engine, draft.id)) == ({"CARD"}, {"OTHER"}, {None})
