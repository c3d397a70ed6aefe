"""Acquirer adapters, one per module, all behind the protocol in `base`."""

from __future__ import annotations

from d400tui.config import Settings
from d400tui.domain.cards import Brand

from .base import Acquirer


def make_acquirer(settings: Settings) -> Acquirer:
    """The configured adapter. Brands come from the adapter unless the contract narrows them."""
    brands = frozenset(Brand(b.upper()) for b in settings.acquirer_brands) if settings.acquirer_brands else None
    if settings.acquirer == "simulator":
        from .issuer import Issuer
        from .simulator import DEFAULT_BRANDS, SimulatorAcquirer

        issuer = Issuer(settings.simulator_path, validity_days=settings.validity_days)
        return SimulatorAcquirer(
            issuer,
            brands=brands or DEFAULT_BRANDS,
            latency_s=settings.simulator_latency_ms / 1000,
            timeout_s=settings.acquirer_timeout,
            fault_rate=settings.simulator_fault_rate,
        )
    raise ValueError(f"acquirer {settings.acquirer!r} is not available in this build")
