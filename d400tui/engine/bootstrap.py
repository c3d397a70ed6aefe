"""Build an Engine from settings: database (migrated, reference data seeded) and acquirer.

No operator is ever created here silently: the first supervisor comes from `init_database`
(`d400 db init --admin NAME`), or from the demo seed of the TUI's first run on the embedded
default SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import uuid4

from d400tui import aio
from d400tui.acquirers import make_acquirer, make_secondary
from d400tui.config import Settings
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.store.db import Database

from .demo import seed_demo_operators, seed_reference
from .operators import bootstrap_supervisor, check_account, has_operators, operator_count, require_supervisor
from .service import Engine

FIRST_RUN_DEMO_ORDERS = 200


def open_database(settings: Settings, migrate: bool = True) -> Database:
    db = Database(settings.database_url, settings.db_idle_transaction_timeout_s)
    if migrate:
        db.ensure_schema()
        seed_reference(db)
    return db


def open_engine(
    settings: Settings | None = None, clock: Callable[[], datetime] | None = None, db: Database | None = None
) -> Engine:
    """`clock` fixes "now" for tests and snapshots; default: the wall clock. `db`: one already
    opened (the CLI signs on against it before any acquirer is built)."""
    settings = settings or Settings()
    db = db or open_database(settings)
    return Engine(settings, db, make_acquirer(settings), clock, make_secondary(settings))


def init_database(db: Database, admin: str, password: str) -> m.Operator:
    """Migrate, seed reference data and create the first supervisor of a database that has no
    operator; refused (before migrating) when it has one."""
    check_account(admin, password)
    if operator_count(db):
        raise has_operators()
    db.ensure_schema()
    seed_reference(db)
    return bootstrap_supervisor(db, admin, password)


WHAT_UPGRADE = Message("engine.what_upgrade")
WHAT_DEMO = Message("engine.what_demo")


def upgrade_database(db: Database, actor: m.Actor | None) -> str | None:
    """Migrate to the code's revision: a supervisor's job once the database has operators (an
    empty one is upgraded by whoever installs). Returns the revision reached."""
    if operator_count(db):
        require_supervisor(actor or m.Actor(""), WHAT_UPGRADE)
    db.ensure_schema()
    seed_reference(db)
    return db.current_revision()


def first_run(settings: Settings, orders: int = FIRST_RUN_DEMO_ORDERS) -> bool:
    """On a new database: migrate and seed reference data; on the embedded default SQLite file
    (no D400_DB_URL) also the demo operators, and with the simulator demo orders, so `d400` opens
    on a populated system. Returns True when it seeded."""
    from .demo import generate_orders

    db = Database(settings.database_url, settings.db_idle_transaction_timeout_s)
    try:
        db.ensure_schema()
        if not seed_reference(db):
            return False
        if settings.db_url is None and not operator_count(db):
            seed_demo_operators(db)
        if settings.acquirer != "simulator" or orders <= 0:
            return False
        cards = aio.run(_demo_tokens(settings))
        generate_orders(db, orders, cards)
        return True
    finally:
        db.dispose()


async def _demo_tokens(settings: Settings) -> list[tuple[str, str, str, str, str]]:
    """Card-on-file tokens for the demo cards, asked of the configured (simulator) acquirer through
    the acquirer protocol like any verification: the engine never reaches into the simulator. A
    card the acquirer does not tokenize is simply not on file in the demo."""
    from d400tui.acquirers.base import PaymentSource
    from d400tui.domain.cards import CardData, parse_expiry

    from .demo import DEMO_CARDS

    acquirer = make_acquirer(settings)
    cards = []
    try:
        for i, (pan, exp) in enumerate(DEMO_CARDS):
            card = CardData(pan, parse_expiry(exp))
            resp = await acquirer.verify(PaymentSource(card=card), f"first-run-{uuid4().hex}-{i}")
            if resp.approved and resp.token:
                masked = card.masked
                cards.append((resp.token, masked.brand.value, masked.first6, masked.last4, masked.expiry))
    finally:
        await acquirer.close()
    return cards
