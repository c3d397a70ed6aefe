"""The engine end to end on SQLite and PostgreSQL with the simulated issuer (DESIGN §1)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from d400tui.acquirers.base import AcquirerUnavailable
from d400tui.domain import model as m
from d400tui.engine import EngineError, PermissionDenied
from tests.support.demo import OPER, SUPER, TEST_CARDS, card

A = ("BON0001", 1)  # 59.99 HT, 20 % → 71.99 TTC


def holds_for(issuer, order) -> list[tuple[str, str, int, int]]:  # type: ignore[no-untyped-def]
    refs = {a.acquirer_ref for a in order.authorizations if a.acquirer_ref}
    return [h for h in issuer.holds() if h[0] in refs]


def live_refs(issuer) -> set[str]:  # type: ignore[no-untyped-def]
    return set(issuer.live_holds())


@pytest.mark.parametrize("pan", sorted(TEST_CARDS))
async def test_every_test_card_gives_its_code_and_category(engine, pan: str) -> None:
    expiry, code, category = TEST_CARDS[pan]
    engine.acquirer.timeout_s = 3.0 if pan.endswith("0105") else 0.3
    if category == "NOT_ACCEPTED":
        with pytest.raises(EngineError, match="non acceptée par le prestataire") as exc:
            await engine.place_order(OPER, 100001, [A], card(pan))
        assert exc.value.field == "card"
        assert engine.acquirer.issuer.holds() == []  # refused before any call
        assert engine.list_orders() == []  # and nothing saved
        return
    result = await engine.place_order(OPER, 100001, [A], card(pan))
    answer = result.answers[0]
    assert (answer.code, answer.category.value) == (code, category)
    order = engine.get_order(result.order.id)
    assert order.status is m.OrderStatus.VALIDATED
    assert order.hold is m.PaymentHold.NONE  # never blocked automatically
    assert order.awaiting_decision is (category != "APPROVED")
    if category == "APPROVED":
        assert answer.auth_code and len(answer.auth_code) == 6


async def test_wrong_expiry_is_refused_54(engine) -> None:
    result = await engine.place_order(OPER, 100001, [A], card("4970100000000014", "11/30"))
    assert (result.failed.code, result.failed.category) == ("54", m.Category.IDENTIFICATION)


async def test_unknown_luhn_valid_card_is_refused_14(engine) -> None:
    result = await engine.place_order(OPER, 100001, [A], card("4970100000000006", "12/30"))
    assert (result.failed.code, result.failed.category) == ("14", m.Category.IDENTIFICATION)


async def test_rolling_ceiling_and_void_releasing_the_hold(engine, issuer) -> None:
    pan = "4970100000000022"  # 300 € over 30 days
    art = ("BON0001", 1)
    # 250 € approved: build it from an article at 59.99 HT → use quantity to reach ≈ 250 €.
    first = await engine.place_order(OPER, 100001, [("BON0001", 3)], card(pan))  # 215.96 €
    assert first.approved
    second = await engine.place_order(OPER, 100002, [("BON0001", 2)], card(pan))  # 143.98 € > 300 - 215.96
    assert (second.failed.code, second.failed.category) == ("61", m.Category.CEILING)
    await engine.cancel_order(OPER, first.order.id, "client rappelle : annule")
    third = await engine.place_order(OPER, 100003, [("BON0001", 2)], card(pan))
    assert third.approved, third.failed
    del art


async def test_ceiling_card_exact_issue_scenario(engine, issuer) -> None:
    """250 € approved; a second 100 € refused 61; after the first is voided, 100 € approved."""
    from d400tui.acquirers.base import PaymentSource

    c = card("4970100000000022")
    r1 = await engine.acquirer.authorize(PaymentSource(card=c), Decimal("250.00"), "k-250")
    assert r1.approved
    r2 = await engine.acquirer.authorize(PaymentSource(token=r1.token), Decimal("100.00"), "k-100")
    assert r2.code == "61"
    v = await engine.acquirer.void(r1.reference, "k-250-void")
    assert v.outcome.value == "VOIDED"
    r3 = await engine.acquirer.authorize(PaymentSource(token=r1.token), Decimal("100.00"), "k-100b")
    assert r3.approved


async def test_same_idempotency_key_never_makes_a_second_hold(engine, issuer) -> None:
    from d400tui.acquirers.base import PaymentSource

    c = card("4970100000000014")
    a = await engine.acquirer.authorize(PaymentSource(card=c), Decimal("10.00"), "same-key")
    b = await engine.acquirer.authorize(PaymentSource(card=c), Decimal("10.00"), "same-key")
    assert a.reference == b.reference and len(issuer.holds()) == 1


async def test_refused_order_is_blocked_only_when_the_operator_says_so(engine) -> None:
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000048"))
    assert r.failed.category is m.Category.BLOCKED
    assert engine.get_order(r.order.id).hold is m.PaymentHold.NONE
    await engine.decide(OPER, r.order.id, m.DecisionKind.BLOCK)
    o = engine.get_order(r.order.id)
    assert o.hold is m.PaymentHold.BLOCKED and not o.awaiting_decision
    d = o.decisions[-1]
    assert (d.kind, d.operator, d.shown_code, d.shown_category) == (m.DecisionKind.BLOCK, "OPER1", "43", "BLOCKED")


async def test_unavailable_then_release(engine) -> None:
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000071"))
    assert r.failed.category is m.Category.UNAVAILABLE
    await engine.decide(OPER, r.order.id, m.DecisionKind.RELEASE)
    assert engine.get_order(r.order.id).hold is m.PaymentHold.RELEASED


async def test_retry_asks_again_with_the_token(engine) -> None:
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000055"))
    again = await engine.decide(OPER, r.order.id, m.DecisionKind.RETRY)
    assert again.failed.code == "51"
    o = engine.get_order(r.order.id)
    assert len(o.authorizations) == 2 and o.awaiting_decision
    assert len({a.idempotency_key for a in o.authorizations}) == 2


@pytest.mark.parametrize("how", ["delete", "cancel"])
async def test_delete_and_cancel_void_in_real_time(engine, issuer, how: str) -> None:
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
    assert live_refs(issuer)
    if how == "delete":
        res = await engine.delete_order(OPER, r.order.id)
        assert engine.list_orders() == []
    else:
        res = await engine.cancel_order(OPER, r.order.id, "rupture de stock")
        assert engine.get_order(r.order.id).status is m.OrderStatus.CANCELLED
    assert [v.done for v in res.voids] == [True]
    assert live_refs(issuer) == set()
    o = engine.get_order(r.order.id)
    assert [a.state for a in o.authorizations] == [m.AuthState.VOIDED]


async def test_cancel_needs_a_reason(engine) -> None:
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
    with pytest.raises(EngineError, match="motif"):
        await engine.cancel_order(OPER, r.order.id, "   ")


async def test_void_that_fails_is_pending_and_reconciled(engine, issuer) -> None:
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
    engine.acquirer.fault_rate = 1.0
    res = await engine.cancel_order(OPER, r.order.id, "client injoignable")
    assert not res.voids[0].done and "rapprochement" in res.voids[0].message
    assert engine.get_order(r.order.id).authorizations[0].void_state is m.VoidState.PENDING
    assert live_refs(issuer)  # still held at the acquirer
    engine.acquirer.fault_rate = 0.0
    report = await engine.reconcile(SUPER)
    assert report.settled and not report.still_unknown
    assert live_refs(issuer) == set()
    assert engine.get_order(r.order.id).authorizations[0].state is m.AuthState.VOIDED


async def test_cancel_deferred_drop_and_pay_now(engine, issuer, today: date) -> None:
    soon = today + timedelta(days=3)  # within the 7-day validity: authorized at entry
    plan = m.Plan(m.PlanKind.DEFERRED, deferred_to=soon)
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"), plan=plan)
    assert r.approved and len(live_refs(issuer)) == 1
    with pytest.raises(m.DomainError, match="échéance 2 inconnue"):
        await engine.cancel_deferred(OPER, r.order.id, 2, pay_now=False)  # no such instalment
    paid = await engine.cancel_deferred(OPER, r.order.id, 1, pay_now=True)
    assert paid.approved and paid.voids[0].done
    o = engine.get_order(r.order.id)
    assert o.instalments[0].due_date == today and len(live_refs(issuer)) == 1
    # A three-instalment order: drop the last one.
    r3 = await engine.place_order(
        OPER, 100002, [("BON0001", 3)], card("5130100000000018"), plan=m.Plan(m.PlanKind.INSTALMENTS, count=3)
    )
    total = r3.order.total
    dropped = await engine.cancel_deferred(OPER, r3.order.id, 3, pay_now=False)
    o3 = engine.get_order(r3.order.id)
    assert o3.instalments[2].state is m.InstalmentState.CANCELLED
    assert o3.total == total - o3.instalments[2].amount
    assert dropped.voids == []  # due next quarter: only verified at entry, nothing held
    with pytest.raises(EngineError, match="immédiat"):
        await engine.cancel_deferred(OPER, r3.order.id, 1, pay_now=False)


async def test_dropping_the_only_deferred_instalment_cancels_the_order(engine, issuer, today: date) -> None:
    plan = m.Plan(m.PlanKind.DEFERRED, deferred_to=today + timedelta(days=2))
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"), plan=plan)
    res = await engine.cancel_deferred(OPER, r.order.id, 1, pay_now=False)
    assert res.voids[0].done and live_refs(issuer) == set()
    assert engine.get_order(r.order.id).status is m.OrderStatus.CANCELLED


async def test_change_payment_method_voids_old_and_authorizes_new(engine, issuer) -> None:
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
    old_ref = r.order.id and engine.get_order(r.order.id).authorizations[0].acquirer_ref
    res = await engine.change_payment_method(OPER, r.order.id, m.PaymentMethod.CARD, card("5130100000000018"))
    assert res.approved and res.voids[0].done
    assert old_ref not in live_refs(issuer) and len(live_refs(issuer)) == 1
    o = engine.get_order(r.order.id)
    assert o.card.last4 == "0018"
    res2 = await engine.change_payment_method(OPER, r.order.id, m.PaymentMethod.CHEQUE)
    assert res2.voids[0].done and live_refs(issuer) == set()
    o = engine.get_order(r.order.id)
    assert o.payment_method is m.PaymentMethod.CHEQUE and o.card is None and o.card_token is None


async def test_change_to_an_amex_is_refused_before_any_call(engine, issuer) -> None:
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
    with pytest.raises(EngineError, match="non acceptée"):
        await engine.change_payment_method(OPER, r.order.id, m.PaymentMethod.CARD, card("374010000000015"))
    assert len(live_refs(issuer)) == 1  # the old authorization is untouched


async def test_timeout_card_is_unknown_then_reconciled_to_exactly_one_hold(engine, issuer) -> None:
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000089"))
    assert r.answers[0].state is m.AuthState.UNKNOWN
    assert r.answers[0].category is m.Category.UNAVAILABLE
    # Until it is settled, nothing new starts on that instalment, and the operator is told why.
    with pytest.raises(m.DomainError, match="rapprochement"):
        await engine.decide(OPER, r.order.id, m.DecisionKind.RETRY)
    report = await engine.reconcile(SUPER)
    assert report.settled
    o = engine.get_order(r.order.id)
    approved = [a for a in o.authorizations if a.state is m.AuthState.APPROVED]
    assert len(approved) == 1
    assert len(holds_for(issuer, o)) == 1 and len(issuer.hold_keys()) == 1
    again = await engine.reconcile(SUPER)
    assert again.settled == [] and len(issuer.holds()) == 1


async def test_unknown_on_a_cancelled_order_is_voided_by_the_reconciler(engine, issuer) -> None:
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000089"))
    await engine.cancel_order(OPER, r.order.id, "client raccroche")
    assert len(issuer.live_holds()) == 1
    await engine.reconcile(SUPER)
    assert issuer.live_holds() == {}


async def test_a_reconciled_hold_whose_void_answer_is_lost_is_not_reported_settled(engine, issuer) -> None:
    """The crash harness under load: the reconciler learnt an UNKNOWN row was approved, voided it
    (the order is cancelled), the issuer voided it, and the answer was lost to a time-out. The row
    stays void PENDING (right) — and the run must say it is still to do, not settled; the next
    run finishes it."""
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000089"))
    await engine.cancel_order(OPER, r.order.id, "client raccroche")
    inner = engine.acquirer.void

    async def lost(ref, key):  # type: ignore[no-untyped-def]
        await inner(ref, key)  # done at the issuer …
        raise AcquirerUnavailable("no answer within 0.5 s")  # … its answer never arrives

    engine.acquirer.void = lost
    report = await engine.reconcile(SUPER)
    assert report.settled == [] and len(report.still_unknown) == 1, report.lines
    [auth] = engine.get_order(r.order.id).authorizations
    assert (auth.state, auth.void_state) == (m.AuthState.APPROVED, m.VoidState.PENDING)
    assert issuer.live_holds() == {}
    engine.acquirer.void = inner
    report = await engine.reconcile(SUPER)
    assert report.still_unknown == [] and len(report.settled) == 1, report.lines
    [auth] = engine.get_order(r.order.id).authorizations
    assert (auth.state, auth.void_state) == (m.AuthState.VOIDED, m.VoidState.DONE)


async def test_other_channels_and_methods_are_not_authorized(engine, issuer) -> None:
    mail = await engine.place_order(
        OPER, 100001, [A], None, channel=m.Channel.MAIL, payment_method=m.PaymentMethod.CHEQUE
    )
    assert mail.answers == [] and "MAIL" in mail.note
    cheque = await engine.place_order(OPER, 100001, [A], None, payment_method=m.PaymentMethod.CHEQUE)
    assert cheque.answers == [] and cheque.order.status is m.OrderStatus.VALIDATED
    web_card = engine.create_order(OPER, 100001, [A], channel=m.Channel.WEB)
    res = await engine.validate_order(OPER, web_card.id, card("4970100000000014"))
    assert res.answers == [] and "hors autorisation" in res.note
    assert issuer.holds() == []
    with pytest.raises(m.DomainError, match="canal"):
        await engine.cancel_deferred(OPER, web_card.id, 1, pay_now=True)


async def test_unknown_article_and_customer_are_clear_errors(engine) -> None:
    with pytest.raises(EngineError, match="article ZZZ inconnu"):
        engine.create_order(OPER, 100001, [("zzz", 1)])
    with pytest.raises(EngineError, match="client 999 inconnu"):
        engine.create_order(OPER, 999, [A])
    assert engine.list_orders() == []


async def test_supervisor_only_operations_refused_for_operators(engine) -> None:
    with pytest.raises(PermissionDenied):
        await engine.precheck(OPER)
    with pytest.raises(PermissionDenied):
        await engine.capture(OPER)
    with pytest.raises(PermissionDenied):
        await engine.capture_one(OPER, 1, 1)


async def test_request_that_never_arrived_is_settled_and_reversed(engine, issuer) -> None:
    """The connection dropped before the issuer saw the request: UNKNOWN, then the reconciler
    finds nothing under the key, sends the reversal an ISO network expects, and voids the row."""
    from d400tui.acquirers.base import AcquirerUnavailable

    real = engine.acquirer
    reversed_keys: list[str] = []

    class Dropping:
        name, brands, capabilities = real.name, real.brands, real.capabilities
        inner = None

        async def authorize(self, source, amount, key):  # type: ignore[no-untyped-def]
            raise AcquirerUnavailable("connection reset before sending")

        async def reverse(self, original_key, key):  # type: ignore[no-untyped-def]
            reversed_keys.append(original_key)

        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return getattr(real, name)

    engine.acquirer = Dropping()
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
    assert r.answers[0].state is m.AuthState.UNKNOWN
    engine.acquirer = Dropping()
    report = await engine.reconcile(SUPER)
    assert "jamais parvenue" in report.settled[0]
    o = engine.get_order(r.order.id)
    assert o.authorizations[0].state is m.AuthState.VOIDED
    assert reversed_keys == [o.authorizations[0].idempotency_key]
    assert issuer.holds() == []
    engine.acquirer = real
    retry = await engine.decide(OPER, r.order.id, m.DecisionKind.RETRY, card("4970100000000014"))
    assert retry.approved  # the instalment is free again once settled


@pytest.mark.parametrize("how", ["cancel", "delete", "cheque", "drop"])
async def test_killed_between_a_change_and_its_voids_leaves_work_for_the_reconciler(
    engine, issuer, how: str, today: date
) -> None:
    """The change commits the need to void with it: a process killed before the void call loses nothing."""
    plan = m.Plan(m.PlanKind.DEFERRED, deferred_to=today + timedelta(days=2)) if how == "drop" else None
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"), plan=plan)
    assert len(issuer.live_holds()) == 1

    async def killed(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt  # the process dies right after the commit

    engine.void_all = killed
    with pytest.raises(KeyboardInterrupt):
        if how == "cancel":
            await engine.cancel_order(OPER, r.order.id, "client rappelle")
        elif how == "delete":
            await engine.delete_order(OPER, r.order.id)
        elif how == "cheque":
            await engine.change_payment_method(OPER, r.order.id, m.PaymentMethod.CHEQUE)
        else:
            await engine.cancel_deferred(OPER, r.order.id, 1, pay_now=False)
    del engine.void_all
    await engine.reconcile(SUPER)
    assert issuer.live_holds() == {}


async def test_reconciler_sweeps_holds_nobody_needs(engine, issuer) -> None:
    from sqlalchemy import update

    from d400tui.store import tables as t

    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
    with engine.db.engine.begin() as conn:  # as an older version or a manual fix would leave it
        conn.execute(update(t.orders).where(t.orders.c.id == r.order.id).values(status="CANCELLED"))
    await engine.reconcile(SUPER)
    assert issuer.live_holds() == {}


async def test_amounts_and_ids_out_of_range_are_refused_before_the_database(engine) -> None:  # type: ignore[no-untyped-def]
    """Issue 9 point 10. Before: a total past what money takes raised MoneyError (a ValueError, shown
    as 'unexpected error') from the flush, and a 20-digit id an OverflowError or a DataError."""
    from d400tui.engine import NotFound

    with engine.db.uow() as uow:
        uow.session.add(m.Article("LUXE001", "Montre", Decimal("9999.99"), Decimal("20.00")))
        uow.commit()
    draft = engine.create_order(OPER, 100001, [A])
    for lines in ([("LUXE001", 9999)], [("LUXE001", 834)] * 2):  # 119 M€, then two lines of 10 M€ together
        with pytest.raises(EngineError, match="trop élevé") as info:
            await engine.place_order(OPER, 100001, lines, card("4970100000000014"))
        assert info.value.field == "article"
        with pytest.raises(EngineError, match="trop élevé"):
            await engine.modify_lines(OPER, draft.id, lines)
    assert engine.get_order(draft.id).total == Decimal("71.99")  # unchanged
    assert (await engine.place_order(OPER, 100001, [("LUXE001", 833)], card("4970100000000014"))).order.total
    for big in (10**20, 2**31, -1, 0):
        with pytest.raises(NotFound):
            engine.get_order(big)
        with pytest.raises(NotFound):
            await engine.cancel_order(OPER, big, "x")
        with pytest.raises(NotFound):
            engine.get_customer(big)
        with pytest.raises(NotFound):
            engine.create_order(OPER, big, [A])
