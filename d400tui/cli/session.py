"""Sign-on and the engine for one command: every data command goes through `signed_db` or
`signed_engine`, so nobody reads or changes data without signing on (D400_OPERATOR /
D400_PASSWORD, or asked on a terminal), and no data command migrates or seeds a database."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import typer

from d400tui import aio
from d400tui.cli.output import CliError, clean
from d400tui.config import Settings, load_settings
from d400tui.domain import model as m

T = TypeVar("T")


def settings() -> Settings:
    return load_settings()


def database(config: Settings):  # type: ignore[no-untyped-def]
    """The configured database as it is: never migrated or seeded silently by a data command."""
    from d400tui.engine.bootstrap import open_database
    from d400tui.store.db import HEAD

    db = open_database(config, migrate=False)
    revision = db.current_revision()
    if revision != HEAD:
        db.dispose()
        if revision is None:
            raise CliError("database not initialised: d400 db init --admin NAME")
        raise CliError(f"database at revision {clean(revision, 12)}, this d400 needs {HEAD}: d400 db upgrade")
    return db


def sign_on(db, config: Settings) -> m.Actor:  # type: ignore[no-untyped-def]
    """CLI identity: D400_OPERATOR and D400_PASSWORD, or asked on the terminal."""
    from d400tui.engine.operators import sign_on as engine_sign_on

    name = config.operator
    password = config.password.get_secret_value() if config.password else None
    if not name or password is None:
        if not sys.stdin.isatty():
            raise CliError("sign on first: set D400_OPERATOR and D400_PASSWORD")
        name = name or typer.prompt("Operator")
        password = getpass.getpass("Password: ")
    return engine_sign_on(db, name, password)


def signed_db() -> tuple[Settings, Any, m.Actor]:
    """The settings, the database (at the current revision) and who signed on to it."""
    config = settings()
    db = database(config)
    try:
        return config, db, sign_on(db, config)
    except BaseException:
        db.dispose()
        raise


def signed_engine() -> tuple[Any, m.Actor]:
    """The engine and who signed on to it: no engine (and no acquirer) before sign-on."""
    from d400tui.engine import open_engine

    config, db, who = signed_db()
    return open_engine(config, db=db), who


def run(coro: Coroutine[Any, Any, T]) -> T:
    return aio.run(coro)


async def with_close(engine, coro: Coroutine[Any, Any, T]) -> T:  # type: ignore[no-untyped-def]
    """Await `coro`, then close the engine's acquirer whatever happened."""
    try:
        return await coro
    finally:
        await engine.acquirer.close()


def call(use: Callable[[Any, m.Actor], Coroutine[Any, Any, T]]) -> T:
    """Sign on, open the engine, await `use(engine, actor)` and close the acquirer: the
    preamble of every command that runs one engine use case."""
    engine, who = signed_engine()
    return run(with_close(engine, use(engine, who)))
