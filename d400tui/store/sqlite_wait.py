"""SQLite's write lock waited for in short steps, so a terminal gets it between two batch pieces.

SQLite has one writer. A connection that finds the lock taken is put to sleep by SQLite's busy
handler for 1, 2, 5, 10, 15, 20, 25 … ms between tries, and a pre-check or capture run takes the
lock again within a fraction of a millisecond of releasing it: a validation waited through several
of those sleeps (bench_typing_under_precheck, 8 terminals beside a pre-check: p95 67 → 116 ms).
Here SQLite's own wait is a millisecond and the statement is tried again every half millisecond
until the same 30 s: a waiter is in at the first gap between two pieces.

A statement refused with SQLITE_BUSY changed nothing, so trying it again is safe: a BEGIN
IMMEDIATE, the first write of a transaction (the sqlite3 module opens it just before), a COMMIT
(SQLite keeps the transaction open for a retry). Not retried: SQLITE_BUSY_SNAPSHOT (a read
transaction that another writer overtook can never write; the unit starts again)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

WAIT_S = 30.0  # as long as the busy timeout was: then the store says the database is busy
STEP_S = 0.0005
SQLITE_OWN_WAIT_S = 0.001
_RETRIED = {5, 261, 773}  # SQLITE_BUSY, SQLITE_BUSY_RECOVERY, SQLITE_BUSY_TIMEOUT
_sleep = time.sleep


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in _RETRIED


def _waiting(call: Any, *args: Any) -> Any:
    deadline = 0.0
    while True:
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            now = time.monotonic()
            deadline = deadline or now + WAIT_S
            if now >= deadline:
                raise
            _sleep(STEP_S)


class WaitingCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> WaitingCursor:
        return _waiting(super().execute, sql, parameters)  # type: ignore[no-any-return]

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> WaitingCursor:
        rows = list(seq_of_parameters)  # an iterator read once would be empty at the second try
        return _waiting(super().executemany, sql, rows)  # type: ignore[no-any-return]


class WaitingConnection(sqlite3.Connection):
    """The sqlite3 connection SQLAlchemy is handed (`sqlite3.connect(factory=…)`)."""

    def cursor(self, factory: Any = WaitingCursor) -> Any:  # type: ignore[override]
        return super().cursor(factory)

    def commit(self) -> None:
        _waiting(super().commit)


def connect_args() -> dict[str, Any]:
    return {"timeout": SQLITE_OWN_WAIT_S, "factory": WaitingConnection, "check_same_thread": False}
