"""Shared fixtures: every test gets its own database — a SQLite file, or a PostgreSQL database
on the server D400_TEST_PG_URL names (CI sets it) or else on a throw-away server this session
starts (tests/support/pg.py) — copied from a migrated, seeded template when the test uses
`settings` (tests/support/db.py), and its own simulated-issuer state file. Helpers the tests
import live in tests/support/, never here."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

# Bytecode caches on, even where PYTHONDONTWRITEBYTECODE is set (this VM sets it): else every xdist
# worker re-parses and re-rewrites the 300 test modules, and every `d400` subprocess a test starts
# (CLI, crash harness, servers) recompiles the package — 7–8 s of CPU per collection, measured.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
# The runs' own CPU priority (D400_BATCH_NICE, 10) off in tests: a `d400 precheck` subprocess at
# nice 10 beside two busy xdist workers gets a tenth of a core, and its 2 s test leases run out.
# tests/unit/test_batch_priority.py checks the lowering itself.
os.environ["D400_BATCH_NICE"] = "0"
sys.dont_write_bytecode = False

import hypothesis  # noqa: E402
import pytest  # noqa: E402

from d400tui.config import Settings  # noqa: E402
from tests.support import pg  # noqa: E402
from tests.support.db import PostgresDatabases, SqliteTemplate  # noqa: E402

# Hypothesis: no per-example deadline and no "generation is slow" health check — both measure the
# machine's load, not the code (the scrubber test failed that check once at load 9, nothing else).
hypothesis.settings.register_profile("d400", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("d400")

PG_BASE_URL = pg.base_url()  # at import: the xdist controller starts pgserver once, workers reuse it


def pytest_unconfigure(config):  # type: ignore[no-untyped-def]
    pg.stop()  # the throw-away server, if this process started one; after the databases' drops


def pytest_xdist_auto_num_workers(config):  # type: ignore[no-untyped-def]
    """`-n auto`: two workers per core (at most 8), `D400_TEST_WORKERS` to choose. The tests wait
    on subprocesses, sockets and the database ~40 % of the time, so one worker per core left the
    cores idle (2-core machine, quiet: 1,554 tests in 501 s at 2 workers; 1,637 in 430–464 s at 4)."""
    if os.environ.get("D400_TEST_WORKERS", "").isdigit():
        return int(os.environ["D400_TEST_WORKERS"])
    return min(2 * (os.cpu_count() or 1), 8)


LONG_GROUPS = ("crash-harness", "eight-terminals")
"""The longest serial groups (the crash harnesses: ~270 s in all at 4 workers on 2 cores): sent to
the workers first, so none is still running alone at the end while the other workers idle."""


def pytest_collection_finish(session):  # type: ignore[no-untyped-def]
    """Everything imported: the long-lived objects (modules, classes, Textual's and SQLAlchemy's
    caches) moved out of the collector's sight, and a first-generation collection every 50,000
    allocations instead of 700. Pilot tests allocate millions of short-lived objects: the default
    thresholds spent 12–20 % of their CPU re-scanning the same heap (42 TUI tests, one process:
    40.0 → 31.7 and 42.8 → 37.4 CPU-s, measured in pairs). Cycles are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    def rank(item: pytest.Item) -> int:
        mark = item.get_closest_marker("xdist_group")
        name = mark.args[0] if mark and mark.args else mark.kwargs.get("name") if mark else None
        return LONG_GROUPS.index(name) if name in LONG_GROUPS else len(LONG_GROUPS)

    items.sort(key=rank)  # stable: the rest keep their order


def pytest_report_header(config):  # type: ignore[no-untyped-def]
    return pg.describe()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases | None]:
    """This process's PostgreSQL databases (None: no server; PostgreSQL tests skip, or fail under CI)."""
    if not PG_BASE_URL:
        yield None
        return
    dbs = PostgresDatabases(PG_BASE_URL)
    yield dbs
    dbs.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: SqliteTemplate,
    postgres: PostgresDatabases | None,
) -> Iterator[str]:
    """The test's own database: empty, or — when the test uses `settings`, whose database is
    migrated and has the demo operators — a copy of the migrated, seeded template."""
    seeded = "settings" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "d400.db"
        yield sqlite_template.copy_to(path) if seeded else f"sqlite:///{path}"
        return
    if postgres is None:
        pg.missing()
    url = postgres.new(seeded)
    yield url
    postgres.drop(url)


@pytest.fixture(scope="module")
def pg_url(postgres: PostgresDatabases | None) -> Iterator[str]:
    """An empty PostgreSQL database for a bench that wipes and fills its own (crash, concurrency)."""
    if postgres is None:
        pg.missing()
    url = postgres.new(seeded=False)
    yield url
    postgres.drop(url)


@pytest.fixture
def settings(db_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Settings:  # type: ignore[no-untyped-def]
    for k in list(os.environ):
        if k.startswith("D400_") and k not in ("D400_TEST_PG_URL", "D400_BATCH_NICE"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("D400_HOME", str(tmp_path))
    monkeypatch.setenv("D400_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("D400_DB_URL", db_url)
    monkeypatch.setenv("D400_ACQUIRER_TIMEOUT", "0.3")
    return Settings()


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


@pytest.fixture
def today() -> date:
    return date.today()
