"""Build an Engine from settings: database (migrated and seeded on first use) and acquirer."""

from __future__ import annotations

from d400tui.acquirers import make_acquirer
from d400tui.config import Settings
from d400tui.store.db import Database

from .demo import seed_reference
from .service import Engine


def open_database(settings: Settings, migrate: bool = True) -> Database:
    db = Database(settings.database_url)
    if migrate:
        db.ensure_schema()
        seed_reference(db)
    return db


def open_engine(settings: Settings | None = None) -> Engine:
    settings = settings or Settings()
    db = open_database(settings)
    return Engine(settings, db, make_acquirer(settings))
