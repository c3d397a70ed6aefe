"""The audit trail for supervisors: a filtered page for the audit screen and a CSV export.

CSV cells that a spreadsheet would read as a formula (starting with =, +, -, @, or a tab or carriage
return before one) get a leading apostrophe: the trail holds text operators typed (cancel reasons,
names), and a cell like `=HYPERLINK(...)` must open as text, not run."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from d400tui.domain.cards import scrub
from d400tui.domain.message import Message
from d400tui.domain.read_models import ChainCheck
from d400tui.store.audit_query import AuditFilter, audit_page, trail

if TYPE_CHECKING:
    from datetime import date

    from d400tui.domain import model as m

    from .steps import Context

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ("id", "at", "actor", "action", "order_id", "detail")
EXPORT_PAGE = 1000

__all__ = ["AuditFilter", "audit_trail", "csv_cell", "export_csv", "page", "verify_audit"]


def csv_cell(value: object) -> str:
    text = "" if value is None else scrub(str(value))
    return "'" + text if text.lstrip(" ").startswith(FORMULA_START) else text


def page(
    engine: Context, actor: m.Actor, f: AuditFilter, before_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """One page of the trail, newest first; the next page starts before the last id shown."""
    engine.require_supervisor(actor, Message("engine.what_audit"))
    with engine.db.engine.connect() as conn:
        return audit_page(conn, f, before_id, limit)


def _rows(engine: Context, actor: m.Actor, f: AuditFilter) -> Iterable[dict[str, Any]]:
    before: int | None = None
    while rows := page(engine, actor, f, before, EXPORT_PAGE):
        yield from rows
        before = rows[-1]["id"]


def export_csv(
    engine: Context, actor: m.Actor, f: AuditFilter, out: io.TextIOBase | Any, detail: Callable[[str], str] = str
) -> int:
    """Write the filtered trail as CSV (page by page) to `out`; returns the rows written. `detail`
    renders a record's detail for the reader (the caller's renderer: messages are stored as keys)."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    n = 0
    for row in _rows(engine, actor, f):
        at = row["at"]
        row = {**row, "at": at.isoformat(sep=" ", timespec="seconds") if at else "", "detail": detail(row["detail"])}
        writer.writerow([csv_cell(row[c]) for c in COLUMNS])
        n += 1
    return n


def audit_trail(
    engine: Context, actor: m.Actor, since: date | None = None, limit: int = 200
) -> list[dict[str, object]]:
    """The trail, newest first (supervisors: it names every operator's actions and reasons)."""
    engine.require_supervisor(actor, Message("engine.what_audit"))
    with engine.unit() as uow:
        return trail(uow.session, since, limit)


def verify_audit(engine: Context, actor: m.Actor, expect: str | None = None) -> ChainCheck:
    """Walk the audit chain (supervisors). It proves the records were not changed, removed or
    inserted one by one since they were written; whoever owns the database can still rewrite the
    whole chain, which only a head hash kept outside (printed here) can reveal."""
    engine.require_supervisor(actor, Message("engine.what_audit_verify"))
    with engine.unit() as uow:
        return uow.audits.verify(expect=expect)
