"""Reading: customers and articles for the entry panel, orders for the panels and lists, the runs
a supervisor looks back on. No rule is decided here; ids past what a column holds are unknown."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.domain.read_models import OrderFilter, OrderRow

from . import steps as s
from .errors import NotFound


def get_customer(ctx: s.Context, customer_id: int) -> m.Customer:
    with ctx.unit() as uow:
        c = uow.customers.get(customer_id) if s.id_in_range(customer_id) else None
        if c is None:
            raise NotFound("engine.customer_unknown", field="customer", customer=customer_id)
        return c


def search_customers(ctx: s.Context, text: str = "", limit: int = 50, after_id: int = 0) -> list[m.Customer]:
    with ctx.unit() as uow:
        return uow.customers.search(text[:60], limit, after_id)


def get_article(ctx: s.Context, code: str) -> m.Article:
    code = code.strip().upper()[:12]
    with ctx.unit() as uow:
        a = uow.articles.get(code) if code else None
        if a is None:
            raise NotFound("engine.article_unknown", field="article", article=code or "?")
        return a


def search_articles(ctx: s.Context, text: str = "", limit: int = 50, after_code: str = "") -> list[m.Article]:
    with ctx.unit() as uow:
        return uow.articles.search(text[:60], limit, after_code)


def get_order(ctx: s.Context, order_id: int) -> m.Order:
    """Any order, deleted ones included (read only: no lock)."""
    with ctx.unit() as uow:
        order = uow.orders.get(order_id) if s.id_in_range(order_id) else None
        if order is None:
            raise NotFound("engine.order_unknown", order=order_id)
        return order


def list_orders(
    ctx: s.Context,
    f: OrderFilter | None = None,
    after_id: int | None = None,
    before_id: int | None = None,
    limit: int = 15,
) -> list[OrderRow]:
    with ctx.unit() as uow:
        return uow.orders.page(f or OrderFilter(), after_id, before_id, limit, now=ctx.clock())


def last_runs(ctx: s.Context, kind: str | None = None, limit: int = 10) -> list[m.PrecheckRun]:
    with ctx.unit() as uow:
        return uow.runs.last(kind, limit)


def run_results(
    ctx: s.Context, run_id: int, after_id: int = 0, limit: int = 1000, outcome: str | None = None
) -> list[m.RunResult]:
    with ctx.unit() as uow:
        return uow.runs.results(run_id, after_id, limit, outcome)
