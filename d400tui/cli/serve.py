"""`d400 serve`: the TUI in browser tabs through textual-serve.

Each tab (each websocket) starts its own `python -m d400tui` process, at the sign-on screen: the
server itself signs no one on and holds no engine. textual-serve has no authentication or TLS of
its own, so anything but loopback gets a warning and belongs behind a reverse proxy."""

from __future__ import annotations

import ipaddress
import shlex
import sys

import typer

from d400tui.cli.app import app
from d400tui.cli.output import CliError, err

EXPOSED = (
    "warning: textual-serve has no authentication and no TLS of its own; anyone who reaches "
    "{where} gets a sign-on screen. Put a reverse proxy with TLS and basic auth or SSO in front "
    "(see the administrator guide), or bind to 127.0.0.1."
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tab_command() -> str:
    """What each browser tab runs: this interpreter on this package (PYTHONPATH and D400_* carried over)."""
    return f"{shlex.quote(sys.executable)} -m d400tui"


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    public_url: str = typer.Option("", "--public-url", help="URL the browser uses when a reverse proxy is in front."),
) -> None:
    """Serve the TUI to browsers: each tab is its own session, starting at sign-on."""
    if not host.strip() or any(c.isspace() for c in host):
        raise CliError("host: an address or a name without spaces expected")
    if not is_loopback(host):
        err.print(EXPOSED.format(where=f"{host}:{port}"), markup=False, highlight=False, soft_wrap=True)
    _server_class()(tab_command(), host=host, port=port, title="d400", public_url=public_url or None).serve()


def _server_class() -> type:
    """textual-serve's Server whose console lines pass the card-number scrubber: it logs every
    request URL (an outside attack saw `/?card=4970…` printed in full) and its Rich tracebacks
    would show local variables, keystrokes included."""
    import logging

    from textual_serve.server import Server

    from d400tui.domain.cards import scrub
    from d400tui.logs import ScrubFilter

    class ScrubbedFormatter(logging.Formatter):
        def formatException(self, ei) -> str:  # type: ignore[no-untyped-def]  # noqa: N802 - logging's name
            return scrub(super().formatException(ei))

    class ScrubbedServer(Server):  # type: ignore[misc]
        def initialize_logging(self) -> None:
            handler = logging.StreamHandler()
            handler.addFilter(ScrubFilter())
            handler.setFormatter(ScrubbedFormatter("%(message)s"))
            logging.basicConfig(level="DEBUG" if self.debug else "INFO", handlers=[handler], force=True)

    return ScrubbedServer
