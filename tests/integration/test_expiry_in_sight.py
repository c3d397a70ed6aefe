"""Expiry in sight (SQLite and PostgreSQL): each order of the list carries the first lapse of its
live authorizations, and "expiring within 48 h" keeps exactly the holds that lapse in the next
48 hours (not those already lapsed, captured or voided); `d400 order list --expiring` says it too."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import update

from d400tui.domain import model as m
from d400tui.engine.views import OrderFilter
from d400tui.store import tables as t
from tests.support import cli
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)
VISA = "4970100000000014"
SOON = OrderFilter(expiring_within_h=48)


def _set_until(engine, order_id: int, until: datetime) -> None:  # type: ignore[no-untyped-def]
    """Age an authorization as days passing would (its hold now lapses at `until`)."""
    i, a = t.instalments, t.authorizations
    with engine.db.engine.begin() as conn:
        conn.execute(update(i).where(i.c.order_id == order_id).values(authorized_until=until))
        conn.execute(update(a).where(a.c.order_id == order_id).values(expires_at=until))


async def test_rows_carry_their_lapse_and_the_filter_keeps_the_next_48_hours(engine) -> None:
    start = datetime(2026, 3, 2, 9, 0)
    engine.clock = lambda: start
    early = (await engine.place_order(OPER, 100001, [A], card(VISA))).order.id  # lapses on 9 March 09:00
    engine.clock = lambda: start + timedelta(days=3)
    late = (await engine.place_order(OPER, 100002, [A], card(VISA))).order.id  # lapses on 12 March
    cancelled = (await engine.place_order(OPER, 100003, [A], card(VISA))).order.id
    await engine.cancel_order(OPER, cancelled, "client injoignable")
    cheque = (await engine.place_order(OPER, 100001, [A], None, payment_method=m.PaymentMethod.CHEQUE)).order.id

    rows = {r.id: r for r in engine.list_orders()}
    assert rows[early].authorized_until == start + timedelta(days=7)
    assert rows[late].authorized_until == start + timedelta(days=10)
    assert rows[cancelled].authorized_until is None and rows[cheque].authorized_until is None

    engine.clock = lambda: start + timedelta(days=5, hours=9)  # 7 March 18:00: early lapses in 39 h
    assert [r.id for r in engine.list_orders(SOON)] == [early]
    engine.clock = lambda: start + timedelta(days=8, hours=10)  # early has lapsed, late lapses in 47 h
    assert [r.id for r in engine.list_orders(SOON)] == [late]
    engine.clock = lambda: start + timedelta(days=12)  # both lapsed: nothing is "expiring" any more
    assert engine.list_orders(SOON) == []


async def test_a_captured_order_has_no_live_authorization(engine, today) -> None:
    oid = (await engine.place_order(OPER, 100001, [A], card(VISA))).order.id
    await engine.capture(SUPER, today)
    row = next(r for r in engine.list_orders() if r.id == oid)
    assert row.authorized_until is None


async def test_the_filter_pages_as_the_list_does(engine) -> None:
    start = datetime(2026, 3, 2, 9, 0)
    engine.clock = lambda: start
    ids = [(await engine.place_order(OPER, 100001, [A], card(VISA))).order.id for _ in range(5)]
    engine.clock = lambda: start + timedelta(days=6)
    first = engine.list_orders(SOON, limit=2)
    assert [r.id for r in first] == ids[::-1][:2]
    assert [r.id for r in engine.list_orders(SOON, after_id=first[-1].id, limit=5)] == ids[::-1][2:]


async def test_the_cli_flag_lists_the_same_orders(engine, settings) -> None:  # type: ignore[no-untyped-def]
    kept = (await engine.place_order(OPER, 100001, [A], card(VISA))).order.id
    other = (await engine.place_order(OPER, 100002, [A], card(VISA))).order.id
    _set_until(engine, kept, datetime.now() + timedelta(hours=30))
    r = cli.run(["order", "list", "--expiring", "--json"], "", cli.signed_on("OPER1"))
    assert r.returncode == 0, r.stderr
    assert [row["id"] for row in json.loads(r.stdout)] == [kept]
    text = cli.run(["order", "list"], "", cli.signed_on("OPER1"))
    lines = {
        line.split()[0]: line for line in text.stdout.splitlines() if line.split()[:1] in ([str(kept)], [str(other)])
    }
    assert lines[str(kept)].rstrip().endswith("1 j") and lines[str(other)].rstrip().endswith("6 j")
