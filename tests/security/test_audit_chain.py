"""Issue 9 point 7: the audit trail. TRUNCATE (PostgreSQL) and REPLACE INTO (SQLite: it deletes
the old row without firing DELETE triggers) are refused; every record carries the hash of the
one before it, so a record changed, removed or slipped in by whoever can bypass the triggers is
found by `d400 audit verify`, which names the first broken link and exits non-zero. Fails on the
code before this branch (TRUNCATE emptied the trail, REPLACE rewrote a row, no chain, no verify)."""

from __future__ import annotations

import json
import subprocess
import threading
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from d400tui.domain import model as m
from d400tui.engine import PermissionDenied
from d400tui.store.db import Database
from d400tui.store.repositories import GENESIS, chain_hash
from tests.support import cli
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)


def _d400(*args: str, operator: str = "SUPER1") -> subprocess.CompletedProcess[str]:
    """`d400 ARGS` in this process (what the command says and its exit code)."""
    return cli.run(list(args), "", cli.signed_on(operator))


def _as_owner(engine, sql: str, **params: object) -> None:  # type: ignore[no-untyped-def]
    """What the database owner can do: lift the refusal, change the trail, put the refusal back."""
    sqlite = engine.db.dialect == "sqlite"
    with engine.db.engine.begin() as conn:
        if sqlite:
            conn.execute(text("DROP TRIGGER audit_no_update"))
            conn.execute(text("DROP TRIGGER audit_no_delete"))
        else:
            conn.execute(text("ALTER TABLE audit DISABLE TRIGGER USER"))
        conn.execute(text(sql), params)
        if sqlite:
            for verb in ("UPDATE", "DELETE"):
                conn.execute(
                    text(
                        f"CREATE TRIGGER audit_no_{verb.lower()} BEFORE {verb} ON audit "
                        "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END"
                    )
                )
        else:
            conn.execute(text("ALTER TABLE audit ENABLE TRIGGER USER"))


async def _some_history(engine) -> int:  # type: ignore[no-untyped-def]
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
    await engine.cancel_order(OPER, r.order.id, "client rappelle")
    await engine.capture(SUPER, engine.today())
    with engine.unit() as uow:
        return len(uow.session.execute(text("SELECT id FROM audit")).all())


async def test_truncate_and_replace_are_refused(engine) -> None:  # type: ignore[no-untyped-def]
    n = await _some_history(engine)
    first = engine.audit_trail(m.Actor("SUPER1", True), limit=n)[-1]
    if engine.db.dialect == "postgresql":
        statements = ["TRUNCATE audit", "TRUNCATE audit_head", "DELETE FROM audit_head"]
    else:
        row = "(:id, '2020-01-01 00:00:00.000000', 'X', 'FORGED', NULL, '{}', :p, :p)"
        statements = [
            f"REPLACE INTO audit (id, at, actor, action, order_id, detail, prev_hash, hash) VALUES {row}",
            f"INSERT OR REPLACE INTO audit (id, at, actor, action, order_id, detail, prev_hash, hash) VALUES {row}",
            "DELETE FROM audit_head",
        ]
    for sql in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.db.engine.begin() as conn:
                conn.execute(text(sql), {"id": first["id"], "p": GENESIS})
    rows = engine.audit_trail(m.Actor("SUPER1", True), limit=n + 1)
    assert len(rows) == n and rows[-1] == first
    assert engine.verify_audit(SUPER).ok


async def test_the_chain_links_every_record_and_verify_says_intact(engine) -> None:  # type: ignore[no-untyped-def]
    n = await _some_history(engine)
    rows = list(reversed(engine.audit_trail(m.Actor("SUPER1", True), limit=n)))
    prev = GENESIS
    for r in rows:  # recomputed here from the documented serialization
        assert r["prev_hash"] == prev
        assert r["hash"] == chain_hash(prev, r["at"], r["actor"], r["action"], r["order_id"], r["detail"])
        prev = r["hash"]
    check = engine.verify_audit(SUPER)
    assert (check.ok, check.checked, check.head_hash) == (True, n, prev)
    with pytest.raises(PermissionDenied):
        engine.verify_audit(OPER)


