"""Shared fixtures: every test gets its own database (SQLite file, or a fresh PostgreSQL schema on the
server D400_TEST_PG_URL names — CI sets it — or else on a throw-away server this session starts,
see tests/support/pg.py) and its own simulated-issuer state file."""

from __future__ import annotations

import os
from datetime import date

import pytest
from sqlalchemy import create_engine, make_url

from d400tui.config import Settings
from d400tui.domain import model as m
from d400tui.domain.cards import CardData, parse_expiry
from tests.support import pg

PG_BASE_URL = pg.base_url()


def _session_pg_url() -> str | None:
    """A database of this test session's own, so parallel runs (CI, developers, helpers) never
    drop each other's schema. Needs CREATEDB (.ci/postgres.sh grants it); falls back to the given
    database otherwise."""
    if not PG_BASE_URL:
        return None
    import uuid

    name = f"d400t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(PG_BASE_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception:  # noqa: BLE001 - no CREATEDB right: share the given database
        return PG_BASE_URL
    finally:
        admin.dispose()
    _created.append(name)
    # make_url: a socket URL (pgserver's) carries its path in ?host=, after the database name
    return make_url(PG_BASE_URL).set(database=name).render_as_string(hide_password=False)


_created: list[str] = []
PG_URL = _session_pg_url()


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    if not _created or not PG_BASE_URL:
        return
    admin = create_engine(PG_BASE_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for name in _created:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:  # noqa: BLE001 - best effort clean-up
        pass
    finally:
        admin.dispose()


def pytest_unconfigure(config):  # type: ignore[no-untyped-def]
    pg.stop()  # the throw-away server, if this process started one; after sessionfinish's drops


def pytest_report_header(config):  # type: ignore[no-untyped-def]
    return pg.describe()


TEST_CARDS = {
    # pan: (expiry, expected code, expected category)
    "4970100000000014": ("12/30", "00", "APPROVED"),
    "4970100000000022": ("12/30", "00", "APPROVED"),
    "4970100000000030": ("12/30", "41", "BLOCKED"),
    "4970100000000048": ("12/30", "43", "BLOCKED"),
    "4970100000000055": ("12/30", "51", "CEILING"),
    "4970100000000063": ("12/30", "05", "OTHER"),
    "4970100000000071": ("12/30", "91", "UNAVAILABLE"),
    "4970100000000089": ("12/30", "A0", "UNAVAILABLE"),
    "4970100000000097": ("12/30", "57", "OTHER"),
    "4970100000000105": ("12/30", "00", "APPROVED"),
    "5130100000000018": ("06/31", "00", "APPROVED"),
    "374010000000015": ("09/30", "A1", "NOT_ACCEPTED"),
}


def card(pan: str, expiry: str | None = None) -> CardData:
    return CardData(pan, parse_expiry(expiry or TEST_CARDS[pan][0]), None)


def pg_reset(url: str) -> None:
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with eng.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/d400.db"
    if not PG_URL:
        pg.missing()
    pg_reset(PG_URL)
    return PG_URL


@pytest.fixture
def settings(db_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Settings:  # type: ignore[no-untyped-def]
    for k in list(os.environ):
        if k.startswith("D400_") and k != "D400_TEST_PG_URL":
            monkeypatch.delenv(k)
    monkeypatch.setenv("D400_HOME", str(tmp_path))
    monkeypatch.setenv("D400_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("D400_DB_URL", db_url)
    monkeypatch.setenv("D400_ACQUIRER_TIMEOUT", "0.3")
    return with_demo_operators(Settings())


@pytest.fixture
def engine(settings: Settings):  # type: ignore[no-untyped-def]
    from d400tui.engine import open_engine

    e = open_engine(settings)
    yield e
    e.acquirer.issuer.close()  # type: ignore[attr-defined]
    e.db.dispose()


@pytest.fixture
def issuer(engine):  # type: ignore[no-untyped-def]
    return engine.acquirer.issuer


SUPER = m.Actor("SUPER1", True)
OPER = m.Actor("OPER1", False)


@pytest.fixture
def today() -> date:
    return date.today()


def with_demo_operators(settings: Settings) -> Settings:
    """Migrate the test database and add OPER1/SUPER1: no database gets operators silently, so
    the fixtures ask for the demo ones explicitly."""
    from d400tui.engine.bootstrap import open_database
    from d400tui.engine.demo import seed_demo_operators

    db = open_database(settings)
    try:
        seed_demo_operators(db)
    finally:
        db.dispose()
    return settings
