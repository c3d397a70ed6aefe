"""Repositories: the queries the engine needs, nothing more. Lists are keyset-paged from the
database (never every row in memory)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from d400tui.domain import model as m

from . import tables as t
from .search_keys import digits, fold


def _like(text: str) -> str:
    """What was typed, matched literally: % and _ are not wildcards for an operator."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class OrderFilter:
    status: m.OrderStatus | None = None
    hold: m.PaymentHold | None = None
    customer_id: int | None = None
    channel: m.Channel | None = None
    since: date | None = None
    until: date | None = None
    awaiting_decision: bool | None = None
    created_by: str | None = None  # "mes commandes": the operator who entered them


@dataclass(frozen=True)
class OrderRow:
    id: int
    order_date: date
    customer_id: int
    customer_name: str
    channel: str
    status: str
    hold: str
    payment_method: str
    total: Decimal
    card: str
    awaiting_decision: bool


class OrderRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, order: m.Order) -> None:
        self.session.add(order)

    def get(self, order_id: int, lock: bool = False) -> m.Order | None:
        q = (
            select(m.Order)
            .where(t.orders.c.id == order_id)
            .options(
                selectinload(m.Order.lines),  # type: ignore[arg-type]
                selectinload(m.Order.instalments),  # type: ignore[arg-type]
                selectinload(m.Order.authorizations),  # type: ignore[arg-type]
                selectinload(m.Order.decisions),  # type: ignore[arg-type]
            )
        )
        if lock and self.session.bind and self.session.bind.dialect.name == "postgresql":
            q = q.with_for_update(of=t.orders)
        return self.session.scalars(q).first()

    def page(self, f: OrderFilter, after_id: int | None = None, before_id: int | None = None,
             limit: int = 15) -> list[OrderRow]:
        """Newest first. `after_id` pages down (older), `before_id` pages up (newer)."""
        o, c = t.orders, t.customers
        q = (
            select(o.c.id, o.c.order_date, o.c.customer_id, c.c.name, o.c.channel, o.c.status, o.c.hold,
                   o.c.payment_method, o.c.total, o.c.card_first6, o.c.card_last4, o.c.awaiting_decision)
            .join(c, c.c.id == o.c.customer_id)
        )
        q = q.where(o.c.status != m.OrderStatus.DELETED.value) if f.status is None else q.where(
            o.c.status == f.status.value)
        if f.hold is not None:
            q = q.where(o.c.hold == f.hold.value)
        if f.customer_id is not None:
            q = q.where(o.c.customer_id == f.customer_id)
        if f.channel is not None:
            q = q.where(o.c.channel == f.channel.value)
        if f.since is not None:
            q = q.where(o.c.order_date >= f.since)
        if f.until is not None:
            q = q.where(o.c.order_date <= f.until)
        if f.awaiting_decision is not None:
            q = q.where(o.c.awaiting_decision == f.awaiting_decision)
        if f.created_by is not None:
            q = q.where(o.c.created_by == f.created_by)
        if before_id is not None:
            rows = self.session.execute(q.where(o.c.id > before_id).order_by(o.c.id.asc()).limit(limit)).all()
            rows = list(reversed(rows))
        else:
            if after_id is not None:
                q = q.where(o.c.id < after_id)
            rows = self.session.execute(q.order_by(o.c.id.desc()).limit(limit)).all()
        return [
            OrderRow(r[0], r[1], r[2], r[3], r[4].value, r[5].value, r[6].value, r[7].value, r[8],
                     f"{r[9]}…{r[10]}" if r[10] else "", bool(r[11]))
            for r in rows
        ]

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(t.orders)) or 0

    def max_id(self) -> int:
        return self.session.scalar(select(func.max(t.orders.c.id))) or 0


class CustomerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, customer_id: int) -> m.Customer | None:
        return self.session.get(m.Customer, customer_id)

    def search(self, text: str = "", limit: int = 50, after_id: int = 0) -> list[m.Customer]:
        """By name or city (accents and case ignored), postcode prefix, phone digits or customer
        number, in customer-number order; compares with the folded keys stored on insert."""
        c = t.customers.c
        q = select(m.Customer).where(c.id > after_id)
        text = text.strip()
        if text:
            conds = [c.search_key.like(f"%{_like(fold(text))}%", escape="\\")]
            num = digits(text)
            if num and num == text.replace(" ", "").replace(".", "").replace("-", ""):
                conds.append(c.postcode.like(f"{num}%"))
                if len(num) >= 4:
                    conds.append(c.phone_key.like(f"%{num}%"))
                if len(num) <= 9:
                    conds.append(c.id == int(num))
            q = q.where(or_(*conds))
        return list(self.session.scalars(q.order_by(c.id).limit(limit)))

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(t.customers)) or 0


class ArticleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, code: str) -> m.Article | None:
        return self.session.get(m.Article, code.strip().upper())

    def search(self, text: str = "", limit: int = 50, after_code: str = "") -> list[m.Article]:
        """By code or label, accents and case ignored (the folded key stored on insert)."""
        q = select(m.Article).where(t.articles.c.code > after_code)
        text = text.strip()
        if text:
            q = q.where(t.articles.c.search_key.like(f"%{_like(fold(text))}%", escape="\\"))
        return list(self.session.scalars(q.order_by(t.articles.c.code).limit(limit)))


class OperatorRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, name: str) -> m.Operator | None:
        return self.session.get(m.Operator, name.strip().upper())

    def add(self, op: m.Operator) -> None:
        self.session.add(op)

    def all(self) -> list[m.Operator]:
        return list(self.session.scalars(select(m.Operator).order_by(t.operators.c.name)))


class RunRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, run: m.PrecheckRun) -> None:
        self.session.add(run)

    def get(self, run_id: int) -> m.PrecheckRun | None:
        return self.session.get(m.PrecheckRun, run_id)

    def last(self, kind: str | None = None, limit: int = 10) -> list[m.PrecheckRun]:
        q = select(m.PrecheckRun)
        if kind:
            q = q.where(t.precheck_runs.c.kind == kind)
        return list(self.session.scalars(q.order_by(t.precheck_runs.c.id.desc()).limit(limit)))

    def results(self, run_id: int, after_id: int = 0, limit: int = 1000,
                outcome: str | None = None) -> list[m.RunResult]:
        q = select(m.RunResult).where(t.run_results.c.run_id == run_id, t.run_results.c.id > after_id)
        if outcome:
            q = q.where(t.run_results.c.outcome == outcome)
        return list(self.session.scalars(q.order_by(t.run_results.c.id).limit(limit)))
