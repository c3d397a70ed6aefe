"""Test databases made by copying a template instead of migrating and seeding each time.

Migrating (Alembic, 0001 → head), loading the reference data and hashing the two demo operators'
passwords (argon2) cost about 0.6 s per test on SQLite and 0.5 s on PostgreSQL; copying a
template costs 0.2 ms (a SQLite file) or about 0.17 s (`CREATE DATABASE … TEMPLATE …` and its
`DROP`). Each pytest process (each xdist worker) builds its own templates once, on first use, so
workers and parallel sessions never share a database:

- SQLite: a migrated, seeded file, checkpointed out of WAL into one file, copied 0600 per test;
- PostgreSQL: `d400t_<pid>_<random>_seeded` (migrated, seeded) and `…_blank` (empty) on the
  session's server (tests/support/pg.py); every test gets `CREATE DATABASE … TEMPLATE` of one of
  them, dropped after the test by a background thread (a DROP DATABASE waits for the disk: the
  next test need not wait with it). Without the CREATEDB right it falls back to one shared database
  wiped (`reset_schema`) and re-seeded before each test, as before."""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url

from d400tui.config import Settings


def seed(url: str) -> None:
    """Migrate a database, load the reference data and add the demo operators OPER1/SUPER1: no
    database gets operators silently, so the fixtures ask for the demo ones explicitly. A no-op
    (three queries) on a database copied from a seeded template."""
    from d400tui.engine.bootstrap import open_database
    from d400tui.engine.demo import seed_demo_operators

    db = open_database(Settings(db_url=url, _env_file=None))  # type: ignore[call-arg]
    try:
        if seed_demo_operators(db):
            cheap_demo_hashes(db)
    finally:
        db.dispose()


def cheap_demo_hashes(db: Any) -> None:
    """The demo operators' argon2 hashes remade with argon2-cffi's CHEAPEST parameters. A sign-on
    verifies with the parameters written in the hash, so every test that signs on OPER1 or SUPER1
    (each Pilot test, each CLI command) still runs argon2 — in 0.03 ms instead of ~0.2 s of CPU.
    Operators a test creates get the product's parameters (tests/integration/test_operators.py)."""
    from argon2 import PasswordHasher, profiles
    from sqlalchemy import update

    from d400tui.engine.demo import DEMO_OPERATORS
    from d400tui.store import tables

    hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    with db.engine.begin() as conn:
        for name, password, _ in DEMO_OPERATORS:
            op = tables.operators
            conn.execute(update(op).where(op.c.name == name).values(password_hash=hasher.hash(password)))


def psycopg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def reset_schema(url: str) -> None:
    """Empty a PostgreSQL database (the fallback when no database may be created)."""
    eng = create_engine(psycopg_url(url))
    with eng.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    eng.dispose()


def private_copy(src: Path, dst: Path) -> None:
    """Copy a database file created 0600, as the store creates its own (issue 9, point 8)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
        out.write(inp.read())


class SqliteTemplate:
    """One migrated, seeded SQLite file per process, copied for each test that wants it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            path = self.folder / "template.db"
            seed(f"sqlite:///{path}")
            with sqlite3.connect(path) as conn:  # everything into the main file: the copy is one file
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._path = path
        return self._path

    def copy_to(self, dst: Path) -> str:
        private_copy(self.path, dst)
        return f"sqlite:///{dst}"


class PostgresDatabases:
    """Per-test PostgreSQL databases cloned from this process's templates on the session's server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.prefix = f"d400t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self._admin = create_engine(psycopg_url(base_url), isolation_level="AUTOCOMMIT", pool_size=2)
        self._templates: dict[bool, str] = {}
        self._made: list[str] = []
        self._n = 0
        self._drops: queue.Queue[str | None] = queue.Queue()
        self._dropper: threading.Thread | None = None
        self.can_create = self._try_create(f"{self.prefix}_probe")
        if self.can_create:
            self._drop(f"{self.prefix}_probe")

    def url(self, name: str) -> str:
        # make_url: a socket URL (pgserver's) carries its path in ?host=, after the database name
        return make_url(self.base_url).set(database=name).render_as_string(hide_password=False)

    def _try_create(self, name: str, template: str | None = None) -> bool:
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        try:
            with self._admin.connect() as conn:
                conn.exec_driver_sql(sql)
        except Exception:  # noqa: BLE001 - no CREATEDB right: the caller falls back to one database
            return False
        self._made.append(name)
        return True

    def _drop(self, name: str) -> None:
        with self._admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._made:
            self._made.remove(name)

    def _template(self, seeded: bool) -> str:
        if seeded not in self._templates:
            name = f"{self.prefix}_{'seeded' if seeded else 'blank'}"
            if not self._try_create(name):
                raise RuntimeError(f"could not create the template database {name}")
            if seeded:
                seed(self.url(name))  # disposes its pool: a template must have no connection
            self._templates[seeded] = name
        return self._templates[seeded]

    def new(self, seeded: bool) -> str:
        """A database of the test's own: a copy of the migrated, seeded template, or an empty one.
        Without CREATEDB: the server's given database, wiped (and seeded when asked)."""
        if not self.can_create:
            reset_schema(self.base_url)
            if seeded:
                seed(self.base_url)
            return self.base_url
        self._n += 1
        name = f"{self.prefix}_{self._n}"
        if not self._try_create(name, self._template(seeded)):
            raise RuntimeError(f"could not create the test database {name}")
        return self.url(name)

    def drop(self, url: str) -> None:
        """Drop a test's database in the background (the template stays for the next test)."""
        if url == self.base_url:
            return
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_loop, name="drop-test-databases", daemon=True)
            self._dropper.start()
        self._drops.put(make_url(url).database or "")

    def _drop_loop(self) -> None:
        while (name := self._drops.get()) is not None:
            try:
                self._drop(name)
            except Exception:  # noqa: BLE001 - left for close() to retry
                pass

    def close(self) -> None:
        """Drop every database this process made (templates last) and close the admin pool."""
        if self._dropper is not None:
            self._drops.put(None)
            self._dropper.join()
        try:
            for name in reversed(list(self._made)):
                self._drop(name)
        except Exception:  # noqa: BLE001 - best effort clean-up at session end
            pass
        finally:
            self._admin.dispose()
