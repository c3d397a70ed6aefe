"""Before a worker writes a batch of answers it checks which of its authorizations have no answer
in the run's results yet (store/leases.lock_mine). That check must read one index entry per
answer, not the run's results at every batch: planned on statistics taken before the run,
PostgreSQL joined it with every result of the run (16.8 ms a batch at 48,000 answers), and the
generic plan it kept once psycopg prepared the statement walked the run's results for each
answer (137 ms a batch at 12,800 on a million orders). 0020: ix_run_results_run_id is (run,
authorization) and the EXISTS stays a subplan, in the custom plan and the generic one."""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import insert, inspect, select, text

from d400tui.store import leases
from d400tui.store import tables as t
from tests.support.demo import OPER, card

from .test_plans import recorded

_COPIES = """
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 5000)
INSERT INTO authorizations (order_id, instalment_id, kind, state, amount, captured_amount, idempotency_key,
  acquirer, card_brand, card_first6, card_last4, card_expiry, requested_at, void_state, operator, capture_pending)
SELECT order_id, instalment_id, kind, state, amount, captured_amount, idempotency_key || '-' || g.n, acquirer,
  card_brand, card_first6, card_last4, card_expiry, requested_at, void_state, operator, capture_pending
FROM authorizations, g WHERE authorizations.id = :first
"""


def _plan(conn, statement: str, params: dict, mode: str = "force_generic_plan") -> str:  # type: ignore[no-untyped-def]
    """EXPLAIN of `statement` as PostgreSQL runs it prepared: with `mode` force_generic_plan, the
    plan it may keep for every later batch (psycopg prepares a statement after its fifth run)."""
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
    numbered = re.sub(r"%\((\w+)\)s", lambda g: f"${names.index(g.group(1)) + 1}", statement)
    conn.exec_driver_sql(f"SET LOCAL plan_cache_mode = {mode}")
    conn.exec_driver_sql("PREPARE answer_check AS " + numbered)
    try:
        args = ", ".join(_literal(params[n]) for n in names)
        return "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN EXECUTE answer_check({args})"))
    finally:
        conn.exec_driver_sql("DEALLOCATE answer_check")


def _literal(value: object) -> str:
    if isinstance(value, list):
        return "ARRAY[" + ",".join(str(int(v)) for v in value) + "]::integer[]"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def _orders(engine, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    for _ in range(n):
        r = await engine.place_order(OPER, 100001, [("BON0001", 1)], card("4970100000000014"))
        ids.append(r.order.id)
    with engine.db.sessions() as s:
        return list(s.scalars(select(t.authorizations.c.id).where(t.authorizations.c.order_id.in_(ids))))


def _results(conn, run_id: int, auth_ids: list[int], outcome: str = "APPROVED") -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        insert(t.run_results),
        [
            dict(run_id=run_id, order_id=1, instalment_seq=1, outcome=outcome, amount=1000, code="00",
                 category="APPROVED", reason="", authorization_id=aid)
            for aid in auth_ids
        ],
    )  # fmt: skip


async def test_the_check_reads_the_answers_of_its_own_batch_only(engine) -> None:  # type: ignore[no-untyped-def]
    mine = await _orders(engine, 4)
    with engine.db.engine.begin() as conn:
        run_id = conn.execute(
            insert(t.precheck_runs).values(kind="PRECHECK", run_date=date.today(), started_at=datetime.now(),
                operator="SUPER1", concurrency=8, selected=0, approved=0, refused=0, unavailable=0, skipped=0)
        ).inserted_primary_key[0]  # fmt: skip
    with engine.db.engine.begin() as conn:  # a table of some size: a batch of 128 is a choice for the planner
        conn.execute(text(_COPIES), dict(first=mine[0]))
        mine += list(conn.scalars(select(t.authorizations.c.id).order_by(t.authorizations.c.id.desc()).limit(124)))
    with engine.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")  # the statistics of a night's start: none of this run's results
    with engine.db.engine.begin() as conn:
        # the run's answers so far (another worker's batches), ids far from this batch's
        _results(conn, run_id, list(range(10_000_000, 10_030_000)))
        _results(conn, run_id, [mine[0]])  # answered by another worker: not ours to write
        _results(conn, run_id, [mine[1]], "SKIPPED")  # a closing sweep's skip is no answer
    with engine.db.sessions() as session, recorded(engine.db.engine) as sent:
        got = leases.still_mine(session, run_id, "me", mine)
        statement, params = next((s, p) for s, p in sent if "run_results" in s)
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            for plan in (_plan(conn, statement, params, "force_custom_plan"), _plan(conn, statement, params)):
                assert "SubPlan" in plan, plan
                assert "Index Cond: ((run_id = " in plan and "AND (authorization_id = authorizations.id))" in plan, plan
                assert "Seq Scan on run_results" not in plan, plan
        else:
            plan = "\n".join(r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
            assert "USING INDEX ix_run_results_run_id (run_id=? AND authorization_id=?)" in plan, plan
        session.rollback()
    assert got == set(mine) - {mine[0]}


def test_migration_0020_puts_the_authorization_in_the_run_index(settings) -> None:  # type: ignore[no-untyped-def]
    """0020 agrees with store/tables.py and goes back."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from d400tui.store.db import HEAD, Database

    def indexes() -> dict[str, list[str | None]]:
        with db.engine.connect() as conn:
            return {i["name"] or "": i["column_names"] for i in inspect(conn).get_indexes("run_results")}

    now = {"ix_run_results_run_id": ["run_id", "authorization_id"]}
    db = Database(settings.db_url)
    assert db.current_revision() == HEAD
    assert indexes() == now
    with db.engine.connect() as conn:  # the migration and store/tables.py agree on the indexes
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert [d for d in diff if "run_results" in repr(d)] == []
    cfg = db.alembic_config()
    command.downgrade(cfg, "0019")
    assert indexes() == {"ix_run_results_run_id": ["run_id"], "ix_run_results_authorization": ["authorization_id"]}
    command.upgrade(cfg, "head")
    assert indexes() == now
    db.dispose()
