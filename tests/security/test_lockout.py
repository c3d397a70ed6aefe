"""Lock-out under concurrency (issue 9, point 2), on SQLite and PostgreSQL.

On the code before this change 16 parallel sign-ons with 15 wrong passwords left the counter at 2
(read-modify-write through the ORM: lost updates) and let the right password in; a right password
checked while the account was being locked still opened it; `password[:128]` accepted a
128-character password followed by anything."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from d400tui.engine import SignOnError, operators
from d400tui.engine.operators import MAX_FAILURES, add_operator, sign_on
from d400tui.store import tables as t
from tests.support.demo import SUPER


def _attempt(db, password: str) -> str:  # type: ignore[no-untyped-def]
    try:
        sign_on(db, "OPER1", password)
        return "IN"
    except SignOnError as exc:
        return str(exc)


def _state(db) -> tuple[int, bool]:  # type: ignore[no-untyped-def]
    with db.engine.connect() as conn:
        row = conn.execute(
            select(t.operators.c.failures, t.operators.c.locked).where(t.operators.c.name == "OPER1")
        ).one()
    return int(row[0]), bool(row[1])


def _counted(db) -> list[int]:  # type: ignore[no-untyped-def]
    """The failure count each SIGNON_FAILED audit record saw."""
    with db.engine.connect() as conn:
        details = conn.execute(
            select(t.audit.c.detail).where(t.audit.c.actor == "OPER1", t.audit.c.action == "SIGNON_FAILED")
        ).scalars()
        return sorted(d["failures"] for d in map(json.loads, details) if "failures" in d)


def test_parallel_wrong_passwords_each_count_and_lock(engine) -> None:  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: _attempt(engine.db, f"wrong-{i}"), range(15)))
    assert "IN" not in answers
    failures, locked = _state(engine.db)
    assert locked and failures >= MAX_FAILURES
    counted = _counted(engine.db)
    assert counted == list(range(1, len(counted) + 1)) and counted[-1] == failures  # none lost, none twice
    assert _attempt(engine.db, "oper1-demo") == "compte OPER1 verrouillé : appelez un superviseur"


def test_fifteen_wrong_and_the_right_one_in_parallel(engine) -> None:  # type: ignore[no-untyped-def]
    passwords = [f"wrong-{i}" for i in range(15)]
    passwords.insert(7, "oper1-demo")
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda p: _attempt(engine.db, p), passwords))
    assert answers.count("IN") <= 1
    assert all(a == "IN" or "incorrect" in a or "verrouillé" in a for a in answers), answers
    failures, locked = _state(engine.db)
    assert locked and failures >= MAX_FAILURES  # whatever the order of arrival
    assert _attempt(engine.db, "oper1-demo") != "IN"


def test_a_lock_landing_while_the_right_password_is_checked_wins(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The right password's hash check is held until five wrong ones have locked the account:
    it must not open it (nor reset the count)."""
    real = operators._hasher
    checking, release = threading.Event(), threading.Event()

    class HeldHasher:
        def verify(self, hashed: str, password: str) -> bool:
            if password == "oper1-demo":
                checking.set()
                assert release.wait(30)
            return real.verify(hashed, password)

        def hash(self, password: str) -> str:
            return real.hash(password)

    monkeypatch.setattr(operators, "_hasher", HeldHasher())
    with ThreadPoolExecutor(1) as pool:
        right = pool.submit(_attempt, engine.db, "oper1-demo")
        assert checking.wait(30)
        for i in range(MAX_FAILURES):
            _attempt(engine.db, f"wrong-{i}")
        assert _state(engine.db) == (MAX_FAILURES, True)
        release.set()
        assert right.result(30) == "compte OPER1 verrouillé : appelez un superviseur"
    assert _state(engine.db) == (MAX_FAILURES, True)


@pytest.mark.parametrize(
    "extra", ["x", "-anything at all", "\x00", "y" * 10_000_000], ids=["x", "words", "nul", "10MB"]
)
def test_the_whole_password_is_compared(engine, extra: str) -> None:  # type: ignore[no-untyped-def]
    long = "p" * 128
    add_operator(engine.db, SUPER, "LONGPW", long)
    with pytest.raises(SignOnError, match="incorrect"):
        sign_on(engine.db, "LONGPW", long + extra)
    with pytest.raises(SignOnError, match="incorrect"):
        sign_on(engine.db, "LONGPW", long[:-1])
    assert sign_on(engine.db, "LONGPW", long).name == "LONGPW"
    with engine.db.engine.connect() as conn:  # the refusals counted (then the right one reset the count)
        assert conn.execute(
            select(t.audit.c.id).where(t.audit.c.actor == "LONGPW", t.audit.c.action == "SIGNON_FAILED")
        ).all()


def test_no_sign_on_message_sends_an_operator_to_the_command_line(engine) -> None:  # type: ignore[no-untyped-def]
    messages = {_attempt(engine.db, f"wrong-{i}") for i in range(MAX_FAILURES + 1)}
    messages.add(_attempt(engine.db, "oper1-demo"))
    assert all("d400" not in m for m in messages), messages
    assert any("appelez un superviseur" in m for m in messages)
