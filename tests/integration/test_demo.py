"""Demo orders hold amounts on cards of their own: after `d400 db demo` and a pre-check, the README's
test cards behave exactly as the README's table says (…0014 approves up to 5000 €/30 days, …0022
within 300 € then 61)."""

from __future__ import annotations

from datetime import date

import pytest

from d400tui.data import data_path
from d400tui.engine.demo import DEMO_CARDS, demo_tokens, generate_orders
from tests.support.demo import OPER, SUPER, card

README_CARDS = {
    "4970100000000014",
    "4970100000000022",
    "4970100000000030",
    "4970100000000048",
    "4970100000000055",
    "4970100000000063",
    "4970100000000071",
    "4970100000000089",
    "4970100000000097",
    "4970100000000105",
    "5130100000000018",
}


def test_demo_cards_are_none_of_the_readme_cards() -> None:
    assert not {pan for pan, _ in DEMO_CARDS} & README_CARDS
    shipped = data_path("test_cards.csv").read_text(encoding="utf-8")
    for pan, _ in DEMO_CARDS:
        assert pan in shipped  # the simulated issuer knows them (else the demo would have no card orders)


async def test_readme_cards_after_demo_and_precheck(engine, today: date) -> None:  # type: ignore[no-untyped-def]
    cards = await demo_tokens(engine.acquirer)
    assert len(cards) == 2
    generate_orders(engine.db, 300, cards, today)
    run = await engine.precheck(SUPER, today, concurrency=8)
    assert run.approved > 50 and run.refused == 0  # the demo's own cards hold all of that

    # …0014: "approves (ceiling 5000 €/30 days)" — 24 × 199,00 € HT at 5,5 % = 5 038,68 €: over;
    # 23 × 199,00 € = 4 828,74 €: approved, which consumed demo holds would have refused with 61
    big = await engine.place_order(OPER, 100001, [("BON0075", 23)], card("4970100000000014"))
    assert big.failed is None, big.failed
    assert big.order.authorizations[-1].response_code == "00"

    # …0022: "approves within 300 €/30 days, else 61"
    small = await engine.place_order(OPER, 100002, [("BON0001", 4)], card("4970100000000022"))  # 287,95 €
    assert small.failed is None, small.failed
    over = await engine.place_order(OPER, 100002, [("BON0034", 1)], card("4970100000000022"))  # 18 € more
    assert over.failed is not None and over.failed.code == "61"


def test_a_failed_bulk_write_stops_the_load_in_the_callers_thread(engine) -> None:  # type: ignore[no-untyped-def]
    """The chunks are written by a thread of their own: its failure is raised to the caller (at
    its next chunk or at the end), never lost with the thread."""
    from d400tui.store.demo_load import BulkOrders

    bulk = BulkOrders(engine.db)
    bulk.insert([], [(999_999_999, 1, "BON0001", "x", 1, 100, 2000)], [])  # a line of no order
    with pytest.raises(Exception, match="(?i)foreign key"):
        bulk.finish()
    with pytest.raises(Exception, match="(?i)foreign key"):
        bulk.insert([], [], [])  # and nothing more is taken
