"""What `d400 acquirer serve` runs: kept here so the CLI stays a thin layer and the tests and
benches can start the very same servers."""

from __future__ import annotations

import contextlib

from d400tui import aio
from d400tui.config import Settings

from .issuer import issuer_from_settings

DEFAULT_PORTS = {"http": 8410, "iso8583": 8583}


def serve(settings: Settings, protocol: str = "http", host: str = "127.0.0.1", port: int | None = None) -> None:
    """Serve the simulated issuer until interrupted (blocking).

    protocol "http": the JSON API under uvicorn (OpenAPI at /openapi.json; when D400_ACQUIRER_KEY
    is set, requests must carry it in X-Api-Key). protocol "iso8583": the TCP host.
    port defaults to 8410 (http) or 8583 (iso8583). The issuer's state file is
    settings.simulator_path; D400_SIMULATOR_LATENCY_MS adds latency to every answer."""
    if protocol not in DEFAULT_PORTS:
        raise ValueError(f"protocol must be one of {', '.join(DEFAULT_PORTS)}")
    port = DEFAULT_PORTS[protocol] if port is None else port
    issuer = issuer_from_settings(settings)
    latency_s = settings.simulator_latency_ms / 1000
    try:
        if protocol == "http":
            import uvicorn

            from .http_server import create_app

            key = settings.acquirer_key.get_secret_value() or None
            app = create_app(issuer, api_key=key, latency_s=latency_s)
            uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
        else:
            from .iso8583_server import Iso8583Host

            with contextlib.suppress(KeyboardInterrupt):
                iso = Iso8583Host(
                    issuer,
                    latency_s=latency_s,
                    idle_timeout_s=settings.iso8583_idle_timeout_s,
                    max_connections=settings.iso8583_max_connections,
                )
                aio.run(iso.serve_forever(host, port))
    finally:
        issuer.close()
