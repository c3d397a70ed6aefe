"""SQLite's write lock waited for in short steps (store/sqlite_wait): a writer that finds the lock
taken gets it once the holder lets go, a BEGIN IMMEDIATE and an executemany as well, nothing
written twice; past the wait it fails as SQLite's busy timeout did; other errors pass through."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from d400tui.store import sqlite_wait
from d400tui.store.db import make_engine


def _holder(path: Path, hold: threading.Event, release: threading.Event) -> threading.Thread:
    def run() -> None:
        c = sqlite3.connect(path, isolation_level=None)
        c.execute("BEGIN IMMEDIATE")
        c.execute("INSERT INTO t VALUES (0)")
        hold.set()
        release.wait(10)
        c.execute("COMMIT")
        c.close()

    th = threading.Thread(target=run)
    th.start()
    assert hold.wait(10)
    return th


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.db"
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE t (n INTEGER)")
    c.commit()
    c.close()
    return path


@pytest.mark.parametrize("how", ["insert", "executemany", "begin immediate"])
def test_a_writer_waits_for_the_lock_then_writes_once(db: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(f"sqlite:///{db}")
    hold, release = threading.Event(), threading.Event()
    th = _holder(db, hold, release)
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        if len(waits) == 3:  # the holder commits while the writer is waiting
            release.set()
            th.join()

    monkeypatch.setattr(sqlite_wait, "_sleep", sleep)
    try:
        with engine.connect() as conn:
            if how == "begin immediate":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            elif how == "executemany":
                conn.execute(text("INSERT INTO t VALUES (:n)"), [{"n": 1}, {"n": 2}])
            else:
                conn.execute(text("INSERT INTO t VALUES (1)"))
            conn.commit()
    finally:
        release.set()
        th.join()
        engine.dispose()
    assert len(waits) == 3 and set(waits) == {sqlite_wait.STEP_S}  # refused while the lock was held, then in
    rows = sorted(r[0] for r in sqlite3.connect(db).execute("SELECT n FROM t"))
    assert rows == ([0, 1, 2] if how == "executemany" else [0, 1])


def test_past_the_wait_the_database_is_busy(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_wait, "WAIT_S", 0.05)
    engine = make_engine(f"sqlite:///{db}")
    hold, release = threading.Event(), threading.Event()
    th = _holder(db, hold, release)
    try:
        with pytest.raises(Exception, match="database is locked"), engine.connect() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        release.set()
        th.join()
        engine.dispose()
    assert [r[0] for r in sqlite3.connect(db).execute("SELECT n FROM t")] == [0]


def test_other_errors_are_not_retried(db: Path) -> None:
    c = sqlite3.connect(db, factory=sqlite_wait.WaitingConnection)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        c.cursor().execute("SELECT * FROM absent")
    c.close()
