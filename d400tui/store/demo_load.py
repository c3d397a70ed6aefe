"""Bulk inserts of the demo generator and the reference data: no mapped objects, no per-value
type processing (COPY on PostgreSQL, the driver's executemany on SQLite), so a million demo
orders load in about a minute (the engine builds the rows)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from d400tui.domain.cards import scrub

from . import tables as t
from .db import Database

Article = tuple[str, str, Decimal, Decimal]
"""(code, label, unit price, VAT rate) of an article."""


def insert_reference(db: Database, articles: list[dict[str, Any]], customers: list[dict[str, Any]]) -> bool:
    """Articles and customers in one transaction; False when another process seeded them first."""
    with db.uow() as uow:
        try:
            uow.session.execute(insert(t.articles), articles)
            uow.session.execute(insert(t.customers), customers)
            uow.commit()
        except IntegrityError:
            return False
    return True


def demo_basis(db: Database) -> tuple[list[Article], list[int], int]:
    """(articles, customer ids, first free order id) the generator draws from."""
    a = t.articles.c
    with db.uow() as uow:
        arts = [
            (r[0], scrub(r[1]), r[2], r[3])
            for r in uow.session.execute(select(a.code, a.label, a.unit_price, a.vat_rate)).all()
        ]
        cust_ids = list(uow.session.scalars(select(t.customers.c.id)))
        start = (uow.session.scalar(select(func.max(t.orders.c.id))) or 0) + 1
    return arts, cust_ids, start


ORDER_COLUMNS = (
    "id",
    "customer_id",
    "channel",
    "payment_method",
    "plan",
    "status",
    "hold",
    "awaiting_decision",
    "total",
    "card_token",
    "card_brand",
    "card_first6",
    "card_last4",
    "card_expiry",
    "cancel_reason",
    "created_by",
    "created_at",
    "order_date",
    "updated_at",
    "version",
)
LINE_COLUMNS = ("order_id", "line_no", "article_code", "label", "quantity", "unit_price", "vat_rate")
# run_scope given right (the order's: 0008), so the insert trigger has nothing to correct
INSTALMENT_COLUMNS = ("order_id", "seq", "due_date", "amount", "state", "auth_pending", "run_scope")


class BulkOrders:
    """Orders, lines and instalments as tuples in the columns above, stored values (amounts in
    cents, enums as their text): PostgreSQL COPY, SQLite one prepared INSERT run over the rows,
    both through the driver, one transaction a chunk. The text comes from the reference data,
    scrubbed when it was stored (demo_basis); nothing typed by anyone goes this way.

    The chunks are written by one thread of their own, in the order given, while the caller builds
    the next: the driver waits on the database without the GIL (PostgreSQL's server process, SQLite's
    C library), so building and writing overlap — they took about as long as each other (100k
    orders on PostgreSQL: 8 s building, 8.7 s waiting on the server, measured). At most two chunks
    wait, so memory stays flat; a write that fails stops the load at the caller's next chunk."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._chunks: queue.Queue[tuple[list[tuple[Any, ...]], ...] | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_all, name="demo-writer", daemon=True)
        self._writer.start()

    def insert(self, orders: list[tuple[Any, ...]], lines: list[tuple[Any, ...]], insts: list[tuple[Any, ...]]) -> None:
        self._raise()
        self._chunks.put((orders, lines, insts))

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _write_all(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._error is None:
                try:
                    self._write(*chunk)
                except BaseException as exc:  # handed to the caller's thread, raised there
                    self._error = exc

    def _write(self, orders: list[tuple[Any, ...]], lines: list[tuple[Any, ...]], insts: list[tuple[Any, ...]]) -> None:
        tables = (("orders", ORDER_COLUMNS, orders), ("order_lines", LINE_COLUMNS, lines))
        with self.db.engine.begin() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            cur = raw.cursor()
            if self.db.dialect == "sqlite":
                # the indexes of a million rows do not fit SQLite's default 2 MB page cache: every
                # insert then rereads index pages from the file (3x slower, measured)
                cur.execute("PRAGMA cache_size = -262144")
            try:
                for name, cols, rows in (*tables, ("instalments", INSTALMENT_COLUMNS, insts)):
                    if self.db.dialect == "postgresql":
                        with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                            for row in rows:
                                copy.write_row(row)
                    else:
                        marks = ", ".join("?" * len(cols))
                        cur.executemany(
                            f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({marks})", list(_as_sqlite(rows))
                        )
            finally:
                cur.close()

    def close(self) -> None:
        """Wait for the chunks given so far to be written (or the first failure); idempotent."""
        if self._writer.is_alive():
            self._chunks.put(None)
            self._writer.join()
        self._raise()

    def finish(self) -> None:
        """Every chunk written, then the order id sequence past the ids given (PostgreSQL), then
        statistics for the planner: plans made on the empty tables would read a million rows as if
        they were ten."""
        self.close()
        with self.db.engine.begin() as conn:
            if self.db.dialect == "postgresql":
                conn.exec_driver_sql("SELECT setval('orders_id_seq', (SELECT MAX(id) FROM orders))")
        analyze(self.db)


def _sqlite_text(value: date) -> str:
    """A date or timestamp as SQLAlchemy writes it on SQLite (always with microseconds)."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value.isoformat()


def _as_sqlite(rows: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Dates and timestamps as text (the few distinct values of a load converted once each)."""
    if not rows:
        return
    at = [k for k, v in enumerate(rows[0]) if isinstance(v, date)]
    if not at:
        yield from rows
        return
    seen: dict[date, str] = {}
    for row in rows:
        out = list(row)
        for k in at:
            v = out[k]
            out[k] = seen.get(v) or seen.setdefault(v, _sqlite_text(v))
        yield tuple(out)


def analyze(db: Database) -> None:
    """Statistics for the planner after a bulk load. On PostgreSQL the instalments are also
    vacuumed: their pages are then marked all-visible, so the run's counts are index-only scans
    at once instead of reading ~220k rows from the table until autovacuum passes (1M orders: end
    counts 150 ms before it, 25-57 ms after)."""
    pg = db.engine.dialect.name == "postgresql"
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("orders", "order_lines", "instalments", "authorizations"):
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}" if pg and table == "instalments" else f"ANALYZE {table}")
