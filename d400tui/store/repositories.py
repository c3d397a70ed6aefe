"""Repositories: the queries the engine needs, nothing more. Lists are keyset-paged from the
database (never every row in memory)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, exists, false, func, insert, literal, or_, select, text, update
from sqlalchemy.orm import Session, selectinload

from d400tui.domain import model as m
from d400tui.domain.read_models import ChainCheck, OrderFilter, OrderRow

from . import tables as t
from .json_rows import dumps, source, timestamp
from .search_keys import digits, fold


def _like(text: str) -> str:
    """What was typed, matched literally: % and _ are not wildcards for an operator."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


MAX_ID = 2**31 - 1
"""The largest id an Integer column holds on both databases (PostgreSQL integer is 32-bit)."""

IMMEDIATE = "d400_immediate"
"""Execution option: on SQLite, open the transaction with BEGIN IMMEDIATE (store.db's begin hook)."""


def take_write_lock(session: Session) -> None:
    """SQLite: hold the write lock before reading what a decision rests on, so no other writer
    lands between the read and this transaction's writes. Opens the transaction with BEGIN
    IMMEDIATE, or, in one already open, by a write that changes nothing (it still takes the lock)."""
    if not session.in_transaction():
        session.connection(execution_options={IMMEDIATE: True})
    elif not session.connection().get_execution_options().get(IMMEDIATE):
        session.execute(update(t.orders).where(false()).values(version=t.orders.c.version))


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
        if lock:
            if self.session.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(of=t.orders)
            else:
                take_write_lock(self.session)
        return self.session.scalars(q).first()

    def page(
        self,
        f: OrderFilter,
        after_id: int | None = None,
        before_id: int | None = None,
        limit: int = 15,
        now: datetime | None = None,
    ) -> list[OrderRow]:
        """Newest first. `after_id` pages down (older), `before_id` pages up (newer). Each row
        carries the first lapse of its live authorizations (expiry in sight); `now` is the
        reference of the "expiring within N hours" filter."""
        o, c, i = t.orders, t.customers, t.instalments
        held = i.c.state == m.InstalmentState.PENDING.value, i.c.authorized_until.is_not(None)
        until = select(func.min(i.c.authorized_until)).where(i.c.order_id == o.c.id, *held).scalar_subquery()
        q = select(
            o.c.id,
            o.c.order_date,
            o.c.customer_id,
            c.c.name,
            o.c.channel,
            o.c.status,
            o.c.hold,
            o.c.payment_method,
            o.c.total,
            o.c.card_first6,
            o.c.card_last4,
            o.c.awaiting_decision,
            until,
        ).join(c, c.c.id == o.c.customer_id)
        q = (
            q.where(o.c.status != m.OrderStatus.DELETED.value)
            if f.status is None
            else q.where(o.c.status == f.status.value)
        )
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
        if f.expiring_within_h is not None:
            start = now or datetime.now()
            soon = select(i.c.order_id).where(
                *held,
                i.c.authorized_until > start,
                i.c.authorized_until <= start + timedelta(hours=f.expiring_within_h),
            )
            q = q.where(o.c.id.in_(soon))
        if before_id is not None:
            rows = self.session.execute(q.where(o.c.id > before_id).order_by(o.c.id.asc()).limit(limit)).all()
            rows = list(reversed(rows))
        else:
            if after_id is not None:
                q = q.where(o.c.id < after_id)
            rows = self.session.execute(q.order_by(o.c.id.desc()).limit(limit)).all()
        return [
            OrderRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4].value,
                r[5].value,
                r[6].value,
                r[7].value,
                r[8],
                f"{r[9]}…{r[10]}" if r[10] else "",
                bool(r[11]),
                r[12],
            )
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
            conds: list[ColumnElement[bool]] = [c.search_key.like(f"%{_like(fold(text))}%", escape="\\")]
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

    def count(self, exclusive: bool = False) -> int:
        """With `exclusive`, the table stays locked against inserts until the transaction ends
        (PostgreSQL; SQLite has one writer at a time anyway)."""
        if exclusive and self.session.bind and self.session.bind.dialect.name == "postgresql":
            self.session.execute(text("LOCK TABLE operators IN EXCLUSIVE MODE"))
        return self.session.scalar(select(func.count()).select_from(t.operators)) or 0

    def add_first(self, op: m.Operator) -> bool:
        """Insert `op` only into an empty table, in one statement (SQLite's write lock makes it
        atomic; on PostgreSQL call `count(exclusive=True)` first). False if an operator exists."""
        o = t.operators
        row = select(
            *(
                literal(v, o.c[k].type)
                for k, v in (
                    ("name", op.name),
                    ("password_hash", op.password_hash),
                    ("supervisor", op.supervisor),
                    ("failures", op.failures),
                    ("locked", op.locked),
                    ("created_at", op.created_at),
                )
            )
        )
        result = self.session.execute(
            insert(o).from_select(
                ["name", "password_hash", "supervisor", "failures", "locked", "created_at"],
                row.where(~exists(select(o.c.name))),
            )
        )
        return bool(cast("CursorResult[Any]", result).rowcount)

    def record_failure(self, name: str, max_failures: int) -> tuple[int, bool] | None:
        """One statement counts the failure and locks at `max_failures`: parallel sign-ons each
        add one (no read-modify-write, so none is lost). (failures, locked), None if no such row."""
        op = t.operators.c
        row = self.session.execute(
            update(t.operators)
            .where(op.name == name)
            .values(failures=op.failures + 1, locked=or_(op.locked, op.failures + 1 >= max_failures))
            .returning(op.failures, op.locked)
        ).first()
        return (int(row[0]), bool(row[1])) if row else None

    def record_success(self, name: str, password_hash: str) -> bool:
        """Reset the count only if the account is still unlocked and its hash is still the one
        verified: a lock that landed while the password was being checked wins."""
        op = t.operators.c
        row = self.session.execute(
            update(t.operators)
            .where(op.name == name, op.locked.is_(False), op.password_hash == password_hash)
            .values(failures=0)
            .returning(op.name)
        ).first()
        return row is not None

    def unlock(self, name: str) -> bool:
        op = t.operators.c
        row = self.session.execute(
            update(t.operators).where(op.name == name).values(failures=0, locked=False).returning(op.name)
        ).first()
        return row is not None


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

    def results(
        self, run_id: int, after_id: int = 0, limit: int = 1000, outcome: str | None = None
    ) -> list[m.RunResult]:
        q = select(m.RunResult).where(t.run_results.c.run_id == run_id, t.run_results.c.id > after_id)
        if outcome:
            q = q.where(t.run_results.c.outcome == outcome)
        return list(self.session.scalars(q.order_by(t.run_results.c.id).limit(limit)))


