"""The never-retry rule follows the card, not the order (issue 13.1, issuer branch), on SQLite and
PostgreSQL: a card refused 41/43/57 is not presented again as a new order's card, by M (modify
payment) or by R/S on another order that carries it, within the scheme's window (30 days). The
card is its stored identity (first 6, last 4, expiry), as the retry counter knows it."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import update

from d400tui.domain import model as m
from d400tui.engine import EngineError
from d400tui.i18n.render import tx
from d400tui.store import tables as t
from tests.support.demo import OPER, card

A = ("BON0001", 1)
LOST, STOLEN, NOT_ALLOWED, FUNDS, GOOD = (
    "4970100000000030",
    "4970100000000048",
    "4970100000000097",
    "4970100000000055",
    "4970100000000014",
)


def orders(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.db.engine.connect() as conn:
        return len(conn.execute(t.orders.select()).all())


@pytest.mark.parametrize(("pan", "code"), [(LOST, "41"), (STOLEN, "43"), (NOT_ALLOWED, "57")])
async def test_a_new_order_with_a_card_refused_never_retry_is_refused(engine, issuer, pan: str, code: str) -> None:
    first = await engine.place_order(OPER, 100001, [A], card(pan))
    assert first.failed is not None and first.failed.code == code
    before, calls = orders(engine), len(issuer.holds())
    with pytest.raises(EngineError) as exc:
        await engine.place_order(OPER, 100002, [A], card(pan))
    assert exc.value.key == "engine.card_never_retry" and exc.value.params["code"] == code
    assert exc.value.field == "card"
    assert f"code {code}, qui interdit de la représenter" in tx(exc.value)
    assert orders(engine) == before  # nothing saved, nothing asked
    assert len(issuer.holds()) == calls
    draft = engine.create_order(OPER, 100002, [A])
    with pytest.raises(EngineError) as exc:  # validating a draft with it: the same
        await engine.validate_order(OPER, draft.id, card(pan))
    assert exc.value.key == "engine.card_never_retry"
    assert engine.get_order(draft.id).status is m.OrderStatus.DRAFT


async def test_m_to_a_card_refused_never_retry_keeps_the_old_payment(engine, issuer) -> None:
    await engine.place_order(OPER, 100001, [A], card(LOST))
    good = await engine.place_order(OPER, 100002, [A], card(GOOD))
    assert good.approved
    with pytest.raises(EngineError) as exc:
        await engine.change_payment_method(OPER, good.order.id, m.PaymentMethod.CARD, card(LOST))
    assert exc.value.key == "engine.card_never_retry"
    order = engine.get_order(good.order.id)
    assert order.card is not None and order.card.last4 == GOOD[-4:]
    (auth,) = order.authorizations
    assert auth.state is m.AuthState.APPROVED and auth.void_state is m.VoidState.NONE  # the hold is kept
    assert len(issuer.live_holds()) == 1


async def test_r_on_another_order_carrying_the_card_is_refused_typed_or_not(engine, issuer) -> None:
    h = issuer.card_hash(FUNDS)
    rule = issuer.cards[h]
    waiting = await engine.place_order(OPER, 100001, [A], card(FUNDS))
    assert waiting.failed is not None and waiting.failed.code == "51"  # retry later: R allowed
    assert engine.retry_refusal(waiting.order.id) is None
    issuer.cards[h] = dataclasses.replace(rule, code="43")  # reported stolen meanwhile
    stolen = await engine.place_order(OPER, 100002, [A], card(FUNDS))
    assert stolen.failed is not None and stolen.failed.code == "43"
    issuer.cards[h] = rule
    assert engine.retry_refusal(waiting.order.id).key == "engine.card_never_retry"
    for kind, typed in ((m.DecisionKind.RETRY, None), (m.DecisionKind.RETRY, card(FUNDS))):
        with pytest.raises(EngineError) as exc:
            await engine.decide(OPER, waiting.order.id, kind, typed)
        assert exc.value.key == "engine.card_never_retry"
    assert [d.kind for d in engine.get_order(waiting.order.id).decisions] == []


async def test_outside_the_window_or_with_another_expiry_it_is_another_attempt(engine) -> None:
    refused = await engine.place_order(OPER, 100001, [A], card(LOST))
    with engine.db.engine.begin() as conn:  # the decline is 31 days old: past Visa's 30-day window
        a = t.authorizations
        conn.execute(
            update(a).where(a.c.order_id == refused.order.id).values(answered_at=a.c.answered_at - timedelta(days=31))
        )
    again = await engine.place_order(OPER, 100002, [A], card(LOST))
    assert again.failed is not None and again.failed.code == "41"  # asked: the issuer says it again
    other = await engine.place_order(OPER, 100003, [A], card(LOST, "11/30"))  # another expiry: not that card
    assert other.failed is not None and other.failed.code == "54"
