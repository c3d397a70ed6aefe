"""Fuzzing (issue 5, point 7): a hypothesis state machine drives the engine with random operations
against the in-process simulator (faults on and off) and checks the crash-harness invariants after
every step; arbitrary text in CLI arguments ends in one clear line, exit 2, nothing saved."""

from __future__ import annotations

import asyncio
import contextlib
import io
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import func, select

from bench.invariants import check_invariants
from d400tui.config import Settings
from d400tui.domain import model as m
from d400tui.domain.cards import CardData, parse_expiry
from d400tui.engine import USER_ERRORS
from d400tui.store import tables as t
from tests.support.demo import OPER, SUPER, TEST_CARDS

_TEMPLATE: dict[str, Path] = {}


def _template_db() -> Path:
    """Migrate and seed once; every example starts from a copy."""
    if "db" not in _TEMPLATE:
        from d400tui.engine.bootstrap import open_database

        d = Path(tempfile.mkdtemp(prefix="d400-fuzz-template-"))
        open_database(Settings(db_url=f"sqlite:///{d}/d400.db")).dispose()
        _TEMPLATE["db"] = d / "d400.db"
    return _TEMPLATE["db"]


PLANS = st.sampled_from(["immediate", "instalments:2", "instalments:3", "deferred:3", "deferred:20"])


class EngineMachine(RuleBasedStateMachine):
    """Random sequences of the operator's and supervisor's operations on a handful of orders."""

    def __init__(self) -> None:
        super().__init__()
        from d400tui.engine import open_engine

        self.dir = Path(tempfile.mkdtemp(prefix="d400-fuzz-"))
        shutil.copy(_template_db(), self.dir / "d400.db")
        s = Settings(
            db_url=f"sqlite:///{self.dir}/d400.db",
            simulator_db=self.dir / "issuer.db",
            acquirer="simulator",
            acquirer_timeout=0.05,
        )
        self.loop = asyncio.new_event_loop()
        self.engine = open_engine(s)
        self.engine.acquirer.timeout_s = 0.05  # the "never answers" and "2 s" cards time out at once
        self.issuer = self.engine.acquirer.issuer
        self.orders: list[int] = []

    def run(self, coro) -> object:  # type: ignore[no-untyped-def]
        try:
            return self.loop.run_until_complete(coro)
        except USER_ERRORS:
            return None  # a refusal is an answer; only invariants matter here

    def teardown(self) -> None:
        self.issuer.close()
        self.engine.db.dispose()
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @initialize()
    def start(self) -> None:
        pass

    @rule(pan=st.sampled_from(sorted(TEST_CARDS)), plan=PLANS, qty=st.integers(1, 5))
    def place(self, pan: str, plan: str, qty: int) -> None:
        today = self.engine.today()
        if plan.startswith("deferred:"):
            p = m.Plan(m.PlanKind.DEFERRED, deferred_to=today + timedelta(days=int(plan.split(":")[1])))
        else:
            p = m.Plan.parse(plan, today)
        r = self.run(
            self.engine.place_order(
                OPER, 100001, [("BON0001", qty)], CardData(pan, parse_expiry(TEST_CARDS[pan][0])), plan=p
            )
        )
        if r is not None:
            self.orders.append(r.order.id)  # type: ignore[attr-defined]

    @precondition(lambda self: self.orders)
    @rule(i=st.integers(0, 99), kind=st.sampled_from(list(m.DecisionKind)))
    def decide(self, i: int, kind: m.DecisionKind) -> None:
        if kind is not m.DecisionKind.CHANGE_METHOD:
            self.run(self.engine.decide(OPER, self.orders[i % len(self.orders)], kind))

    @precondition(lambda self: self.orders)
    @rule(i=st.integers(0, 99), delete=st.booleans())
    def close(self, i: int, delete: bool) -> None:
        oid = self.orders[i % len(self.orders)]
        self.run(self.engine.delete_order(OPER, oid) if delete else self.engine.cancel_order(OPER, oid, "fuzz"))

    @precondition(lambda self: self.orders)
    @rule(i=st.integers(0, 99), seq=st.integers(1, 3), pay_now=st.booleans())
    def cancel_deferred(self, i: int, seq: int, pay_now: bool) -> None:
        self.run(self.engine.cancel_deferred(OPER, self.orders[i % len(self.orders)], seq, pay_now))

    @precondition(lambda self: self.orders)
    @rule(i=st.integers(0, 99), pan=st.sampled_from([None, *sorted(TEST_CARDS)]))
    def change_payment(self, i: int, pan: str | None) -> None:
        oid = self.orders[i % len(self.orders)]
        if pan is None:
            self.run(self.engine.change_payment_method(OPER, oid, m.PaymentMethod.CHEQUE))
        else:
            c = CardData(pan, parse_expiry(TEST_CARDS[pan][0]))
            self.run(self.engine.change_payment_method(OPER, oid, m.PaymentMethod.CARD, c))

    @rule(days=st.sampled_from([0, 5, 25]))
    def precheck(self, days: int) -> None:
        self.run(self.engine.precheck(SUPER, self.engine.today() + timedelta(days=days), concurrency=2))

    @rule(days=st.sampled_from([0, 4]))
    def capture(self, days: int) -> None:
        self.run(self.engine.capture(SUPER, self.engine.today() + timedelta(days=days), concurrency=2))

    @rule(fault=st.sampled_from([0.0, 0.0, 0.3, 1.0]), lost=st.sampled_from([0.0, 0.0, 0.3]))
    def faults(self, fault: float, lost: float) -> None:
        self.engine.acquirer.fault_rate = fault
        self.engine.acquirer.lost_answer_rate = lost

    @rule()
    def settle(self) -> None:
        """Faults off, reconcile: nothing may be left in flight."""
        self.engine.acquirer.fault_rate = self.engine.acquirer.lost_answer_rate = 0.0
        self.run(self.engine.reconcile(SUPER))
        assert [str(v) for v in check_invariants(self.engine.db, self.issuer, settled=True)] == []

    @invariant()
    def no_inconsistency(self) -> None:
        assert [str(v) for v in check_invariants(self.engine.db, self.issuer, settled=False)] == []


