"""Crash harness: real order traffic in a subprocess, `kill -9` at random moments, reconcile, check.

    python -m bench.crash                    # full count: 60 kills of the traffic process, SQLite
    python -m bench.crash --kills 8          # the bounded count the CI test runs
    python -m bench.crash --db-url postgresql://...   # on PostgreSQL

Set-up: `d400 acquirer serve --protocol http` in a process of its own, with its own persisted
issuer file; the traffic process (`--driver`) opens the engine on D400_ACQUIRER=http and runs
validate / decide / cancel / delete / change-payment / cancel-deferred / pre-check / capture in a
loop, writing a journal line before and after each order it places. The harness kills it with
SIGKILL after a random delay, runs `d400 reconcile`, then checks the invariants below against the
database and the issuer's own books. Once per run (more with --server-kills) it kills the
*acquirer server* mid-run instead, checks that the unanswered authorizations became UNKNOWN and
the breaker failed fast, restarts the server on the same file and port, and reconciles.

`--secondary` (issue 13.5): a second acquirer server with an issuer of its own (on which the
"issuer unavailable" card approves). The driver presses S (failover) wherever the engine offers
it — the first acquirer killed, an answered 91 — and now and then where it does not (a time-out:
the engine must refuse); the invariants are checked over both issuers (one hold per instalment
across the two, each hold on the issuer its row names).

The invariants checked live in bench/invariants.py (one definition, shared with
bench/concurrency.py and tests/resilience)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from bench.invariants import Violation, check_invariants, check_ledger, ledger_counts

ROOT = Path(__file__).resolve().parent.parent
GRACE_S = 0.5 + 5 + 1.0
"""The reconciler's default grace (acquirer timeout 0.5 s + 5 s) and a margin."""

SHIPPED_REFUSALS = ["4970100000000030", "4970100000000055", "4970100000000063", "4970100000000071"]
TIMEOUT_CARD = "4970100000000089"
FAILED_OVER = "O failover sent"
"""Journal line of an authorization the driver sent to the secondary acquirer (the operator's S)."""
REFUSED_FAILOVERS = ("failover:refused", "failover:not-definite")
ISSUER_DOWN_CARD = "4970100000000071"  # answers 91 (issuer unavailable): definite, a failover may follow
ARTICLES = ["BON0001", "GRI0002", "RID0003", "PUL0004"]


# -- the traffic process -----------------------------------------------------------------------------
class _Journal:
    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, *parts: object) -> None:
        os.write(self.fd, (" ".join(str(p) for p in parts) + "\n").encode())  # one syscall: survives kill -9


def _count_fast_failures(acquirer, j: _Journal) -> None:  # type: ignore[no-untyped-def]
    """Journal an "X" line each time the circuit breaker fails a call fast (nothing sent)."""
    from d400tui.acquirers.breaker import CircuitOpen

    admit = getattr(acquirer, "_admit", None)
    if admit is None:
        return

    def counting() -> bool:
        try:
            return admit()
        except CircuitOpen:
            j.write("X", "fast-failure")
            raise

    acquirer._admit = counting


