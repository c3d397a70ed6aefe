"""The audit trail filtered, paged and exported to CSV (SQLite and PostgreSQL); formula cells neutralised."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from d400tui.engine import PermissionDenied, audit_view
from d400tui.engine.audit_view import AuditFilter, csv_cell, export_csv, page
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)


@pytest.mark.parametrize(
    ("raw", "cell"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+33 1 23", "'+33 1 23"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("  =1+1", "'  =1+1"),
        ("client parti", "client parti"),
        ('{"reason": "=1"}', '{"reason": "=1"}'),
        (None, ""),
        (42, "42"),
    ],
)
def test_csv_cell_neutralises_formulas(raw, cell):
    assert csv_cell(raw) == cell


def test_csv_cell_scrubs_a_card_number():
    assert "4970100000000014" not in csv_cell("carte 4970 1000 0000 0014")


async def _trail(engine) -> list[int]:  # type: ignore[no-untyped-def]
    ids = [(await engine.place_order(OPER, 100001, [A], card("4970100000000014"))).order.id for _ in range(3)]
    await engine.cancel_order(SUPER, ids[1], '=HYPERLINK("http://evil")')
    return ids


async def test_filters_paging_and_export(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ids = await _trail(engine)
    everything = page(engine, SUPER, AuditFilter(), limit=10_000)
    assert [r["id"] for r in everything] == sorted((r["id"] for r in everything), reverse=True)
    first = page(engine, SUPER, AuditFilter(), limit=3)
    second = page(engine, SUPER, AuditFilter(), before_id=first[-1]["id"], limit=3)
    assert [r["id"] for r in first + second] == [r["id"] for r in everything[:6]]
    mine = page(engine, SUPER, AuditFilter(order_id=ids[1]))
    assert mine and {r["order_id"] for r in mine} == {ids[1]}
    assert {r["actor"] for r in page(engine, SUPER, AuditFilter(actor="SUPER1"))} == {"SUPER1"}
    creates = page(engine, SUPER, AuditFilter(action="ORDER_CREATE"))
    assert sorted(r["order_id"] for r in creates) == ids
    today = date.today()
    assert page(engine, SUPER, AuditFilter(since=today + timedelta(days=1))) == []
    assert len(page(engine, SUPER, AuditFilter(since=today, until=today), limit=10_000)) == len(everything)

    monkeypatch.setattr(audit_view, "EXPORT_PAGE", 2)  # the export walks the pages
    buf = io.StringIO()
    assert export_csv(engine, SUPER, AuditFilter(), buf) == len(everything)
    rows = list(csv.reader(io.StringIO(buf.getvalue())))
    assert rows[0] == list(audit_view.COLUMNS)
    assert [int(r[0]) for r in rows[1:]] == [r["id"] for r in everything]
    assert all(not cell.lstrip(" ").startswith(audit_view.FORMULA_START) for r in rows for cell in r)
    assert "4970100000000014" not in buf.getvalue()
    assert any("HYPERLINK" in r[5] for r in rows[1:])


def test_trail_is_for_supervisors(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        page(engine, OPER, AuditFilter())
