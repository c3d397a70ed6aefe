"""Operators: argon2 password hashes, lock-out after repeated failures, audited sign-on, and the
user administration that only a signed-on supervisor may do.

The failure count is one atomic UPDATE (parallel wrong passwords each count, none is lost) and a
right password opens only an account still unlocked when its success is written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.store.db import Database

from .errors import EngineError, PermissionDenied, SignOnError

MAX_FAILURES = 5
MIN_PASSWORD = 8
MAX_PASSWORD = 128
"""Longer passwords are refused when set and never match at sign-on: compared whole, not cut."""
_hasher = PasswordHasher()
_REFUSED = "engine.signon_refused"
WHAT_OPERATORS = Message("engine.what_operators")


@dataclass(frozen=True)
class OperatorInfo:
    """What a supervisor's list shows: no password hash."""

    name: str
    supervisor: bool
    failures: int
    locked: bool
    created_at: datetime | None


def _db(db_or_engine: Any) -> Database:
    """Screens hold the Engine, the CLI a Database: both are accepted."""
    return db_or_engine if isinstance(db_or_engine, Database) else db_or_engine.db


def _name(name: str) -> str:
    n = name.strip().upper()
    if not n or len(n) > 10 or not n.replace("_", "").isalnum() or not n.isascii():
        raise EngineError("engine.operator_name", field="operator")
    return n


def _password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise EngineError("engine.password_short", field="password")
    if len(password) > MAX_PASSWORD:
        raise EngineError("engine.password_long", field="password")
    return password


def check_name(name: str) -> str:
    """The name rule alone: said before a password is asked for an account of that name."""
    return _name(name)


def check_account(name: str, password: str) -> tuple[str, str]:
    """The name and password rules, before anything is written."""
    return _name(name), _password(password)


def require_supervisor(actor: m.Actor, what: Message | str = WHAT_OPERATORS) -> None:
    """`what`: the task refused, a Message (engine.what_*)."""
    if not actor.supervisor:
        raise PermissionDenied("engine.supervisors_only", what=what)


def _create(db: Database, by: str, name: str, password: str, supervisor: bool) -> m.Operator:
    n, pw = check_account(name, password)
    with db.uow() as uow:
        if uow.operators.get(n) is not None:
            raise EngineError("engine.operator_exists", field="operator", name=n)
        op = m.Operator(n, _hasher.hash(pw), supervisor, 0, False, datetime.now())
        uow.operators.add(op)
        uow.audit(by, "OPERATOR_ADD", None, operator=n, supervisor=supervisor)
        uow.commit()
        return op


def add_operator(db_or_engine: Any, actor: m.Actor, name: str, password: str, supervisor: bool = False) -> m.Operator:
    """A supervisor creates an operator (or another supervisor)."""
    require_supervisor(actor)
    return _create(_db(db_or_engine), actor.name, name, password, supervisor)


def has_operators() -> EngineError:
    return EngineError("engine.has_operators", field="operator")


def bootstrap_supervisor(db: Database, name: str, password: str) -> m.Operator:
    """The first supervisor of a database with no operator at all (`d400 db init --admin`);
    refused as soon as one exists, so it cannot be used to add a supervisor later."""
    n, pw = check_account(name, password)
    with db.uow() as uow:
        op = m.Operator(n, _hasher.hash(pw), True, 0, False, datetime.now())
        # two bootstraps at once: the second sees the first and is refused
        if uow.operators.count(exclusive=True) or not uow.operators.add_first(op):
            raise has_operators()
        uow.audit("SYSTEM", "OPERATOR_ADD", None, operator=n, supervisor=True, bootstrap=True)
        uow.commit()
    return op


def seed_operators(db: Database, accounts: tuple[tuple[str, str, bool], ...]) -> int:
    """The demo seed (first run on the embedded default, test fixtures): adds the missing ones."""
    added = 0
    for name, password, supervisor in accounts:
        with db.uow() as uow:
            exists = uow.operators.get(name) is not None
        if not exists:
            _create(db, "SYSTEM", name, password, supervisor)
            added += 1
    return added


def operator_count(db: Database) -> int:
    """Operators in the database; 0 when it has no schema yet."""
    if not db.has_table("operators"):
        return 0
    with db.uow() as uow:
        return uow.operators.count()


def _locked(n: str) -> SignOnError:
    return SignOnError("engine.account_locked", field="operator", name=n)


def sign_on(db_or_engine: Any, name: str, password: str) -> m.Actor:
    """Same message for an unknown name and a wrong password (no account probing)."""
    db = _db(db_or_engine)
    try:
        n = _name(name)
    except EngineError as exc:
        raise SignOnError(_REFUSED, field="operator") from exc
    with db.uow() as uow:  # read, then let go: argon2 runs outside any transaction
        op = uow.operators.get(n)
    if op is None:
        with db.uow() as uow:
            uow.audit(n, "SIGNON_FAILED", None, reason="unknown")
            uow.commit()
        raise SignOnError(_REFUSED, field="password")
    if op.locked:
        with db.uow() as uow:
            uow.audit(n, "SIGNON_FAILED", None, reason="locked")
            uow.commit()
        raise _locked(n)
    if _matches(op.password_hash, password):
        with db.uow() as uow:
            opened = uow.operators.record_success(n, op.password_hash)
            uow.audit(n, "SIGNON" if opened else "SIGNON_FAILED", None, **({} if opened else {"reason": "locked"}))
            uow.commit()
        if not opened:  # locked (or its password changed) while the hash was being checked
            raise _locked(n)
        return op.actor
    with db.uow() as uow:
        counted = uow.operators.record_failure(n, MAX_FAILURES)
        failures, locked = counted or (0, False)
        uow.audit(n, "SIGNON_FAILED", None, failures=failures, locked=locked)
        uow.commit()
    if locked:
        raise SignOnError("engine.locked_after", field="operator", name=n, max=MAX_FAILURES)
    raise SignOnError(_REFUSED, field="password")


def _matches(password_hash: str, password: str) -> bool:
    """The whole password or nothing: one over the length cap never matches (never truncated)."""
    if not password or len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError, UnicodeError):
        return False


def unlock_operator(db_or_engine: Any, actor: m.Actor, name: str) -> None:
    """A supervisor unlocks an account locked after repeated failures (TUI or CLI)."""
    require_supervisor(actor)
    n = _name(name)
    with _db(db_or_engine).uow() as uow:
        if not uow.operators.unlock(n):
            raise EngineError("engine.operator_unknown", field="operator", name=n)
        uow.audit(actor.name, "OPERATOR_UNLOCK", None, operator=n)
        uow.commit()


def list_operators(db_or_engine: Any, actor: m.Actor) -> list[OperatorInfo]:
    """Every operator with its failure count and lock, for a supervisor."""
    require_supervisor(actor)
    with _db(db_or_engine).uow() as uow:
        return [OperatorInfo(o.name, o.supervisor, o.failures, o.locked, o.created_at) for o in uow.operators.all()]
