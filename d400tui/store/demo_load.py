"""Bulk inserts of the demo generator and the reference data: Core executemany, no mapped
objects, so a million demo orders load in minutes (the engine builds the rows)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

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
            (r[0], r[1], r[2], r[3])
            for r in uow.session.execute(select(a.code, a.label, a.unit_price, a.vat_rate)).all()
        ]
        cust_ids = list(uow.session.scalars(select(t.customers.c.id)))
        start = (uow.session.scalar(select(func.max(t.orders.c.id))) or 0) + 1
    return arts, cust_ids, start


def insert_orders(
    db: Database, orders: list[dict[str, Any]], lines: list[dict[str, Any]], instalments: list[dict[str, Any]]
) -> None:
    """One chunk of orders with their lines and instalments, in one transaction."""
    with db.uow() as uow:
        conn = uow.session.connection()
        conn.execute(insert(t.orders), orders)
        conn.execute(insert(t.order_lines), lines)
        conn.execute(insert(t.instalments), instalments)
        uow.commit()


def sync_order_ids(db: Database) -> None:
    """PostgreSQL: the order id sequence past the ids inserted explicitly (SQLite needs nothing)."""
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            conn.exec_driver_sql("SELECT setval('orders_id_seq', (SELECT MAX(id) FROM orders))")
