from __future__ import annotations

import pytest

from d400tui.engine import EngineError, PermissionDenied, SignOnError
from d400tui.engine.operators import add_operator, list_operators, sign_on, unlock_operator
from tests.support.demo import OPER, SUPER


def test_demo_operators_sign_on(engine) -> None:  # type: ignore[no-untyped-def]
    assert sign_on(engine.db, "oper1", "oper1-demo").supervisor is False
    assert sign_on(engine, "SUPER1", "super1-demo").supervisor is True  # the Engine is accepted too


def test_lock_out_after_five_failures_and_unlock(engine) -> None:  # type: ignore[no-untyped-def]
    for i in range(4):
        with pytest.raises(SignOnError, match="incorrect"):
            sign_on(engine.db, "OPER1", f"wrong{i}")
    with pytest.raises(SignOnError, match="verrouillé après 5 échecs : appelez un superviseur"):
        sign_on(engine.db, "OPER1", "wrong5")
    with pytest.raises(SignOnError, match="verrouillé : appelez un superviseur"):
        sign_on(engine.db, "OPER1", "oper1-demo")  # even the right password
    assert [(o.name, o.failures, o.locked) for o in list_operators(engine, SUPER)] == [
        ("OPER1", 5, True),
        ("SUPER1", 0, False),
    ]
    unlock_operator(engine.db, SUPER, "oper1")
    assert sign_on(engine.db, "OPER1", "oper1-demo").name == "OPER1"


def test_unknown_operator_gets_the_same_message(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SignOnError, match="opérateur ou mot de passe incorrect"):
        sign_on(engine.db, "GHOST", "whatever")
    with pytest.raises(SignOnError):
        sign_on(engine.db, "😀" * 100, "x" * 10000)


def test_add_operator_rules_and_hash(engine) -> None:  # type: ignore[no-untyped-def]
    op = add_operator(engine.db, SUPER, "oper2", "long-enough", supervisor=False)
    assert op.password_hash.startswith("$argon2") and "long-enough" not in op.password_hash
    with pytest.raises(EngineError, match="existe"):
        add_operator(engine.db, SUPER, "OPER2", "long-enough")
    with pytest.raises(EngineError, match="8 caractères"):
        add_operator(engine.db, SUPER, "OPER3", "short")
    with pytest.raises(EngineError, match="128 caractères"):
        add_operator(engine.db, SUPER, "OPER3", "x" * 129)
    with pytest.raises(EngineError):
        add_operator(engine.db, SUPER, "bad name!", "long-enough")


def test_user_administration_is_for_supervisors(engine) -> None:  # type: ignore[no-untyped-def]
    """Checked in the engine, whoever calls: an operator can neither add, unlock nor list."""
    for call in (
        lambda: add_operator(engine.db, OPER, "EVIL", "evil-password", supervisor=True),
        lambda: unlock_operator(engine, OPER, "OPER1"),
        lambda: list_operators(engine.db, OPER),
    ):
        with pytest.raises(PermissionDenied, match="administration des opérateurs : réservé aux superviseurs"):
            call()
    assert [o.name for o in list_operators(engine, SUPER)] == ["OPER1", "SUPER1"]
    with pytest.raises(EngineError, match="opérateur GHOST inconnu"):
        unlock_operator(engine, SUPER, "ghost")
