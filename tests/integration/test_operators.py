from __future__ import annotations

import pytest

from d400tui.engine import EngineError, SignOnError
from d400tui.engine.operators import add_operator, sign_on, unlock_operator


def test_demo_operators_sign_on(engine) -> None:  # type: ignore[no-untyped-def]
    assert sign_on(engine.db, "oper1", "oper1-demo").supervisor is False
    assert sign_on(engine.db, "SUPER1", "super1-demo").supervisor is True


def test_lock_out_after_five_failures_and_unlock(engine) -> None:  # type: ignore[no-untyped-def]
    for i in range(4):
        with pytest.raises(SignOnError, match="incorrect"):
            sign_on(engine.db, "OPER1", f"wrong{i}")
    with pytest.raises(SignOnError, match="verrouillé"):
        sign_on(engine.db, "OPER1", "wrong5")
    with pytest.raises(SignOnError, match="verrouillé"):
        sign_on(engine.db, "OPER1", "oper1-demo")  # even the right password
    unlock_operator(engine.db, "oper1")
    assert sign_on(engine.db, "OPER1", "oper1-demo").name == "OPER1"


def test_unknown_operator_gets_the_same_message(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SignOnError, match="opérateur ou mot de passe incorrect"):
        sign_on(engine.db, "GHOST", "whatever")
    with pytest.raises(SignOnError):
        sign_on(engine.db, "😀" * 100, "x" * 10000)


def test_add_operator_rules_and_hash(engine) -> None:  # type: ignore[no-untyped-def]
    op = add_operator(engine.db, "oper2", "long-enough", supervisor=False)
    assert op.password_hash.startswith("$argon2") and "long-enough" not in op.password_hash
    with pytest.raises(EngineError, match="existe"):
        add_operator(engine.db, "OPER2", "long-enough")
    with pytest.raises(EngineError, match="8 caractères"):
        add_operator(engine.db, "OPER3", "short")
    with pytest.raises(EngineError):
        add_operator(engine.db, "bad name!", "long-enough")