GENESIS = "0" * 64
"""The predecessor of the first audit record."""


def chain_hash(prev: str, at: datetime, actor: str, action: str, order_id: int | None, detail: str) -> str:
    """SHA-256 over a canonical serialization of one record and its predecessor's hash: compact
    JSON of a fixed list (no key order to disagree on), the time to the microsecond, UTF-8."""
    body = json.dumps(
        [prev, at.isoformat(timespec="microseconds"), actor, action, order_id, detail],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class AuditChainError(Exception):
    """The chain head is gone: nothing more is appended until someone looks (d400 audit verify)."""


_HEAD_LOCKED = select(t.audit_head.c.hash).where(t.audit_head.c.id == 1).with_for_update()
_AUDIT_COLS = ("at", "actor", "action", "order_id", "detail", "prev_hash", "hash")
_AUDIT_ROWS = dict(k="int", at="timestamp", order_id="int") | dict.fromkeys(
    ("actor", "action", "detail", "prev_hash", "hash"), "text"
)
_APPEND_PG = text(
    "WITH added AS (INSERT INTO audit (at, actor, action, order_id, detail, prev_hash, hash) "
    "SELECT v.at, v.actor, v.action, v.order_id, v.detail, v.prev_hash, v.hash "
    f"FROM {source('postgresql', _AUDIT_ROWS)} ORDER BY v.k) "
    "UPDATE audit_head SET n = audit_head.n + :n, hash = :hash WHERE audit_head.id = 1"
)
"""Records (in chain order: ids follow it) and the head moved onto the last, in one statement."""


def _audit_json(rows: list[dict[str, Any]], pg: Any) -> str:
    """The records as `_APPEND_PG` reads them, the free text scrubbed as its column type would."""
    actor, detail = t.audit.c.actor.type, t.audit.c.detail.type
    return dumps(
        [
            dict(
                {c: r.get(c) for c in _AUDIT_COLS},
                k=k,
                at=timestamp("postgresql", r["at"]),
                actor=actor.process_bind_param(r["actor"], pg),  # type: ignore[attr-defined]
                detail=detail.process_bind_param(r["detail"], pg),  # type: ignore[attr-defined]
            )
            for k, r in enumerate(rows)
        ]
    )


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Chain and insert records in this transaction. The head row is locked first — a row lock
        on PostgreSQL, on SQLite the write lock its UPDATE takes — held until commit, so concurrent
        appenders queue and each chains onto the hash the previous one committed. On PostgreSQL the
        records and the head go in one statement, the head written once (a batch's third round trip
        was its second write of the head)."""
        if not rows:
            return
        h = t.audit_head
        dialect = self.session.get_bind().dialect
        pg = dialect.name == "postgresql"
        if pg:
            prev = self.session.execute(_HEAD_LOCKED).scalar()
        else:
            prev = self.session.execute(
                update(h).where(h.c.id == 1).values(n=h.c.n + len(rows)).returning(h.c.hash)
            ).scalar()
        if prev is None:
            raise AuditChainError("audit chain head missing: run d400 audit verify")
        for r in rows:
            at = r["at"]
            if at.tzinfo is not None:  # stored without zone: hash what is read back
                r["at"] = at = at.astimezone().replace(tzinfo=None)
            r["prev_hash"] = prev
            r["hash"] = prev = chain_hash(prev, at, r["actor"], r["action"], r.get("order_id"), r["detail"])
        if pg:
            self.session.execute(_APPEND_PG, dict(rows=_audit_json(rows, dialect), n=len(rows), hash=prev))
            return
        self.session.execute(insert(t.audit), rows)
        self.session.execute(update(h).where(h.c.id == 1).values(hash=prev))

    def head(self) -> tuple[int, str] | None:
        row = self.session.execute(select(t.audit_head.c.n, t.audit_head.c.hash).where(t.audit_head.c.id == 1)).first()
        return (row[0], row[1]) if row else None

    def verify(self, page: int = 5000, expect: str | None = None) -> ChainCheck:
        """Walk the chain in id order: each record must name its predecessor's hash and hash to its
        own; the head row must name the last hash and the number of records. `expect`, a head hash
        kept outside the database earlier, must be one record's hash: whoever rewrote the whole
        chain (head row included) or cut it before that record cannot make it match."""
        a = t.audit
        prev, last_id, checked = GENESIS, 0, 0
        seen = expect is None
        while True:
            rows = self.session.execute(
                select(a.c.id, a.c.at, a.c.actor, a.c.action, a.c.order_id, a.c.detail, a.c.prev_hash, a.c.hash)
                .where(a.c.id > last_id)
                .order_by(a.c.id)
                .limit(page)
            ).all()
            for rid, at, actor, action, order_id, detail, prev_hash, own in rows:
                if prev_hash != prev:
                    return ChainCheck(checked, prev, rid, "does not name the hash of the record before it")
                if own != chain_hash(prev, at, actor, action, order_id, detail):
                    return ChainCheck(checked, prev, rid, "content does not match its hash")
                prev, checked = own, checked + 1
                seen = seen or own == expect
            if len(rows) < page:
                break
            last_id = rows[-1][0]
        head = self.head()
        if head is None:
            return ChainCheck(checked, prev, None, "chain head row missing")
        if head != (checked, prev):
            return ChainCheck(
                checked,
                prev,
                None,
                f"chain head says {head[0]} records ending {head[1][:12]}…: records removed or added",
            )
        if not seen:
            return ChainCheck(
                checked, prev, None, "the head hash kept outside is in no record: the trail was rewritten or cut"
            )
        return ChainCheck(checked, prev)
