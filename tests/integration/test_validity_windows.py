"""The validity model wired in (SQLite and PostgreSQL): an authorization's `expires_at` and its
instalment's `authorized_until` come from the acquirer, brand, initiator and type; the pre-check
asks merchant-initiated and re-authorizes by the merchant-initiated window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from d400tui.domain import model as m
from d400tui.domain.validity import AuthType, Initiator
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)
VISA, MC = "4970100000000014", "5130100000000018"


@pytest.fixture
def tuned(settings) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """An engine on the same database with some settings changed."""
    from d400tui.engine import open_engine

    made: list[Any] = []

    def make(**changes: Any) -> Any:
        e = open_engine(settings.model_copy(update=changes))
        made.append(e)
        return e

    yield make
    for e in made:
        e.acquirer.issuer.close()
        e.db.dispose()


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)


async def test_a_phone_authorization_holds_the_customer_initiated_window(engine, today: date) -> None:
    visa = (await engine.place_order(OPER, 100001, [A], card(VISA))).order
    a = visa.authorizations[0]
    assert (a.initiator, a.auth_type, a.state) == (Initiator.CIT, AuthType.FINAL, m.AuthState.APPROVED)
    assert a.expires_at - a.requested_at == timedelta(days=7)
    assert visa.instalments[0].authorized_until == a.expires_at
    again = engine.get_order(visa.id).authorizations[0]  # as stored
    assert (again.initiator, again.auth_type, again.expires_at) == (Initiator.CIT, AuthType.FINAL, a.expires_at)


async def test_the_precheck_asks_merchant_initiated_and_reauthorizes_by_that_window(engine, issuer, today) -> None:
    due = today + timedelta(days=20)  # beyond the 7-day window: only verified at entry
    oid = (await engine.place_order(OPER, 100001, [A], card(VISA), plan=m.Plan(m.PlanKind.DEFERRED, due))).order.id
    engine.clock = lambda: at(due)
    run = await engine.precheck(SUPER, due)
    assert run.approved == 1
    o = engine.get_order(oid)
    mit = next(a for a in o.authorizations if a.kind is m.AuthKind.AUTHORIZE)
    assert (mit.initiator, mit.auth_type) == (Initiator.MIT, AuthType.FINAL)
    assert mit.expires_at == at(due) + timedelta(days=5)  # Visa: a merchant-initiated hold lasts 5 days
    assert o.instalments[0].authorized_until == mit.expires_at
    # still valid through day +4, at its limit on day +5: the pre-check of that day re-authorizes
    engine.clock = lambda: at(due + timedelta(days=4))
    assert engine.precheck_selection(due + timedelta(days=4)) == []
    engine.clock = lambda: at(due + timedelta(days=5))
    assert engine.precheck_selection(due + timedelta(days=5)) == [(oid, 1)]
    assert (await engine.precheck(SUPER, due + timedelta(days=5))).approved == 1
    states = [(a.state, a.initiator) for a in engine.get_order(oid).authorizations if a.kind is m.AuthKind.AUTHORIZE]
    assert states == [(m.AuthState.VOIDED, Initiator.MIT), (m.AuthState.APPROVED, Initiator.MIT)]
    assert len(issuer.live_holds()) == 1


async def test_an_acquirer_override_in_the_settings_changes_the_window_and_the_plan(tuned, today) -> None:
    engine = tuned(validity_windows={"simulator": {"VISA:CIT:FINAL": "3d"}})
    soon = today + timedelta(days=5)  # within the default 7 days, beyond the 3 of the override
    o = (await engine.place_order(OPER, 100001, [A], card(VISA), plan=m.Plan(m.PlanKind.DEFERRED, soon))).order
    assert [a.kind for a in o.authorizations] == [m.AuthKind.VERIFY]  # not authorized at entry
    now = (await engine.place_order(OPER, 100001, [A], card(VISA))).order.authorizations[0]
    assert now.expires_at - now.requested_at == timedelta(days=3)
    mc = (await engine.place_order(OPER, 100001, [A], card(MC))).order.authorizations[0]
    assert mc.expires_at - mc.requested_at == timedelta(days=7)  # another brand keeps the table's figure


async def test_an_order_of_several_lines_is_a_pre_authorization_where_the_settings_say(tuned, today) -> None:
    engine = tuned(preauthorization_brands=["MASTERCARD"])
    two = (await engine.place_order(OPER, 100001, [A, ("GRI0002", 1)], card(MC))).order.authorizations[0]
    assert (two.auth_type, two.expires_at - two.requested_at) == (AuthType.PRE, timedelta(days=30))
    one = (await engine.place_order(OPER, 100001, [A], card(MC))).order.authorizations[0]
    assert (one.auth_type, one.expires_at - one.requested_at) == (AuthType.FINAL, timedelta(days=7))
    visa = (await engine.place_order(OPER, 100001, [A, ("GRI0002", 1)], card(VISA))).order.authorizations[0]
    assert visa.auth_type is AuthType.FINAL  # a brand the settings do not name


async def test_a_late_answer_settled_by_the_reconciler_keeps_the_merchant_initiated_window(engine, issuer, today):
    due = today + timedelta(days=20)
    oid = (await engine.place_order(OPER, 100001, [A], card(VISA), plan=m.Plan(m.PlanKind.DEFERRED, due))).order.id
    engine.clock = lambda: at(due)
    engine.acquirer.lost_answer_rate = 1.0  # the issuer approves, the answer is lost
    run = await engine.precheck(SUPER, due)
    assert run.unavailable == 1
    engine.acquirer.lost_answer_rate = 0.0
    await engine.reconcile(SUPER)
    mit = next(a for a in engine.get_order(oid).authorizations if a.kind is m.AuthKind.AUTHORIZE)
    assert (mit.state, mit.initiator) == (m.AuthState.APPROVED, Initiator.MIT)
    assert mit.expires_at == mit.requested_at + timedelta(days=5)
