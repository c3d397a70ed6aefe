"""Every TUI test runs on its own temporary database and simulator file, with a fixed clock."""

from __future__ import annotations

from datetime import datetime

import pytest

from d400tui.config import Settings

FIXED = datetime(2025, 6, 2, 10, 30, 0)


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
def engine(settings):
    from d400tui.engine import open_engine
    from d400tui.engine.demo import seed_demo_operators

    eng = open_engine(settings, clock=lambda: FIXED)
    seed_demo_operators(eng.db)
    yield eng
    eng.db.dispose()


@pytest.fixture
def make_app(settings, engine):
    from d400tui.app import D400App

    def _make():
        return D400App(settings, engine=engine, clock=lambda: FIXED)

    return _make
