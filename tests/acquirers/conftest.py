"""Starts every real transport on 127.0.0.1 (free ports) for the acquirer contract suite.

- simulator: the in-process adapter on its own Issuer file;
- http: uvicorn serving `http_server.create_app` in a thread, with an API key;
- iso8583: the asyncio TCP host in a thread running its own event loop;
- stripe: the third-party `localstripe` server in a subprocess (skipped, with the reason, only
  when it is not installed).

Servers live for the session (each with a fresh Issuer state file under tmp_path_factory); every
test gets a fresh adapter bound to its own event loop."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bench._servers import free_port, wait_port
from d400tui.acquirers.http import HttpAcquirer
from d400tui.acquirers.iso8583 import Iso8583Acquirer
from d400tui.acquirers.simulator import SimulatorAcquirer
from d400tui.acquirers.stripe import StripeAcquirer
from d400tui.simulator.http_server import create_app
from d400tui.simulator.iso8583_server import Iso8583Host
from d400tui.simulator.issuer import Issuer
from tests.support.acquirers import (
    API_KEY,
    BACKENDS,
    ISSUER_REFUSALS,
    STRIPE_KEY,
    Backend,
    LoopThread,
    _issuer_holds,
    card,
    stripe_count,
)


@pytest.fixture(scope="session")
def sim_issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    issuer = Issuer(tmp_path_factory.mktemp("sim") / "issuer.db")
    yield issuer
    issuer.close()


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    issuer = Issuer(tmp_path_factory.mktemp("http") / "issuer.db")
    sock = socket.socket()  # bound here and handed to uvicorn: no other process can take the port meanwhile
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(issuer, api_key=API_KEY, hang_s=30)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_port(port)
    yield {"url": f"http://127.0.0.1:{port}", "issuer": issuer, "app": app}
    server.should_exit = True
    thread.join(5)
    sock.close()
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
        lambda timeout_s=5.0, **kw: StripeAcquirer(STRIPE_KEY, url, timeout_s=timeout_s, **{"dedupe": True, **kw}),
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
