"""Failover to a secondary acquirer with the first killed mid-run, over real transports (issue 13.5),
on SQLite and PostgreSQL: an ISO 8583 host and an HTTP service, each with its own issuer, one first
and the other secondary. Orders taken while the first works stay there; the one in flight when it
dies is UNKNOWN (no failover) until the reconciler settles it with the first, back up; orders taken
while it is down go to the secondary on the operator's S; voids go to the acquirer that holds the
authorization; and no instalment ever has two holds."""

from __future__ import annotations

import asyncio
import socket
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bench._servers import wait_port
from d400tui.acquirers.breaker import CircuitBreaker
from d400tui.acquirers.http import HttpAcquirer
from d400tui.acquirers.iso8583 import Iso8583Acquirer
from d400tui.domain import model as m
from d400tui.domain.cards import Brand, CardData, parse_expiry
from d400tui.engine import USER_ERRORS
from d400tui.simulator.http_server import create_app
from d400tui.simulator.iso8583_server import Iso8583Host
from d400tui.simulator.issuer import Issuer
from tests.support.acquirers import API_KEY, LoopThread
from tests.support.demo import OPER, SUPER

A = ("BON0001", 1)
OK = CardData("4970100000000014", parse_expiry("12/30"), "123", Brand.VISA)
SLOW = CardData("4970100000000105", parse_expiry("12/30"), "123")  # the issuer answers after 2 s


class IsoServer:
    """An ISO 8583 host that can be killed (listener and connections closed) and started again."""

    kind = "iso8583"

    def __init__(self, issuer: Issuer) -> None:
        self.issuer, self.loop, self.port = issuer, LoopThread(), 0
        self.host: Iso8583Host | None = None

    def start(self) -> None:
        self.host = Iso8583Host(self.issuer)
        self.port = self.loop.run(self.host.start("127.0.0.1", self.port))

    def kill(self) -> None:
        assert self.host is not None
        self.loop.run(self.host.stop())

    def adapter(self) -> Any:
        return Iso8583Acquirer("127.0.0.1", self.port, timeout_s=5.0, connect_timeout_s=1.0)

    def close(self) -> None:
        self.loop.stop()


class HttpServer:
    """The HTTP simulator under uvicorn on a port of its own, killed and started again on it."""

    kind = "http"

    def __init__(self, issuer: Issuer) -> None:
        self.issuer, self.port = issuer, 0
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.issuer, api_key=API_KEY), log_level="warning", access_log=False, timeout_graceful_shutdown=0
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        wait_port(self.port)
        self.sock = sock

    def kill(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.server.force_exit = True
        self.thread.join(5)
        self.sock.close()

    def adapter(self) -> Any:
        return HttpAcquirer(f"http://127.0.0.1:{self.port}", API_KEY, timeout_s=5.0, connect_timeout_s=1.0, retries=0)

    def close(self) -> None:
        pass


SERVERS = {"iso8583": IsoServer, "http": HttpServer}


@pytest.fixture(params=[("iso8583", "http"), ("http", "iso8583")], ids=lambda p: f"{p[0]}-then-{p[1]}")
def pair(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    first_kind, second_kind = request.param
    first = SERVERS[first_kind](Issuer(tmp_path / "first.db"))
    second = SERVERS[second_kind](Issuer(tmp_path / "second.db"))
    first.start()
    second.start()
    yield first, second
    for srv in (first, second):
        try:
            srv.kill()
        except Exception:  # noqa: BLE001 - already killed by the test
            pass
        srv.close()
        srv.issuer.close()


def holds_of(order: m.Order, *issuers: Issuer) -> dict[int | None, int]:
    """Live or captured holds per instalment, across every issuer (the double-hold check)."""
    refs = {a.acquirer_ref: a.instalment_id for a in order.authorizations if a.acquirer_ref}
    out: dict[int | None, int] = {}
    for issuer in issuers:
        for ref, state, _, _ in issuer.holds():
            if ref in refs and state in ("APPROVED", "CAPTURED"):
                out[refs[ref]] = out.get(refs[ref], 0) + 1
    return out


async def test_failover_with_the_first_acquirer_killed_mid_run(settings, pair) -> None:  # type: ignore[no-untyped-def]
    from d400tui.engine import open_engine

    first, second = pair
    engine = open_engine(settings)
    engine.acquirer.issuer.close()  # the default simulator is not used here
    engine.acquirer = CircuitBreaker(first.adapter(), failures=2, reset_s=0.2)
    engine.secondary = CircuitBreaker(second.adapter(), failures=2, reset_s=0.2)
    try:
        before = [await engine.place_order(OPER, 100001, [A], OK) for _ in range(2)]
        assert all(r.approved for r in before)

        in_flight = asyncio.create_task(engine.place_order(OPER, 100001, [A], SLOW))
        await asyncio.sleep(0.7)  # the issuer has made the hold, its answer is 1.3 s away
        await asyncio.to_thread(first.kill)
        cut = await in_flight
        assert cut.failed is not None and cut.failed.state is m.AuthState.UNKNOWN  # not definite
        assert engine.failover_target(cut.failed) is None
        with pytest.raises(USER_ERRORS):
            await engine.decide(OPER, cut.order.id, m.DecisionKind.FAILOVER, card=SLOW)

        after = []
        for _ in range(3):  # refused connections, then the open circuit: both definite
            r = await engine.place_order(OPER, 100001, [A], OK)
            assert r.failed is not None and r.failed.state is m.AuthState.DECLINED
            assert engine.failover_target(r.failed) == second.kind
            moved = await engine.decide(OPER, r.order.id, m.DecisionKind.FAILOVER, card=OK)
            assert moved.approved
            after.append(r.order.id)

        await asyncio.to_thread(first.start)  # back up: the reconciler settles the cut one there
        await asyncio.sleep(0.3)  # past the breaker's reset
        report = await engine.reconcile(SUPER, grace_s=0)
        assert not report.still_unknown
        settled = engine.get_order(cut.order.id)
        assert [(a.acquirer, a.state) for a in settled.authorizations] == [(first.kind, m.AuthState.APPROVED)]

        for oid in after:
            order = engine.get_order(oid)
            assert [a.acquirer for a in order.authorizations] == [first.kind, second.kind]
            assert order.authorizations[-1].network == "VISA"
            assert second.issuer.hold_networks()[order.authorizations[-1].acquirer_ref] == "VISA"
            assert order.authorizations[0].idempotency_key not in first.issuer.hold_keys()  # never reached it

        # voids go to the acquirer that holds each authorization (the second one is killed now)
        await asyncio.to_thread(second.kill)
        down = await engine.cancel_order(OPER, after[0], "client annule")
        assert not any(v.done for v in down.voids)  # the secondary is down: pending, never sent to the first
        await asyncio.to_thread(second.start)
        await asyncio.sleep(0.3)
        await engine.reconcile(SUPER, grace_s=0)
        done = await engine.cancel_order(OPER, before[0].order.id, "client annule")
        assert all(v.done for v in done.voids)
        assert engine.get_order(after[0]).authorizations[-1].state is m.AuthState.VOIDED

        every = [r.order.id for r in before] + [cut.order.id] + after
        for oid in every:
            counts = holds_of(engine.get_order(oid), first.issuer, second.issuer)
            assert all(n <= 1 for n in counts.values()), (oid, counts)  # 0 double holds
        assert len(first.issuer.live_holds()) == 2 and len(second.issuer.live_holds()) == 2
        assert sum(
            a.amount for a in engine.get_order(after[1]).authorizations if a.state is m.AuthState.APPROVED
        ) == Decimal("71.99")
    finally:
        await engine.close()
