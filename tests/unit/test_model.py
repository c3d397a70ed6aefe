from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from d400tui.domain import model as m
from d400tui.domain.cards import Brand, MaskedCard
from d400tui.domain.money import MoneyError, from_cents, money, split, to_cents

TODAY = date(2026, 11, 26)


def test_money_is_decimal_rounded_half_up() -> None:
    assert money("10,005") == Decimal("10.01")
    assert money(3) == Decimal("3.00")
    with pytest.raises(MoneyError):
        money(1.5)  # type: ignore[arg-type]
    for bad in ("abc", "NaN", "Infinity", "1e30", "😀"):
        with pytest.raises(MoneyError):
            money(bad)


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2), st.integers(1, 12))
def test_split_adds_up_exactly(total: Decimal, parts: int) -> None:
    amounts = split(total, parts)
    assert sum(amounts) == total and len(amounts) == parts
    assert max(amounts) - min(amounts) <= Decimal("0.01") * parts


@given(st.integers(-(10**9), 10**9))
def test_cents_round_trip(c: int) -> None:
    if abs(c) <= 999999999:
        assert to_cents(from_cents(c)) == c


def test_lines_and_totals() -> None:
    ln = m.OrderLine("A", "x", 3, Decimal("19.99"), Decimal("20.00"))
    assert ln.net == Decimal("59.97") and ln.vat == Decimal("11.99") and ln.gross == Decimal("71.96")
    for q in (0, -1, 10000):
        with pytest.raises(m.DomainError):
            m.OrderLine("A", "x", q, Decimal("1"), Decimal("20"))


def test_plans() -> None:
    assert m.Plan.parse("", TODAY).kind is m.PlanKind.IMMEDIATE
    d = m.Plan.parse("deferred:2027-01-15", TODAY)
    assert d.schedule(Decimal("100.00"), TODAY)[0].due_date == date(2027, 1, 15)
    n = m.Plan.parse("instalments:3", TODAY).schedule(Decimal("100.00"), date(2026, 1, 31))
    assert [i.due_date for i in n] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]
    assert [i.amount for i in n] == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    for bad in ("deferred:2020-01-01", "deferred:xx", "instalments:1", "instalments:99", "weekly", "d:" + "9" * 999):
        with pytest.raises(m.DomainError):
            m.Plan.parse(bad, TODAY)


@given(st.text(max_size=50))
def test_plan_parser_never_crashes(text: str) -> None:
    try:
        m.Plan.parse(text, TODAY)
    except m.DomainError as exc:
        assert str(exc)


def _auth() -> m.Authorization:
    return m.Authorization(
        1,
        1,
        m.AuthKind.AUTHORIZE,
        Decimal("50.00"),
        "k",
        "simulator",
        MaskedCard(Brand.VISA, "497010", "0014", "12/30"),
    )


def test_authorization_lifecycle_refuses_illegal_moves() -> None:
    a = _auth()
    a.move(m.AuthState.APPROVED)
    a.move(m.AuthState.CAPTURED)
    with pytest.raises(m.IllegalTransition):
        a.move(m.AuthState.VOIDED)  # no void after capture
    b = _auth()
    b.move(m.AuthState.DECLINED)
    with pytest.raises(m.IllegalTransition):
        b.move(m.AuthState.APPROVED)
    c = _auth()
    c.move(m.AuthState.UNKNOWN)
    c.move(m.AuthState.APPROVED)  # the reconciler settled it


@given(st.lists(st.sampled_from(list(m.AuthState)), max_size=8))
def test_any_sequence_of_moves_stays_in_the_lifecycle(moves: list[m.AuthState]) -> None:
    a = _auth()
    for target in moves:
        before = a.state
        try:
            a.move(target)
        except m.IllegalTransition:
            assert a.state is before
        else:
            assert target in m._TRANSITIONS[before]


def test_capture_never_above_authorized_and_never_expired() -> None:
    a = _auth()
    a.move(m.AuthState.APPROVED)
    now = datetime(2026, 11, 26, 12)
    a.expires_at = now + timedelta(days=7)
    a.check_capture(Decimal("50.00"), now)
    a.check_capture(Decimal("20.00"), now)
    with pytest.raises(m.DomainError, match="supérieure"):
        a.check_capture(Decimal("50.01"), now)
    with pytest.raises(m.DomainError, match="expirée"):
        a.check_capture(Decimal("10.00"), now + timedelta(days=8))


def test_order_cancel_needs_reason_and_closes_instalments() -> None:
    o = m.Order(1, m.Channel.PHONE, m.PaymentMethod.CARD, "OPER1", datetime.now(), TODAY)
    o.lines.append(m.OrderLine("A", "x", 1, Decimal("10"), Decimal("20")))
    o.instalments = m.Plan().schedule(Decimal("12.00"), TODAY)
    with pytest.raises(m.DomainError):
        o.cancel("  ")
    o.cancel("client a changé d'avis")
    assert o.status is m.OrderStatus.CANCELLED
    assert all(i.state is m.InstalmentState.CANCELLED for i in o.instalments)
    with pytest.raises(m.DomainError):
        o.cancel("encore")
