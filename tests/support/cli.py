"""The `d400` command run inside the test process: `d400tui.cli.main` with this argv, this stdin
and these D400_* variables, its stdout, stderr and exit code captured. A `python -m d400tui`
subprocess re-imports everything (about a second of CPU per command); tests about a command's
output and exit code use this, tests about a real process (terminal sign-on, kill -9, locks
between processes, file modes) keep their subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor

PASSWORDS = {"SUPER1": "super1-demo", "OPER1": "oper1-demo"}


@contextlib.contextmanager
def _state(env: Mapping[str, str | None]) -> Iterator[None]:
    """These variables set (None: unset), and afterwards everything `main` changes put back: the environment,
    stdin, the language, the `d400` logger's handlers and level, the consoles' width."""
    from d400tui.cli import output
    from d400tui.i18n import get_lang, set_lang

    saved_env = {k: os.environ.get(k) for k in env}
    lang = get_lang()
    logger = logging.getLogger("d400")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    widths = output.out._width, output.err._width  # noqa: SLF001 - COLUMNS is read once, at import
    stdin = sys.stdin
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    if env.get("COLUMNS"):
        output.out.width = output.err.width = int(env["COLUMNS"])  # type: ignore[arg-type]
    try:
        yield
    finally:
        sys.stdin = stdin
        output.out._width, output.err._width = widths  # noqa: SLF001
        for h in logger.handlers:
            if h not in handlers:
                logger.removeHandler(h)
                h.close()
        logger.setLevel(level)
        logger.propagate = propagate
        set_lang(lang)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run(
    args: list[str], stdin: str = "", env: Mapping[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """`d400 ARGS` in this process, as `subprocess.run(..., capture_output=True, text=True)` returns
    it. From an async test (a running event loop: the command's own `asyncio.run` would refuse) in a
    thread of its own, the test waiting as it waited for the subprocess."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run(args, stdin, env or {})
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_run, args, stdin, env or {}).result()


@contextlib.contextmanager
def _engines_disposed() -> Iterator[None]:
    """The database engines the command connected (it leaves them to the process's exit) disposed
    afterwards: their pooled connections do not pile up on the PostgreSQL server."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    used: dict[int, Engine] = {}

    def connected(conn) -> None:  # type: ignore[no-untyped-def]
        used[id(conn.engine)] = conn.engine

    event.listen(Engine, "engine_connect", connected)
    try:
        yield
    finally:
        event.remove(Engine, "engine_connect", connected)
        for engine in used.values():
            engine.dispose()


def _run(args: list[str], stdin: str, env: Mapping[str, str | None]) -> subprocess.CompletedProcess[str]:
    from d400tui.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    env = {"D400_BATCH_NICE": "0", **env}  # a run in this process must not lower the test worker itself
    with _state(env), _engines_disposed():
        sys.stdin = io.StringIO(stdin)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return subprocess.CompletedProcess(["d400", *args], code, out.getvalue(), err.getvalue())


def as_environment(env: Mapping[str, str]) -> dict[str, str | None]:
    """What `run` must change so that the D400_* variables are exactly those of `env`."""
    changes: dict[str, str | None] = {k: None for k in os.environ if k.startswith("D400_") and k not in env}
    changes.update({k: v for k, v in env.items() if k.startswith("D400_") or k == "COLUMNS"})
    return changes


def signed_on(operator: str) -> dict[str, str]:
    """The variables a signed-on command needs (wrong password for an unknown operator)."""
    return {"D400_OPERATOR": operator, "D400_PASSWORD": PASSWORDS.get(operator, "wrong"), "COLUMNS": "200"}
