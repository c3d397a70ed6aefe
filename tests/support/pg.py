"""The PostgreSQL server of a test session: the one `D400_TEST_PG_URL` names (CI, a developer's
own server), or else a throw-away one started from the `pgserver` wheel, so the README's test
command runs the PostgreSQL half on a machine where nobody configured a server.

pgserver ships PostgreSQL 16 binaries. PostgreSQL refuses to run as root; as root pgserver runs
it as a system user `pgserver` (created with useradd on first use) and opens the folders on the
way to its binaries and data for that user (g+rx,o+rx). The server listens on a Unix socket in its
own temporary data folder only (no TCP port to clash over), and is stopped and its folder deleted
at session end (`stop`), or at interpreter exit if the session dies before that."""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from typing import Any, NoReturn

import pytest

ENV = "D400_TEST_PG_URL"

_server: Any = None
started_in: float | None = None  # seconds from nothing to a server accepting connections
why_not: str | None = None  # why no server could be started, for the skip/fail line


def base_url() -> str | None:
    """`D400_TEST_PG_URL` if set; otherwise start a throw-away server, export its URL in
    `D400_TEST_PG_URL` (for child processes and xdist workers, which then reuse it) and return it.
    None when neither works (`why_not` says why)."""
    global _server, started_in, why_not
    if os.environ.get(ENV):
        return os.environ[ENV]
    try:
        with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset (root, CI)
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError:
        why_not = "no D400_TEST_PG_URL and pgserver is not installed (pip install -e '.[test]')"
        return None
    t0 = time.perf_counter()
    pgdata = tempfile.mkdtemp(prefix="d400-pg-")
    try:
        _server = pgserver.get_server(pgdata, cleanup_mode="delete")
        url = _server.get_uri()
    except Exception as exc:  # noqa: BLE001 - any failure to start is reported, not raised
        why_not = f"no D400_TEST_PG_URL and pgserver could not start PostgreSQL in {pgdata}: {exc}"
        stop()
        return None
    started_in = time.perf_counter() - t0
    os.environ[ENV] = url
    return url


def stop() -> None:
    """Stop the server this process started (and delete its data folder); no-op otherwise."""
    global _server
    if _server is None:
        return
    server, _server = _server, None
    os.environ.pop(ENV, None)
    server.cleanup()


def missing() -> NoReturn:
    """A test that needs PostgreSQL and has none: skipped on a developer machine, failed under
    CI=true (CI must never pass with the PostgreSQL half quietly left out)."""
    reason = f"PostgreSQL unavailable: {why_not or 'no D400_TEST_PG_URL'}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def describe() -> str:
    """One line for the pytest header: which server this session uses."""
    if started_in is not None:
        return f"PostgreSQL: throw-away pgserver instance, started in {started_in:.2f} s"
    if os.environ.get(ENV):
        return "PostgreSQL: the server named by D400_TEST_PG_URL"
    return f"PostgreSQL: none ({why_not})"
