"""Start a d400 simulator server (http or iso8583) or localstripe in a subprocess for a bench."""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_PORTS = Path(tempfile.gettempdir()) / "d400-ports"


def free_port() -> int:
    """A loopback port nothing listens on, reserved (a file named after it) against the other
    processes asking at the same moment — xdist workers, parallel sessions: once the probing
    socket is closed the kernel may hand the same port to the next bind(0). The reservation is
    released at exit; one left by a dead process is taken over."""
    _PORTS.mkdir(exist_ok=True)
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        mark = _PORTS / str(port)
        try:
            fd = os.open(mark, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if not _alive(mark):
                mark.unlink(missing_ok=True)
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        atexit.register(mark.unlink, missing_ok=True)
        return port
    raise RuntimeError("no free loopback port found")


def _alive(mark: Path) -> bool:
    try:
        pid = int(mark.read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return pid > 0


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


@contextlib.contextmanager
def subprocess_server(argv: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(
        argv, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(port)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def simulator_server(protocol: str, latency_ms: float = 0.0, api_key: str = "") -> Iterator[int]:
    """`serve(settings, protocol, host, port)` in a child process, on a fresh issuer file."""
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        code = (
            "import sys; from d400tui.config import Settings; from d400tui.simulator.serve import serve; "
            f"serve(Settings(), {protocol!r}, '127.0.0.1', {port})"
        )
        env = {
            "D400_SIMULATOR_DB": f"{d}/issuer.db",
            "D400_SIMULATOR_LATENCY_MS": str(latency_ms),
            "D400_ACQUIRER_KEY": api_key,
            "D400_CONFIG": f"{d}/none.toml",
        }
        with subprocess_server([sys.executable, "-c", code], port, env):
            yield port


# localstripe pickles its whole store to /tmp/localstripe.pickle after every write (Store.__setitem__,
# __delitem__ and a middleware after each POST/PUT/DELETE, all through Store.dump_to_disk): the cost of
# a request grows with everything created before it. This launcher makes that method a no-op.
# It also indexes refunds by charge: Charge.refunds, read by every export of a Charge (for its
# `refunds` list and for amount_refunded: 24 times per authorize-and-capture of our adapter, counted)
# scanned the whole store for them, so throughput fell as the store grew (measured over a 2,000 run:
# 91/s at the start, 14/s at the end). The index keeps localstripe's answer: the charge's refunds
# still in the store, newest first, as a List of limit 10. Then it runs localstripe's own start(),
# which still reads --port and --from-scratch from argv.
_LOCALSTRIPE_IN_MEMORY = """
import localstripe.resources as r, localstripe.server as s

r.Store.dump_to_disk = lambda self: None

by_charge = {}
refund_init = r.Refund.__init__


def indexed_init(self, *args, **kwargs):
    refund_init(self, *args, **kwargs)
    by_charge.setdefault(self.charge, []).append(self)


def refunds(self):
    li = r.List('/v1/charges/' + self.id + '/refunds')
    li._list = [x for x in by_charge.get(self.id, ()) if r.store.get('refund:' + x.id) is x]
    li._list.sort(key=lambda x: x.date, reverse=True)
    return li


r.Refund.__init__ = indexed_init
r.Charge.refunds = property(refunds)
s.start()
"""


@contextlib.contextmanager
def localstripe_server(persistent: bool = False) -> Iterator[str]:
    """A fresh localstripe (empty store) on a free port; `persistent=True` runs it unpatched (its
    pickle-on-write and its refund scan), otherwise in memory with refunds indexed by charge."""
    port = free_port()
    launch = ["-m", "localstripe"] if persistent else ["-c", _LOCALSTRIPE_IN_MEMORY]
    with subprocess_server([sys.executable, *launch, "--port", str(port), "--from-scratch"], port):
        yield f"http://127.0.0.1:{port}"
