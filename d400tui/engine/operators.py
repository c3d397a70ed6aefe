"""Operators: argon2 password hashes, lock-out after repeated failures, audited sign-on."""

from __future__ import annotations

from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from d400tui.domain import model as m
from d400tui.store.db import Database

from .errors import EngineError, SignOnError

MAX_FAILURES = 5
_hasher = PasswordHasher()


def _name(name: str) -> str:
    n = name.strip().upper()
    if not n or len(n) > 10 or not n.replace("_", "").isalnum() or not n.isascii():
        raise EngineError("opérateur : 1 à 10 lettres ou chiffres", field="operator")
    return n


def add_operator(db: Database, name: str, password: str, supervisor: bool = False) -> m.Operator:
    n = _name(name)
    if len(password) < 8:
        raise EngineError("mot de passe : 8 caractères au moins", field="password")
    if len(password) > 128:
        raise EngineError("mot de passe : 128 caractères au plus", field="password")
    with db.uow() as uow:
        if uow.operators.get(n) is not None:
            raise EngineError(f"opérateur {n} existe déjà", field="operator")
        op = m.Operator(n, _hasher.hash(password), supervisor, 0, False, datetime.now())
        uow.operators.add(op)
        uow.audit("SYSTEM", "OPERATOR_ADD", None, operator=n, supervisor=supervisor)
        uow.commit()
        return op


def sign_on(db: Database, name: str, password: str) -> m.Actor:
    """Same message for an unknown name and a wrong password (no account probing)."""
    try:
        n = _name(name)
    except EngineError as exc:
        raise SignOnError("opérateur ou mot de passe incorrect", field="operator") from exc
    with db.uow() as uow:
        op = uow.operators.get(n)
        if op is None:
            uow.audit(n, "SIGNON_FAILED", None, reason="unknown")
            uow.commit()
            raise SignOnError("opérateur ou mot de passe incorrect", field="password")
        if op.locked:
            uow.audit(n, "SIGNON_FAILED", None, reason="locked")
            uow.commit()
            raise SignOnError(f"compte {n} verrouillé : d400 operator unlock {n}", field="operator")
        try:
            _hasher.verify(op.password_hash, password[:128])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            op.failures += 1
            if op.failures >= MAX_FAILURES:
                op.locked = True
            uow.audit(n, "SIGNON_FAILED", None, failures=op.failures, locked=op.locked)
            uow.commit()
            if op.locked:
                raise SignOnError(f"compte {n} verrouillé après {MAX_FAILURES} échecs", field="operator") from None
            raise SignOnError("opérateur ou mot de passe incorrect", field="password") from None
        op.failures = 0
        uow.audit(n, "SIGNON", None)
        uow.commit()
        return op.actor


def unlock_operator(db: Database, name: str) -> None:
    n = _name(name)
    with db.uow() as uow:
        op = uow.operators.get(n)
        if op is None:
            raise EngineError(f"opérateur {n} inconnu", field="operator")
        op.locked, op.failures = False, 0
        uow.audit("SYSTEM", "OPERATOR_UNLOCK", None, operator=n)
        uow.commit()
