"""PostgreSQL sessions carry idle_in_transaction_session_timeout (D400_DB_IDLE_TRANSACTION_TIMEOUT_S):
a worker frozen inside its claim's transaction loses its session and its locks instead of holding
every other worker and terminal (tests/integration/test_run_workers.py freezes one); 0 leaves the
server's own setting (a pooler that refuses the startup option)."""

from __future__ import annotations

import pytest

from d400tui.store.db import Database


@pytest.mark.postgres
@pytest.mark.parametrize(("seconds", "shown"), [(60.0, "1min"), (2.5, "2500ms"), (0.0, "0")])
def test_each_session_carries_the_bound(pg_url: str, seconds: float, shown: str) -> None:
    db = Database(pg_url, seconds)
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == shown
    finally:
        db.dispose()
