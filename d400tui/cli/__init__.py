"""The `d400` command (console script `d400 = "d400tui.cli:main"`). Every command builds a request
and calls the engine; errors are one clear line and a non-zero exit, never a traceback. The card
number is read from standard input only.

Who must sign on (D400_OPERATOR / D400_PASSWORD, or asked on a terminal): every command that reads
or changes data (`session.signed_db` / `signed_engine`). Only these run without: `--help`,
`db init --admin NAME` (refused once the database has an operator), `db upgrade` on a database
with no operator yet (a supervisor's job afterwards), `acquirer serve` (the simulator: its own
state, no order data), `serve` (each browser tab starts at the TUI's sign-on) and `d400` alone
(the TUI, which has its own sign-on screen).

Modules: `app` (the Typer groups), `session` (sign-on, the engine), `inputs` (stdin, dates),
`output` (one-line errors, JSON, tables), and one per command group: `orders`, `reference`
(customers, articles), `runs` (precheck, capture, reconcile), `admin` (db, operators, audit),
`acquirer`, `serve`, `stats`; `main` runs one command."""

from d400tui.cli.main import main

__all__ = ["main"]
