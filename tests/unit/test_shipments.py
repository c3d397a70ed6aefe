"""The shipment rules without a database: a parcel never above what is left, the parcels of a line
add up to its gross to the cent, shipped money fills the instalments in order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from d400tui.domain.shipments import OrderedLine, ShipmentError, ShippingState, all_shipped, plan_parcel, shares

D = Decimal
LINES = [
    OrderedLine(1, "BON0001", 3, D("0.33"), D("5.50")),  # rounding: 3 × 0.33 at 5.5 %
    OrderedLine(2, "GRI0002", 1, D("49.95"), D("20.00")),
    OrderedLine(3, "BON0001", 2, D("0.33"), D("5.50")),  # the same article on a second line
]


def test_parcels_of_a_line_add_up_to_its_gross() -> None:
    shipped: dict[int, int] = {}
    total = D("0.00")
    for _ in range(3):
        (ln,) = plan_parcel(LINES[:1], shipped, [("bon0001", 1)])
        shipped[1] = shipped.get(1, 0) + 1
        total += ln.amount
    assert total == LINES[0].gross(3) == D("1.04")
    assert all_shipped(LINES[:1], shipped)


def test_an_article_on_two_lines_ships_from_the_first_then_the_second() -> None:
    parcel = plan_parcel(LINES, {1: 2}, [("BON0001", 2), ("BON0001", 1)])
    assert [(ln.line_no, ln.quantity) for ln in parcel] == [(1, 1), (3, 2)]


def test_more_than_left_is_refused_whole_with_the_figures() -> None:
    with pytest.raises(ShipmentError) as exc:
        plan_parcel(LINES, {1: 3, 3: 1}, [("GRI0002", 1), ("BON0001", 2)])
    assert exc.value.message.key == "engine.ship_over"
    assert exc.value.message.params == {"article": "BON0001", "asked": 2, "ordered": 5, "shipped": 4}


@pytest.mark.parametrize(
    ("asked", "key"),
    [([], "engine.ship_no_lines"), ([("NOPE", 1)], "engine.ship_not_ordered"), ([("BON0001", 0)], "engine.quantity")],
)
def test_bad_parcels(asked, key) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ShipmentError) as exc:
        plan_parcel(LINES, {}, asked)
    assert exc.value.message.key == key


def test_a_pasted_card_number_is_never_said_back_whole() -> None:
    with pytest.raises(ShipmentError) as exc:
        plan_parcel(LINES, {}, [("4970100000000014", 1)])
    assert exc.value.message.params["article"] == "497010000000"


def test_shipped_money_fills_the_instalments_in_order() -> None:
    inst = [(2, D("100.00")), (1, D("100.00")), (3, D("100.00"))]
    s = shares(inst, ShippingState(D("150.00")), {1: D("100.00")})
    assert [(x.seq, x.share, x.due, x.last) for x in s.values()] == [
        (1, D("100.00"), D("0.00"), True),  # fully covered: its capture closes it
        (2, D("50.00"), D("50.00"), False),
        (3, D("0.00"), D("0.00"), False),
    ]
    final = shares(inst, ShippingState(D("150.00"), final=True), {1: D("100.00")})
    assert all(x.last for x in final.values()) and final[2].due == D("50.00") and final[3].share == 0
