"""Database connection, migrations and the unit of work. Same code for SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from d400tui.domain.cards import scrub
from d400tui.domain.message import json_default

from . import sqlite_wait
from . import tables as t
from .repositories import (
    IMMEDIATE,
    ArticleRepository,
    AuditRepository,
    CustomerRepository,
    OperatorRepository,
    OrderRepository,
    RunRepository,
)

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0020"
"""The newest migration; a test checks it against Alembic's own head so it cannot fall behind."""


class StoreError(Exception):
    """The database cannot be reached or is not in the expected shape."""


class StaleVersion(Exception):
    """A row's optimistic version changed under this unit (another writer won the race): raised by
    a flush or commit inside the unit, or on leaving it, instead of SQLAlchemy's StaleDataError."""


def make_engine(url: str, idle_transaction_timeout_s: float = 60.0) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            from d400tui.logs import private_file

            private_file(path)  # created 0600 before SQLite opens it (issue 9, point 8)
        engine = create_engine(url, connect_args=sqlite_wait.connect_args())

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            # A unit of work that reads to decide takes the write lock first (see UnitOfWork):
            # otherwise a write landing between its read and its own write is lost or refused.
            if conn.get_execution_options().get(IMMEDIATE):
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    # A frozen client inside a transaction keeps its row locks until the server ends its session.
    args = {}
    if idle_transaction_timeout_s > 0:
        args["options"] = f"-c idle_in_transaction_session_timeout={max(1, round(idle_transaction_timeout_s * 1000))}"
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True, connect_args=args)


class Database:
    def __init__(self, url: str, idle_transaction_timeout_s: float = 60.0) -> None:
        t.start_mappers()
        self.url = url
        self.engine = make_engine(url, idle_transaction_timeout_s)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def alembic_config(self):  # type: ignore[no-untyped-def]
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = None
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self) -> None:
        from alembic import command

        command.upgrade(self.alembic_config(), "head")

    def current_revision(self) -> str | None:
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        try:
            with self.engine.connect() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError as exc:
            if "alembic_version" in str(exc):
                return None
            raise

    def ensure_schema(self) -> None:
        """Migrate when behind; cheap when already at head (every CLI command calls it)."""
        if self.current_revision() != HEAD:
            self.upgrade()

    def is_migrated(self) -> bool:
        return self.has_table("orders")

    def has_table(self, name: str) -> bool:
        return name in inspect(self.engine).get_table_names()

    def uow(self, lock: bool = False) -> UnitOfWork:
        """lock: the unit reads to decide then writes. On SQLite it opens with BEGIN IMMEDIATE (the
        write lock, waited for up to the busy timeout); PostgreSQL locks rows as it reads them
        (`OrderRepository.get(lock=True)`), so the flag changes nothing there."""
        return UnitOfWork(self.sessions, lock and self.dialect == "sqlite")

    def dispose(self) -> None:
        self.engine.dispose()


class UnitOfWork:
    """Owns one session; rolls back unless `commit()` was called."""

    session: Session

    def __init__(self, factory: sessionmaker[Session], immediate: bool = False) -> None:
        self._factory = factory
        self._immediate = immediate

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory(execution_options={IMMEDIATE: True}) if self._immediate else self._factory()
        self.orders = OrderRepository(self.session)
        self.customers = CustomerRepository(self.session)
        self.articles = ArticleRepository(self.session)
        self.operators = OperatorRepository(self.session)
        self.runs = RunRepository(self.session)
        self.audits = AuditRepository(self.session)
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        # close() rolls back whatever was not committed without expiring loaded objects, so the
        # engine can hand them to screens as read-only views.
        self.session.close()
        if isinstance(exc, StaleDataError):
            raise StaleVersion(str(exc)) from exc

    def commit(self) -> None:
        try:
            self.session.commit()
        except StaleDataError as exc:
            raise StaleVersion(str(exc)) from exc

    def flush(self) -> None:
        try:
            self.session.flush()
        except StaleDataError as exc:
            raise StaleVersion(str(exc)) from exc

    def rollback(self) -> None:
        self.session.rollback()

    def audit(self, actor: str, action: str, order_id: int | None = None, **detail: Any) -> None:
        """Append one chained audit record (messages kept as key and parameters); free text passes
        through the card-number scrubber."""
        text = scrub(json.dumps(detail, default=json_default, ensure_ascii=False))
        self.audits.append([dict(at=datetime.now(), actor=actor, action=action, order_id=order_id, detail=text)])


@contextmanager
def connect(url: str) -> Iterator[Database]:
    db = Database(url)
    try:
        yield db
    finally:
        db.dispose()