async def _drive(cycle: int, journal_path: Path, cards_path: Path, seed: int, max_ops: int) -> None:
    from sqlalchemy import select

    from d400tui.acquirers.base import AcquirerUnavailable
    from d400tui.domain import model as m
    from d400tui.domain.cards import CardData, parse_expiry
    from d400tui.engine import USER_ERRORS, open_engine
    from d400tui.engine.steps import answer as engine_answer
    from d400tui.store import tables as t

    rnd = random.Random(seed)
    j = _Journal(journal_path)
    with open(cards_path, newline="") as f:
        rows = list(csv.DictReader(f))
    good = [r["pan"] for r in rows if r["code"] == "00" and r["brand"] != "AMEX" and r["delay_s"] == "0"]
    expiry = {r["pan"]: r["expiry"] for r in rows}

    def a_card() -> CardData:
        x = rnd.random()
        pan = TIMEOUT_CARD if x < 0.03 else rnd.choice(SHIPPED_REFUSALS) if x < 0.15 else rnd.choice(good)
        return CardData(pan, parse_expiry(expiry[pan]))

    engine = open_engine()
    _count_fast_failures(engine.acquirer, j)
    oper, sup = m.Actor("CRASHOP", False), m.Actor("CRASHSUP", True)
    today = engine.today()
    secondary = engine.secondary is not None
    frnd = random.Random(seed + 7)  # failover choices: a run without a secondary keeps its sequence
    typed: dict[int, CardData] = {}  # the card typed for each order this process placed

    async def press_s(oid: int, answers: list) -> None:  # type: ignore[type-arg]
        """The operator's S on a failed authorization when the engine offers the secondary, and now
        and then when it does not (a time-out, a refusal): then the engine must refuse it."""
        if not secondary or not answers or answers[-1].approved:
            return
        offered = engine.failover_target(answers[-1]) is not None
        if not offered and frnd.random() > 0.3:
            return
        try:
            await engine.decide(oper, oid, m.DecisionKind.FAILOVER, typed.get(oid) or a_card())
        except USER_ERRORS:
            j.write("O", "failover", "refused" if offered else "not-definite")
            return
        if not offered:
            j.write("E", "failover", "accepted", f"order {oid}: sent to the secondary, which was not offered")
        j.write("O", "failover", "sent")

    j.write("S", cycle, os.getpid())
    for n in range(max_ops):
        with engine.db.uow() as uow:
            ids = list(
                uow.session.execute(
                    select(t.orders.c.id)
                    .where(t.orders.c.created_by.like("K%"), t.orders.c.status == "VALIDATED")
                    .order_by(t.orders.c.id.desc())
                    .limit(60)
                ).scalars()
            )
        oid = rnd.choice(ids) if ids else None
        op = rnd.choices(
            ["place", "decide", "cancel", "delete", "change", "deferred", "precheck", "capture", "reconcile"],
            [40, 8, 6, 4, 8, 8, 5, 5, 2],
        )[0]
        if op == "decide" and secondary and frnd.random() < 0.25:
            op = "failover"  # S on an order of the list, whatever its last answer
        if op != "place" and oid is None:
            op = "place"
        outcome = "ok"
        try:
            if op == "place":
                tag = f"K{cycle:04d}{n:06d}"
                plan = rnd.choice(
                    [
                        m.Plan(),
                        m.Plan(),
                        m.Plan(m.PlanKind.INSTALMENTS, count=rnd.randint(2, 3)),
                        m.Plan(m.PlanKind.DEFERRED, deferred_to=today + timedelta(days=3)),
                        m.Plan(m.PlanKind.DEFERRED, deferred_to=today + timedelta(days=20)),
                    ]
                )
                lines = [(rnd.choice(ARTICLES), rnd.randint(1, 3)) for _ in range(rnd.randint(1, 3))]
                j.write("B", tag)
                customer = 100001 + rnd.randrange(150)
                typing = a_card()  # drawn in the order they always were: a seed replays the same run
                try:
                    r = await engine.place_order(m.Actor(tag), customer, lines, typing, plan=plan)
                except USER_ERRORS:
                    j.write("R", tag)
                    raise
                j.write("C", tag, r.order.id)
                outcome = "approved" if r.approved else "refused"
                typed[r.order.id or 0] = typing
                await press_s(r.order.id or 0, r.answers)
            elif op == "decide":
                kind = rnd.choice([m.DecisionKind.BLOCK, m.DecisionKind.RELEASE, m.DecisionKind.RETRY])
                d = await engine.decide(oper, oid, kind)
                await press_s(oid, d.answers)
            elif op == "failover":
                assert oid is not None
                last = engine.get_order(oid).authorizations[-1:]
                if not last:
                    outcome = "nothing"
                else:
                    await press_s(oid, [engine_answer(last[0], None)])
            elif op == "cancel":
                await engine.cancel_order(oper, oid, "crash harness")
                j.write("F", oid, "CANCELLED,DELETED")
            elif op == "delete":
                await engine.delete_order(oper, oid)
                j.write("F", oid, "DELETED")
            elif op == "change":
                if rnd.random() < 0.3:
                    await engine.change_payment_method(oper, oid, m.PaymentMethod.CHEQUE)
                else:
                    await engine.change_payment_method(oper, oid, m.PaymentMethod.CARD, a_card())
            elif op == "deferred":
                order = engine.get_order(oid)
                deferred = [x.seq for x in order.pending_instalments() if x.is_deferred(order.order_date)]
                if not deferred:
                    outcome = "nothing"
                else:
                    await engine.cancel_deferred(oper, oid, rnd.choice(deferred), rnd.random() < 0.5)
            elif op == "precheck":
                await engine.precheck(sup, today + timedelta(days=rnd.choice([0, 5, 25, 40])), concurrency=4)
            elif op == "capture":
                await engine.capture(sup, today + timedelta(days=rnd.choice([0, 0, 4])), concurrency=4)
            elif op == "reconcile":
                await engine.reconcile(sup)
        except USER_ERRORS as exc:
            outcome = "concurrent" if "autre poste" in str(exc) else "refused"
        except AcquirerUnavailable:
            outcome = "unavailable"
        except Exception as exc:  # an engine failure that is not a user error: journaled, counted
            outcome = "error"
            j.write("E", op, type(exc).__name__, str(exc)[:120].replace("\n", " "))
        j.write("O", op, outcome)
    j.write("D", cycle)
    await engine.close()


