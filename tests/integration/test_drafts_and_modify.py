from __future__ import annotations

from decimal import Decimal

import pytest

from d400tui.domain import model as m
from d400tui.engine import EngineError
from tests.support.demo import OPER, SUPER, card


def test_draft_saved_per_operator_and_never_holds_a_card_number(engine) -> None:  # type: ignore[no-untyped-def]
    assert engine.load_draft(OPER) is None
    engine.save_draft(OPER, {"customer": "100001", "lines": [["BON0001", "2"]], "note": "carte 4970100000000014"})
    engine.save_draft(OPER, {"customer": "100002", "lines": [], "note": "rappeler"})  # upsert
    saved_at, content = engine.load_draft(OPER)
    assert content["customer"] == "100002" and engine.load_draft(SUPER) is None
    engine.save_draft(SUPER, {"note": "4970 1000 0000 0014"})
    assert "4970 1000 0000 0014" not in str(engine.load_draft(SUPER)[1])
    with pytest.raises(EngineError, match="volumineux"):
        engine.save_draft(OPER, {"note": "x" * 70_000})
    engine.discard_draft(OPER)
    assert engine.load_draft(OPER) is None


async def test_modify_lines_of_a_validated_card_order_reauthorizes(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    r = await engine.place_order(OPER, 100001, [("BON0001", 1)], card("4970100000000014"))
    before = set(issuer.live_holds())
    res = await engine.modify_lines(OPER, r.order.id, [("BON0001", 2), ("GRI0002", 1)])
    assert res.approved and res.voids[0].done
    o = engine.get_order(r.order.id)
    assert o.total == Decimal("203.92") and o.instalments[0].amount == o.total
    live = issuer.live_holds()
    assert not (before & set(live)) and list(live.values()) == [20392]


async def test_modify_lines_of_a_draft_and_bad_input(engine) -> None:  # type: ignore[no-untyped-def]
    d = engine.create_order(OPER, 100001, [("BON0001", 1)], plan=m.Plan(m.PlanKind.INSTALMENTS, count=3))
    res = await engine.modify_lines(OPER, d.id, [("BON0001", 3)])
    o = res.order
    assert o.total == Decimal("215.96") and sum(i.amount for i in o.instalments) == o.total
    with pytest.raises(EngineError, match="inconnu"):
        await engine.modify_lines(OPER, d.id, [("NOPE", 1)])
    with pytest.raises(EngineError, match="au moins"):
        await engine.modify_lines(OPER, d.id, [])
    assert engine.get_order(d.id).total == Decimal("215.96")  # unchanged by the refused requests
