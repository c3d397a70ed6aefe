"""Starts every real transport on 127.0.0.1 (free ports) for the acquirer contract suite.

- simulator: the in-process adapter on its own Issuer file;
- http: uvicorn serving `http_server.create_app` in a thread, with an API key;
- iso8583: the asyncio TCP host in a thread running its own event loop;
- stripe: the third-party `localstripe` server in a subprocess (skipped, with the reason, only
  when it is not installed).

Servers live for the session (each with a fresh Issuer state file under tmp_path_factory); every
test gets a fresh adapter bound to its own event loop."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from d400tui.acquirers.base import Acquirer
from d400tui.acquirers.http import HttpAcquirer
from d400tui.acquirers.iso8583 import Iso8583Acquirer
from d400tui.acquirers.simulator import SimulatorAcquirer
from d400tui.acquirers.stripe import KEY_META, StripeAcquirer
from d400tui.domain.cards import CardData, parse_expiry
from d400tui.simulator.http_server import create_app
from d400tui.simulator.iso8583_server import Iso8583Host
from d400tui.simulator.issuer import Issuer

API_KEY = "test-api-key"
STRIPE_KEY = "sk_test_contract"
BACKENDS = ["simulator", "http", "iso8583", "stripe"]


from bench._servers import free_port, wait_port  # noqa: E402


def card(pan: str, expiry: str = "12/30") -> CardData:
    return CardData(pan, parse_expiry(expiry), "123")




# -- servers -----------------------------------------------------------------------------------
class LoopThread:
    """An asyncio loop in a daemon thread, for servers that must outlive each test's loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class Backend:
    name: str
    make: Callable[..., Acquirer]  # make(timeout_s=..., **kw) → a fresh adapter
    approve: CardData
    refusals: list[tuple[CardData, str]]  # card → expected field-39 code
    hang: CardData | None  # a card the issuer never answers (None: the provider cannot do it)
    count_holds: Callable[[str], int]  # authorizations made under an idempotency key
    issuer: Issuer | None = None
    extra: dict[str, Any] = field(default_factory=dict)


ISSUER_REFUSALS = [
    (card("4970100000000030"), "41"),  # lost
    (card("4970100000000048"), "43"),  # stolen
    (card("4970100000000055"), "51"),  # insufficient funds
    (card("4970100000000063"), "05"),  # do not honour
    (card("4970100000000071"), "91"),  # issuer unavailable
    (card("4970100000000097"), "57"),  # not allowed for distance selling
    (card("4970100000000014", "11/30"), "54"),  # wrong expiry
    (card("4970100000000113"), "14"),  # unknown number
]


def _issuer_holds(issuer: Issuer) -> Callable[[str], int]:
    def count(key: str) -> int:
        return 1 if key in issuer.hold_keys() else 0

    return count


@pytest.fixture(scope="session")
def sim_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    issuer = Issuer(tmp_path_factory.mktemp("sim") / "issuer.db")
    yield issuer
    issuer.close()


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    issuer = Issuer(tmp_path_factory.mktemp("http") / "issuer.db")
    port = free_port()
    app = create_app(issuer, api_key=API_KEY, hang_s=30)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port)
    yield {"url": f"http://127.0.0.1:{port}", "issuer": issuer, "app": app}
    server.should_exit = True
    thread.join(5)
    issuer.close()


@pytest.fixture(scope="session")
def iso_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    issuer = Issuer(tmp_path_factory.mktemp("iso") / "issuer.db")
    host = Iso8583Host(issuer)
    lt = LoopThread()
    port = lt.run(host.start("127.0.0.1", 0))
    yield {"port": port, "issuer": issuer, "host": host, "loop": lt}
    lt.run(host.stop())
    lt.stop()
    issuer.close()


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if importlib.util.find_spec("localstripe") is None:
        pytest.skip("localstripe is not installed (pip install localstripe): Stripe contract not run")
    port = free_port()
    log = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_port(port)
    except RuntimeError:
        proc.kill()
        pytest.skip(f"localstripe did not start: {Path(log).read_text()[-300:]}")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()


def stripe_count(url: str) -> Callable[[str], int]:
    def count(key: str) -> int:
        n, after = 0, None
        with httpx.Client(base_url=url, auth=(STRIPE_KEY, "")) as c:
            while True:
                params = {"limit": "100", **({"starting_after": after} if after else {})}
                body = c.get("/v1/payment_intents", params=params).json()
                n += sum(1 for pi in body["data"] if (pi.get("metadata") or {}).get(KEY_META) == key)
                if not body.get("has_more") or not body["data"]:
                    return n
                after = body["data"][-1]["id"]

    return count


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    name = request.param
    hang = card("4970100000000089")
    if name == "simulator":
        issuer = request.getfixturevalue("sim_issuer")
        return Backend(
            name,
            lambda timeout_s=5.0, **kw: SimulatorAcquirer(issuer, timeout_s=timeout_s, **kw),
            card("4970100000000014"),
            ISSUER_REFUSALS,
            hang,
            _issuer_holds(issuer),
            issuer,
        )
    if name == "http":
        srv = request.getfixturevalue("http_server")
        return Backend(
            name,
            lambda timeout_s=5.0, **kw: HttpAcquirer(srv["url"], API_KEY, timeout_s=timeout_s, **kw),
            card("4970100000000014"),
            ISSUER_REFUSALS,
            hang,
            _issuer_holds(srv["issuer"]),
            srv["issuer"],
            {"url": srv["url"], "app": srv["app"]},
        )
    if name == "iso8583":
        srv = request.getfixturevalue("iso_server")
        return Backend(
            name,
            lambda timeout_s=5.0, **kw: Iso8583Acquirer("127.0.0.1", srv["port"], timeout_s=timeout_s, **kw),
            card("4970100000000014"),
            ISSUER_REFUSALS,
            hang,
            _issuer_holds(srv["issuer"]),
            srv["issuer"],
            srv,
        )
    url = request.getfixturevalue("localstripe")
    return Backend(
        name,
        lambda timeout_s=5.0, **kw: StripeAcquirer(
            STRIPE_KEY, url, timeout_s=timeout_s, **{"dedupe": True, **kw}
        ),
        card("4242424242424242"),
        [(card("4000000000000341"), "05")],  # localstripe's only charge decline: generic card_declined
        None,
        stripe_count(url),
        extra={"url": url},
    )


@pytest.fixture
async def acquirer(backend: Backend) -> Any:
    acq = backend.make()
    yield acq
    await acq.close()
