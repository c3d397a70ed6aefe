"""Build an Engine from settings: database (migrated and seeded on first use) and acquirer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from uuid import uuid4

from d400tui.acquirers import make_acquirer
from d400tui.config import Settings
from d400tui.store.db import Database

from .demo import seed_reference
from .service import Engine

FIRST_RUN_DEMO_ORDERS = 200


def open_database(settings: Settings, migrate: bool = True) -> Database:
    db = Database(settings.database_url)
    if migrate:
        db.ensure_schema()
        seed_reference(db)
    return db


def open_engine(settings: Settings | None = None, clock: Callable[[], datetime] | None = None) -> Engine:
    """`clock` fixes "now" for tests and snapshots; default: the wall clock."""
    settings = settings or Settings()
    db = open_database(settings)
    return Engine(settings, db, make_acquirer(settings), clock)


def first_run(settings: Settings, orders: int = FIRST_RUN_DEMO_ORDERS) -> bool:
    """On a new database: migrate, seed reference data and operators, and — on the embedded
    simulator — add demo orders, so `d400` opens on a populated system. Returns True when it seeded."""
    from d400tui.acquirers.base import PaymentSource
    from d400tui.acquirers.issuer import issuer_from_settings
    from d400tui.domain.cards import CardData, parse_expiry

    from .demo import DEMO_CARDS, generate_orders

    db = Database(settings.database_url)
    try:
        db.ensure_schema()
        if not seed_reference(db) or settings.acquirer != "simulator" or orders <= 0:
            return False
        issuer = issuer_from_settings(settings)
        try:
            cards = []
            for i, (pan, exp) in enumerate(DEMO_CARDS):
                card = CardData(pan, parse_expiry(exp))
                answer = issuer.authorize(PaymentSource(card=card), Decimal(0), f"first-run-{uuid4().hex}-{i}",
                                          "VERIFY")
                if answer.response.token:
                    m = card.masked
                    cards.append((answer.response.token, m.brand.value, m.first6, m.last4, m.expiry))
        finally:
            issuer.close()
        generate_orders(db, orders, cards)
        return True
    finally:
        db.dispose()
