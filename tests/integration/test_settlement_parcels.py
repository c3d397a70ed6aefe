"""Settlement of an order shipped in two parcels (issue 12, points 1 and 5): each parcel is a
capture the acquirer settles on its own line, under the hold's reference. A first parcel settled
matches while the second is still held; a second parcel captured but missing from the next file is
a difference (our captures now exceed what was settled), and matches once its line comes."""

from __future__ import annotations

from decimal import Decimal

from d400tui.domain.settlement import Difference
from d400tui.engine import settlement as settle
from d400tui.simulator.settlement import report_rows
from tests.integration.test_settlement import _csv
from tests.support.demo import OPER, SUPER, card

LINES = [("BON0001", 2), ("GRI0002", 1), ("RID0003", 1)]


async def test_two_parcels_settled_one_file_each(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    r = await engine.place_order(OPER, 100001, LINES, card("4970100000000014"))
    oid = r.order.id
    engine.ship(OPER, oid, [("BON0001", 2), ("GRI0002", 1)])
    assert (await engine.capture_shipped(SUPER, oid, 1))[0] == "CAPTURED"
    first = report_rows(issuer)
    assert [x["gross"] for x in first] == ["203.92"]
    one = settle.import_file(engine, SUPER, "day1.csv", _csv(first))
    assert one.differences == [] and one.run.matched == 1  # the parcel shipped is what was settled

    engine.ship(OPER, oid, [("RID0003", 1)])
    assert (await engine.capture_shipped(SUPER, oid, 1))[0] == "CAPTURED"
    both = report_rows(issuer)
    second = [x for x in both if x["balance_transaction_id"] not in {y["balance_transaction_id"] for y in first}]
    assert [x["gross"] for x in second] == ["95.99"]
    stranger = dict(second[0], balance_transaction_id="txn_stranger0002", source_id="SFFFF0000AAAA2222")
    late = settle.import_file(engine, SUPER, "day2.csv", _csv([stranger]))  # our second parcel not in it
    got = {(d.kind, d.order_id, d.ours, d.theirs) for d in late.differences}
    assert got == {
        (Difference.NOT_SETTLED, oid, Decimal("95.99"), None),  # the second parcel: captured, not settled
        (Difference.UNKNOWN, None, None, Decimal("95.99")),
    }
    assert (late.run.not_settled, late.run.amount_differs, late.run.matched) == (1, 0, 0)
    done = settle.import_file(engine, SUPER, "day3.csv", _csv(second))
    assert [(d.kind, d.reference) for d in done.differences] == [(Difference.UNKNOWN, "SFFFF0000AAAA2222")]
    assert done.run.matched == 1  # the parcel's line came: the reference matches again


async def test_a_parcel_settled_out_of_order_leaves_the_other_not_settled(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    """Each parcel settles on its own line, in whatever order: what was settled being exactly
    some parcels, the others are captured here and not settled (not an amount that differs); a
    sum no parcels make is still AMOUNT_DIFFERS."""
    r = await engine.place_order(OPER, 100001, LINES, card("4970100000000014"))
    oid = r.order.id
    engine.ship(OPER, oid, [("BON0001", 2), ("GRI0002", 1)])
    assert (await engine.capture_shipped(SUPER, oid, 1))[0] == "CAPTURED"
    engine.ship(OPER, oid, [("RID0003", 1)])
    assert (await engine.capture_shipped(SUPER, oid, 1))[0] == "CAPTURED"
    first, second = report_rows(issuer)
    assert (first["gross"], second["gross"]) == ("203.92", "95.99")
    late = settle.import_file(engine, SUPER, "day1.csv", _csv([second]))  # the second parcel settled first
    assert [(d.kind, d.order_id, d.ours, d.theirs) for d in late.differences] == [
        (Difference.NOT_SETTLED, oid, Decimal("203.92"), None)
    ]
    assert (late.run.not_settled, late.run.amount_differs, late.run.matched) == (1, 0, 0)
    odd = dict(first, balance_transaction_id="txn_odd00000001", gross="100.00", fee="1.65", net="98.35")
    wrong = settle.import_file(engine, SUPER, "day2.csv", _csv([odd]))  # 195.99: no parcels make it
    assert [(d.kind, d.ours, d.theirs) for d in wrong.differences] == [
        (Difference.AMOUNT_DIFFERS, Decimal("299.91"), Decimal("195.99"))
    ]
