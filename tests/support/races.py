"""Helpers to replay a race deterministically: a second engine (its own pool, acquirer and event
loop, as another terminal or batch would have), a thread to run it in, and the question the
replays turn on: could another writer take the order right now?"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from d400tui.engine import Engine, open_engine


def other_engine(engine: Engine) -> Engine:
    return open_engine(engine.settings)


def close(engine: Engine) -> None:
    engine.acquirer.issuer.close()  # type: ignore[attr-defined]
    engine.db.dispose()


def lock_free(engine: Engine, order_id: int) -> bool:
    """True when another connection could write the order now: on SQLite, take the write lock;
    on PostgreSQL, lock the order row — both without waiting."""
    url = engine.db.url
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with eng.begin() as conn:
            conn.execute(text("SELECT id FROM orders WHERE id = :i FOR UPDATE NOWAIT"), {"i": order_id})
        return True
    except OperationalError:
        return False
    finally:
        eng.dispose()


class Racer(threading.Thread):
    """Runs one coroutine on an event loop of its own; keeps its result or its exception."""

    def __init__(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        super().__init__(daemon=True)
        self.make, self.result, self.error = make, None, None

    def run(self) -> None:
        try:
            self.result = asyncio.run(self.make())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def outcome(self) -> Any:
        self.join(60)
        assert not self.is_alive(), "the racing operation never ended"
        return self.error if self.error is not None else self.result


def race_inside(engine: Engine, order_id: int, make: Callable[[], Coroutine[Any, Any, Any]]) -> Racer:
    """Called while `engine` is between reading the order and writing its decision: start the
    other operation. If nothing holds the other writer back (the bug), let it finish now, landing
    exactly in that window; otherwise it waits for our commit and runs right after."""
    racer = Racer(make)
    racer.free = lock_free(engine, order_id)  # type: ignore[attr-defined]
    racer.start()
    if racer.free:  # type: ignore[attr-defined]
        racer.outcome()
    return racer