@pytest.mark.parametrize("tamper", ["edit", "remove", "insert", "remove-last"])
async def test_verify_finds_the_first_broken_link(engine, tamper: str) -> None:  # type: ignore[no-untyped-def]
    n = await _some_history(engine)
    ids = [r["id"] for r in reversed(engine.audit_trail(m.Actor("SUPER1", True), limit=n))]
    victim = ids[3]
    if tamper == "edit":
        _as_owner(engine, "UPDATE audit SET detail = '{}' WHERE id = :i", i=victim)
        broken = victim
    elif tamper == "remove":
        _as_owner(engine, "DELETE FROM audit WHERE id = :i", i=victim)
        broken = ids[4]
    elif tamper == "insert":  # a forged record after the others, chained onto an old one
        prev = engine.audit_trail(m.Actor("SUPER1", True), limit=n)[n - 4]["hash"]  # record ids[3]
        _as_owner(
            engine,
            "INSERT INTO audit (id, at, actor, action, order_id, detail, prev_hash, hash) "
            "VALUES (:i, '2020-01-01 00:00:00', 'X', 'FORGED', NULL, '{}', :p, :h)",
            i=ids[-1] + 1000,
            p=prev,
            h="f" * 64,
        )
        broken = ids[-1] + 1000
    else:  # the last record removed: only the chain head still knows it was there
        _as_owner(engine, "DELETE FROM audit WHERE id = :i", i=ids[-1])
        broken = None
    check = engine.verify_audit(SUPER)
    assert not check.ok
    assert check.broken_id == broken, check
    if broken is None:
        assert "records removed or added" in check.reason
    r = _d400("audit", "verify")  # (its own sign-on is appended first: it chains onto the head)
    assert r.returncode == 5, r
    assert "audit chain broken at record" in r.stderr and "Traceback" not in r.stderr
    if broken:
        assert f"record {broken}:" in r.stderr


def test_concurrent_appenders_keep_one_chain(settings) -> None:  # type: ignore[no-untyped-def]
    """Eight threads, each with its own connection, append at once: one chain, no fork."""
    from d400tui.engine import open_engine

    e = open_engine(settings)
    e.acquirer.issuer.close()  # type: ignore[attr-defined]
    dbs = [Database(settings.db_url) for _ in range(8)]
    start = threading.Barrier(8)

    def append(db: Database, k: int) -> None:
        start.wait()
        for j in range(15):
            with db.uow() as uow:
                uow.audit("TEST", "PING", None, who=k, n=j)
                uow.commit()

    threads = [threading.Thread(target=append, args=(db, k)) for k, db in enumerate(dbs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check = e.verify_audit(SUPER)
    assert check.ok, check
    assert check.checked >= 120
    for db in dbs:
        db.dispose()
    e.db.dispose()


def test_the_cli_lists_and_verifies(settings, engine) -> None:  # type: ignore[no-untyped-def]
    listed = _d400("audit", "--since", "2020-01-01", "--json")
    assert listed.returncode == 0, listed.stderr
    assert isinstance(json.loads(listed.stdout), list)
    ok = _d400("audit", "verify")
    assert ok.returncode == 0 and "audit chain intact" in ok.stdout and "head " in ok.stdout, ok
    as_json = json.loads(_d400("audit", "verify", "--json").stdout)
    assert as_json["ok"] is True and len(as_json["head_hash"]) == 64
    refused = _d400("audit", "verify", operator="OPER1")
    assert refused.returncode == 2 and "superviseurs" in refused.stderr


def test_the_migration_chains_the_existing_trail(db_url) -> None:  # type: ignore[no-untyped-def]
    from alembic import command

    db = Database(db_url)
    try:
        command.upgrade(db.alembic_config(), "0004")
        with db.engine.begin() as conn:
            for k in range(5):
                conn.execute(
                    text(
                        "INSERT INTO audit (at, actor, action, order_id, detail) VALUES (:at, 'OPER1', 'OLD', NULL, :d)"
                    ),
                    {"at": datetime(2026, 11, k + 1, 10, 0, 0, 123456), "d": json.dumps({"k": k})},
                )
        db.upgrade()
        with db.uow() as uow:
            assert uow.audits.verify().ok and uow.audits.verify().checked == 5
            uow.audit("TEST", "NEW", None)
            uow.commit()
        with db.uow() as uow:
            assert uow.audits.verify().checked == 6
        command.downgrade(db.alembic_config(), "0004")
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit"))
        db.upgrade()
    finally:
        db.dispose()


async def test_a_head_hash_kept_outside_finds_a_rewritten_tail(engine) -> None:  # type: ignore[no-untyped-def]
    """The owner cuts the last records and fixes the head row: the chain alone reads intact (an
    outside attack did this), but the head hash printed earlier and kept elsewhere is in no record."""
    n = await _some_history(engine)
    kept = engine.verify_audit(SUPER).head_hash  # what a supervisor copies to a ticket
    rows = list(reversed(engine.audit_trail(m.Actor("SUPER1", True), limit=n)))
    _as_owner(engine, "DELETE FROM audit WHERE id >= :i", i=rows[-3]["id"])
    with engine.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET n = n - 3, hash = :h"), {"h": rows[-4]["hash"]})
    assert engine.verify_audit(SUPER).ok  # the chain alone cannot tell
    check = engine.verify_audit(SUPER, expect=kept)
    assert not check.ok and "kept outside" in check.reason
    assert engine.verify_audit(SUPER, expect=rows[-4]["hash"]).ok  # an older kept head still matches
    r = _d400("audit", "verify", "--expect", kept)
    assert r.returncode == 5 and "kept outside" in r.stderr, r
    r = _d400("audit", "verify", "--expect", "not-a-hash")
    assert r.returncode == 2 and "64 hexadecimal" in r.stderr and "not-a-hash" not in r.stderr