# -- the harness -----------------------------------------------------------------------------------
from bench._servers import free_port, wait_port  # noqa: E402


def write_card_file(path: Path, n: int = 40, seed: int = 11, working: str = "") -> None:
    """The shipped test cards plus N synthetic approving cards with a large ceiling (so a long run
    does not end as a wall of ceiling refusals). `working`: a card this issuer approves although the
    shipped file has it answer 91 (the secondary's link to that issuer works: a failover holds)."""
    from stdnum import luhn

    from d400tui.data import data_path

    rnd = random.Random(seed)
    with open(data_path("test_cards.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0])
    for r in rows:
        if r["pan"] == working:
            r.update(code="00", behaviour="approves (issuer reachable from this acquirer)")
    seen = {r["pan"] for r in rows}
    while n:
        body = "497013" + f"{rnd.randrange(10**9):09d}"
        pan = body + luhn.calc_check_digit(body)
        if pan in seen:
            continue
        seen.add(pan)
        row = dict.fromkeys(fields, "")  # columns added to the card file since (networks, cvv…) stay empty
        row.update(pan=pan, brand="VISA", expiry="12/30", ceiling_30d="10000000", behaviour="approves")
        rows.append({**row, "code": "00", "delay_s": "0"})
        n -= 1
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        w.writerows(rows)


@dataclass
class Report:
    cycles: int = 0
    kills: int = 0
    server_kills: int = 0
    operations: int = 0
    orders_begun: int = 0
    orders_committed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unknown_after_server_kill: int = 0
    not_sent_after_server_kill: int = 0  # refused their connection: DECLINED without answer, no hold
    breaker_fast_failures: int = 0
    reconcile_still_unknown_while_down: int = 0
    reconcile_reruns: int = 0  # reconciles run again because the last one left something to do
    final_violations: list[Violation] = field(default_factory=list)
    failovers: int = 0  # authorizations sent to the secondary acquirer (rows naming it)
    failover_holds: int = 0  # holds the secondary's issuer made
    failovers_refused: int = 0  # S pressed on a failure that was not definite: refused by the engine
    failovers_while_down: int = 0  # rows sent to the secondary while the first acquirer was killed

    @property
    def inconsistencies(self) -> int:
        return len(self.violations)

    @property
    def unexplained(self) -> list[Violation]:
        return [v for v in self.violations if not v.known_bug]

    def lines(self) -> list[str]:
        bugs = Counter(v.bug for v in self.violations if v.bug)
        excused = ", ".join(f"{k} {v}" for k, v in sorted(bugs.items()))
        return [
            f"cycles {self.cycles}, kill -9 of the traffic process {self.kills}, of the acquirer server "
            f"{self.server_kills}",
            f"operations {self.operations} ({', '.join(f'{k} {v}' for k, v in sorted(self.outcomes.items()))})",
            f"orders begun {self.orders_begun}, committed {self.orders_committed}",
            f"server kill: {self.unknown_after_server_kill} authorizations UNKNOWN, "
            f"{self.not_sent_after_server_kill} not sent, {self.breaker_fast_failures} "
            f"breaker fast failures, {self.reconcile_still_unknown_while_down} still unknown while down",
            f"engine errors (not user errors) {len(self.errors)}; reconciles rerun: {self.reconcile_reruns}",
            f"after each cycle: {self.inconsistencies} findings ({excused or 'none excused'}; "
            f"{len(self.unexplained)} inconsistencies)",
            f"after the reconciler's grace period, final check: {len(self.final_violations)} inconsistencies",
            *(
                [
                    f"failover: {self.failovers} authorizations sent to the secondary "
                    f"({self.failovers_while_down} while the first was killed), {self.failover_holds} holds "
                    f"there, {self.failovers_refused} refused (not definite)"
                ]
                if self.failovers or self.failovers_refused
                else []
            ),
        ]


class Harness:
    def __init__(
        self,
        workdir: Path,
        db_url: str | None = None,
        seed: int = 1,
        cli_reconcile: bool = True,
        verbose: bool = False,
        protocol: str = "http",
        secondary: bool = False,
    ) -> None:
        self.protocol = protocol  # the acquirer server's transport: "http" or "iso8583"
        self.secondary = secondary  # a second acquirer server (its own issuer) the orders fail over to
        self.dir = workdir
        self.db_url = db_url or f"sqlite:///{workdir}/d400.db"
        self.issuer_path = workdir / "issuer.db"
        self.cards = workdir / "cards.csv"
        self.journal = workdir / "journal.log"
        self.rnd = random.Random(seed)
        self.seed = seed
        self.cli_reconcile = cli_reconcile
        self.verbose = verbose
        self.port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.port2 = free_port() if secondary else 0
        self.issuer2_path = workdir / "issuer-2.db"
        self.cards2 = workdir / "cards-2.csv"
        self.server2: subprocess.Popen[bytes] | None = None
        self.report = Report()
        write_card_file(self.cards)
        if secondary:
            write_card_file(self.cards2, working=ISSUER_DOWN_CARD)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("D400_")}
        env.update(
            {
                "D400_HOME": str(self.dir),
                "D400_CONFIG": str(self.dir / "absent.toml"),
                "D400_DB_URL": self.db_url,
                "D400_SIMULATOR_DB": str(self.issuer_path),
                "D400_SIMULATOR_CARDS": str(self.cards),
                "D400_ACQUIRER": self.protocol,
                "D400_ACQUIRER_URL": f"http://127.0.0.1:{self.port}",
                "D400_ACQUIRER_HOST": "127.0.0.1",
                "D400_ACQUIRER_PORT": str(self.port),
                "D400_ACQUIRER_TIMEOUT": "0.5",
                "D400_ACQUIRER_CONNECT_TIMEOUT": "0.5",
                "D400_BREAKER_FAILURES": "3",
                "D400_BREAKER_RESET_S": "30",
                "D400_OPERATOR": "SUPER1",
                "D400_PASSWORD": "super1-demo",
                "PYTHONPATH": str(ROOT),
            }
        )
        if self.secondary:
            env.update(
                {
                    "D400_SECONDARY_ACQUIRER": self.protocol,
                    "D400_SECONDARY_URL": f"http://127.0.0.1:{self.port2}",
                    "D400_SECONDARY_HOST": "127.0.0.1",
                    "D400_SECONDARY_PORT": str(self.port2),
                }
            )
        env.update(extra)
        return env

    @property
    def names(self) -> tuple[str, str]:
        """The acquirers' names on the authorizations (engine's secondary_name: "-2" for the same kind)."""
        return self.protocol, f"{self.protocol}-2"

    # server
    def start_server(self) -> None:
        self.server = self._serve(self.port)

    def start_secondary(self) -> None:
        self.server2 = self._serve(
            self.port2, D400_SIMULATOR_DB=str(self.issuer2_path), D400_SIMULATOR_CARDS=str(self.cards2)
        )

    def _serve(self, port: int, **env: str) -> subprocess.Popen[bytes]:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "d400tui",
                "acquirer",
                "serve",
                "--protocol",
                self.protocol,
                "--port",
                str(port),
            ],
            env=self.env(**env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(port)
        self._wait_ours(server, port)
        return server

    def _wait_ours(self, server: subprocess.Popen[bytes], port: int, timeout: float = 30.0) -> None:
        """Something accepting connections on the port is not yet this server: another process may
        have been handed the port while it was down (a test binding port 0), and a reconcile run
        against it would leave unsettled what the restarted server would settle. Over HTTP, until
        the simulated issuer's health check answers; on any protocol, this process must be alive."""
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the acquirer server on port {port} exited ({server.returncode}) at start")
            if self.protocol != "http":
                return
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1.0)
                if r.status_code == 200 and r.json().get("service") == "d400 simulated issuer":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"port {port} answers, but not as the simulated issuer")
            time.sleep(0.05)

    def kill_server(self) -> None:
        if self.server is not None:
            os.kill(self.server.pid, signal.SIGKILL)
            self.server.wait()
            self.server = None

    def close(self) -> None:
        self.kill_server()
        if self.server2 is not None:
            os.kill(self.server2.pid, signal.SIGKILL)
            self.server2.wait()
            self.server2 = None

    # database and issuer
    def open(self):  # type: ignore[no-untyped-def]
        """The database and what check_invariants takes: the issuer, or both by acquirer name."""
        from d400tui.simulator.issuer import Issuer
        from d400tui.store.db import Database

        if not self.secondary:
            return Database(self.db_url), Issuer(self.issuer_path)
        first, second = self.names
        return Database(self.db_url), {first: Issuer(self.issuer_path), second: Issuer(self.issuer2_path)}

    @staticmethod
    def _close(issuer) -> None:  # type: ignore[no-untyped-def]
        for i in issuer.values() if isinstance(issuer, dict) else [issuer]:
            i.close()

    def prepare(self) -> None:
        from d400tui.config import Settings
        from d400tui.engine.bootstrap import open_database
        from d400tui.engine.demo import seed_demo_operators

        if self.db_url.startswith("postgresql"):
            from sqlalchemy import create_engine

            eng = create_engine(self.db_url.replace("postgresql://", "postgresql+psycopg://", 1))
            with eng.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
                conn.exec_driver_sql("CREATE SCHEMA public")
            eng.dispose()
        db = open_database(Settings(db_url=self.db_url))
        seed_demo_operators(db)  # the CLI drivers sign on as SUPER1; no database gets it silently
        db.dispose()
        self.start_server()
        if self.secondary:
            self.start_secondary()

    # one cycle
    def driver(self, cycle: int, max_ops: int = 100_000) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.crash",
                "--driver",
                "--cycle",
                str(cycle),
                "--workdir",
                str(self.dir),
                "--seed",
                str(self.seed * 100_003 + cycle),
                "--max-ops",
                str(max_ops),
            ],
            env=self.env(),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait_started(self, proc: subprocess.Popen[bytes], cycle: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        mark = f"S {cycle} {proc.pid}"
        while time.monotonic() < deadline:
            if self.journal.exists() and mark in self.journal.read_text():
                return
            if proc.poll() is not None:
                raise RuntimeError(f"driver died at start: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            time.sleep(0.02)
        raise RuntimeError("driver did not start")

    def reconcile(self) -> tuple[int, int]:
        """Returns (settled, still unknown)."""
        if self.cli_reconcile:
            r = subprocess.run(
                [sys.executable, "-m", "d400tui", "reconcile", "--json"],
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            if r.returncode not in (0, 4):
                raise RuntimeError(f"d400 reconcile failed ({r.returncode}): {r.stderr[-2000:]}")
            data = json.loads(r.stdout)
            return len(data["settled"]), len(data["still_unknown"])
        from d400tui.config import Settings
        from d400tui.domain import model as m
        from d400tui.engine import open_engine

        async def go() -> tuple[int, int]:
            old = dict(os.environ)
            os.environ.update(self.env())
            try:
                engine = open_engine(Settings())
            finally:
                os.environ.clear()
                os.environ.update(old)
            try:
                rep = await engine.reconcile(m.Actor("SUPER1", True))
            finally:
                await engine.close()
            return len(rep.settled), len(rep.still_unknown)

        return asyncio.run(go())

    def settle(self) -> None:
        """Reconcile with the acquirers up, again while it says something is still to do (at most
        3 runs, as an operator would rerun it): on a loaded machine a void's answer can miss the
        0.5 s time-out though the issuer voided — the row stays PENDING, rightly, till the next run."""
        for _ in range(3):
            _, still = self.reconcile()
            if not still:
                return
            self.report.reconcile_reruns += 1

    def check(self, cycle: int, settled: bool = True) -> list[Violation]:
        db, issuer = self.open()
        try:
            found = check_invariants(db, issuer, settled, GRACE_S) + check_ledger(db, self.journal)
        finally:
            db.dispose()
            self._close(issuer)
        new = [v for v in found if str(v) not in {str(x) for x in self.report.violations}]
        for v in new:
            if self.verbose:
                print(f"  cycle {cycle}: {v}", file=sys.stderr)
        self.report.violations.extend(new)
        return new

    def cycle(self, cycle: int, min_s: float, max_s: float) -> None:
        proc = self.driver(cycle)
        self.wait_started(proc, cycle)
        time.sleep(self.rnd.uniform(min_s, max_s))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            self.report.kills += 1
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
        self.settle()
        self.check(cycle)
        self.report.cycles += 1

    def server_cycle(self, cycle: int, run_s: float) -> None:
        """Kill the acquirer server while traffic runs: UNKNOWN rows, breaker, reconcile after restart."""
        from sqlalchemy import func, select

        from d400tui.store import tables as t

        proc = self.driver(cycle)
        self.wait_started(proc, cycle)
        time.sleep(run_s)
        self.kill_server()
        self.report.server_kills += 1
        # traffic goes on against a dead acquirer until the breaker has failed calls fast (and, with
        # a secondary, orders have failed over to it)
        mark = f"S {cycle} {proc.pid}"
        deadline = time.monotonic() + max(run_s, 15.0)
        while time.monotonic() < deadline and proc.poll() is None:
            tail = self.journal.read_text().split(mark, 1)[1]
            if tail.count("X fast-failure") >= 3 and (not self.secondary or tail.count(FAILED_OVER) >= 1):
                break
            time.sleep(0.05)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            self.report.kills += 1
        proc.wait()
        text = self.journal.read_text()
        tail = text.split(f"S {cycle} {proc.pid}", 1)[1]
        self.report.breaker_fast_failures += tail.count("X fast-failure")
        self.report.failovers_while_down += tail.count(FAILED_OVER)
        from d400tui.engine.codes import NO_ANSWER

        db, issuer = self.open()
        self._close(issuer)
        a = t.authorizations
        try:
            with db.engine.connect() as conn:
                self.report.unknown_after_server_kill += (
                    conn.execute(select(func.count()).select_from(a).where(a.c.state == "UNKNOWN")).scalar() or 0
                )
                self.report.not_sent_after_server_kill += (
                    conn.execute(
                        select(func.count()).where(a.c.state == "DECLINED", a.c.response_code == NO_ANSWER)
                    ).scalar()
                    or 0
                )
        finally:
            db.dispose()
        _, still = self.reconcile()  # the acquirer is down: nothing can be settled
        self.report.reconcile_still_unknown_while_down += still
        self.check(cycle, settled=False)
        self.start_server()
        self.settle()
        self.check(cycle, settled=True)
        self.report.cycles += 1

    def _count_failovers(self, db, issuer) -> None:  # type: ignore[no-untyped-def]
        """Failovers from the database (rows naming the secondary) and the secondary's own books."""
        if not self.secondary:
            return
        from sqlalchemy import func, select

        from d400tui.store import tables as t

        a = t.authorizations
        with db.engine.connect() as conn:
            n = conn.execute(select(func.count()).where(a.c.acquirer == self.names[1])).scalar()
        self.report.failovers = n or 0
        self.report.failover_holds = len(issuer[self.names[1]].hold_keys())
        self.report.failovers_refused = sum(
            v for k, v in ledger_counts(self.journal)[2].items() if k in REFUSED_FAILOVERS
        )

    def run(
        self, kills: int, server_kills: int = 1, min_s: float = 0.2, max_s: float = 1.5, min_ops: int = 0
    ) -> Report:
        """`kills` cycles, then more traffic-kill cycles (up to 3 × kills in all) until the drivers
        have done `min_ops` operations: on a loaded machine a cycle does less, so it takes more of
        them to put the same traffic through the kills, instead of checking less."""
        self.prepare()
        try:
            at = sorted(self.rnd.sample(range(1, kills + 1), min(server_kills, kills)))
            for c in range(1, kills + 1):
                if c in at:
                    self.server_cycle(c, max(min_s, max_s / 2))
                else:
                    self.cycle(c, min_s, max_s)
            c = kills
            while c < 3 * kills and sum(ledger_counts(self.journal)[2].values()) < min_ops:
                c += 1
                self.cycle(c, min_s, max_s)
            begun, committed, ops = ledger_counts(self.journal)
            self.report.orders_begun, self.report.orders_committed = begun, committed
            self.report.operations = sum(ops.values())
            self.report.outcomes = Counter()
            for k, v in ops.items():
                self.report.outcomes[k.split(":")[1]] += v
            for line in self.journal.read_text().splitlines():
                if line.startswith("E "):
                    self.report.errors.append(line[2:])
            # past the grace, `d400 reconcile` settles what the kills left REQUESTED: nothing is excused
            time.sleep(GRACE_S)
            self.settle()
            db, issuer = self.open()
            try:
                self.report.final_violations = check_invariants(db, issuer, True) + check_ledger(db, self.journal)
                self._count_failovers(db, issuer)
            finally:
                db.dispose()
                self._close(issuer)
        finally:
            self.close()
        return self.report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=60, help="kill -9 cycles (default 60)")
    p.add_argument("--server-kills", type=int, default=2, help="cycles that kill the acquirer server instead")
    p.add_argument("--db-url", default=None, help="database URL (default: a SQLite file in the work dir)")
    p.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    p.add_argument("--engine-reconcile", action="store_true", help="reconcile in-process instead of `d400 reconcile`")
    p.add_argument("--workdir", default=None)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--protocol", choices=["http", "iso8583"], default="http", help="the acquirer server's transport")
    p.add_argument(
        "--secondary",
        action="store_true",
        help="a second acquirer server: orders fail over to it when the first is killed",
    )
    p.add_argument("--driver", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cycle", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--max-ops", type=int, default=100_000, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.driver:
        wd = Path(args.workdir)
        asyncio.run(_drive(args.cycle, wd / "journal.log", wd / "cards.csv", args.seed, args.max_ops))
        return 0
    wd = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="d400-crash-"))
    h = Harness(
        wd,
        args.db_url,
        args.seed,
        cli_reconcile=not args.engine_reconcile,
        verbose=args.verbose,
        protocol=args.protocol,
        secondary=args.secondary,
    )
    t0 = time.monotonic()
    rep = h.run(args.kills, args.server_kills)
    print(f"crash harness, seed {args.seed}, {date.today()}, work dir {wd}, {time.monotonic() - t0:.0f} s")
    for line in rep.lines():
        print(line)
    for v in [*rep.unexplained, *rep.final_violations][:40]:
        print(f"  {v}")
    for e in rep.errors[:20]:
        print(f"  engine error: {e}")
    return 0 if not rep.unexplained and not rep.final_violations and not rep.errors else 1


if __name__ == "__main__":
    sys.exit(main())
