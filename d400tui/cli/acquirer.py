"""`d400 acquirer serve` (the simulated issuer: its own state, no sign-on) and `d400 acquirer
check` (calls the configured acquirer with its key, so it signs on)."""

from __future__ import annotations

import typer

from d400tui import aio
from d400tui.cli.app import AsJson, acquirer_app
from d400tui.cli.output import CliError, out, print_json
from d400tui.cli.session import settings, signed_db


@acquirer_app.command("serve")
def acquirer_serve(
    protocol: str = typer.Option("http", "--protocol", help="http | iso8583"),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, help="Default 8410 (http) or 8583 (iso8583)."),
) -> None:
    """Serve the simulated issuer over HTTP (JSON API) or ISO 8583 over TCP."""
    from d400tui.simulator.serve import serve

    if protocol not in ("http", "iso8583"):
        raise CliError("protocol: http or iso8583")
    serve(settings(), protocol, host, port or (8410 if protocol == "http" else 8583))


@acquirer_app.command("check")
def acquirer_check(as_json: AsJson = False) -> None:
    """Which acquirer is configured, whether it answers, which brands it takes."""
    from d400tui.acquirers import check

    config, db, _ = signed_db()  # it calls the acquirer with the configured key
    db.dispose()
    info = aio.run(check(config))
    if as_json:
        print_json(info)
        return
    for k, v in info.items():
        out.print(f"{k}: {v}", markup=False)
