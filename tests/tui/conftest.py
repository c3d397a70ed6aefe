"""Every TUI test runs on its own temporary database (a copy of the migrated, seeded template)
and simulator file, with a fixed clock (tests/support/tui.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from d400tui.config import Settings
from tests.support.db import SqliteTemplate
from tests.support.tui import FIXED


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("D400_HOME", str(tmp_path))
    monkeypatch.setenv("D400_ACQUIRER_TIMEOUT", "0.5")
    monkeypatch.setenv("D400_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("D400_LANG", raising=False)
    monkeypatch.delenv("D400_DB_URL", raising=False)
    yield


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def engine(settings, sqlite_template: SqliteTemplate):
    from d400tui.engine import open_engine

    sqlite_template.copy_to(Path(settings.database_url.removeprefix("sqlite:///")))  # migrated, OPER1/SUPER1
    eng = open_engine(settings, clock=lambda: FIXED)
    yield eng
    eng.db.dispose()


@pytest.fixture
def make_app(settings, engine, request):
    """The app on the test's engine. The kept panels (work with orders, decision) are built ahead
    after sign-on, as in production, in the modules that set `PREBUILD = True` — the snapshots,
    the type-ahead and the flow tests, where keys land while they build; elsewhere on first use,
    which is 10-25 % less CPU for a test that never opens them (46 Pilot tests, measured in pairs)."""
    from d400tui.app import D400App

    prebuild = getattr(request.module, "PREBUILD", False)

    def _make():
        return D400App(settings, engine=engine, clock=lambda: FIXED, prebuild_panels=prebuild)

    return _make