EngineMachine.TestCase.settings = settings(
    max_examples=12, stateful_step_count=15, deadline=None, suppress_health_check=list(HealthCheck)
)
test_engine_state_machine = EngineMachine.TestCase


# -- CLI arguments -----------------------------------------------------------------------------------
def _counts(url: str) -> tuple[int, ...]:
    from d400tui.store.db import Database

    db = Database(url)
    try:
        with db.engine.connect() as conn:
            return tuple(
                conn.execute(select(func.count()).select_from(tb)).scalar() or 0
                for tb in (t.orders, t.instalments, t.authorizations, t.decisions)
            )
    finally:
        db.dispose()


def _cli_in_process(args: list[str], stdin: str) -> tuple[int, str]:
    from d400tui import cli

    err = io.StringIO()
    old = sys.argv, sys.stdin
    sys.argv, sys.stdin = ["d400", *args], io.StringIO(stdin)
    code = 0
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv, sys.stdin = old
    return code, err.getvalue()


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@pytest.fixture
def cli_env(settings, monkeypatch):  # type: ignore[no-untyped-def]
    from d400tui.engine.bootstrap import open_database

    open_database(settings).dispose()
    monkeypatch.setenv("D400_OPERATOR", "OPER1")
    monkeypatch.setenv("D400_PASSWORD", "oper1-demo")
    monkeypatch.setenv("COLUMNS", "200")
    return settings


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["--line", "--plan", "--expiry"]), value=TEXT)
def test_cli_garbage_argument_is_one_clear_line(cli_env, field: str, value: str) -> None:  # type: ignore[no-untyped-def]
    args = {"--line": "BON0001:1", "--plan": "immediate", "--expiry": "12/30"}
    args[field] = value
    argv = ["order", "new", "--customer", "100001", "--json"]
    for k, v in args.items():
        argv += [k, v]
    before = _counts(cli_env.database_url)
    code, err = _cli_in_process(argv, "4970100000000014\n")
    if code == 0:  # the text happened to be valid: an order was taken
        return
    assert code in (2, 3), (code, err)
    if code == 2:
        assert _counts(cli_env.database_url) == before
        assert "Traceback" not in err
        if not value.startswith("-"):  # click's own usage errors for option-like values are several lines
            assert len(err.strip().splitlines()) == 1, err
            assert err.startswith("d400: "), err


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=TEXT)
def test_cli_garbage_customer_is_refused_and_saves_nothing(cli_env, value: str) -> None:  # type: ignore[no-untyped-def]
    before = _counts(cli_env.database_url)
    code, err = _cli_in_process(
        ["order", "new", "--customer", value, "--line", "BON0001:1", "--expiry", "12/30"], "4970100000000014\n"
    )
    if code == 0:
        return  # a valid customer number
    assert code == 2, (code, err)
    assert "Traceback" not in err
    assert "customer" in err.lower() or "client" in err.lower(), err
    assert _counts(cli_env.database_url) == before
