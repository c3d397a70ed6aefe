"""Acquirer adapters, one per module, all behind the protocol in `base`."""

from __future__ import annotations

from d400tui.config import Settings
from d400tui.domain.cards import Brand

from .base import Acquirer


class AcquirerConfigError(ValueError):
    """The settings name an acquirer that cannot be built as configured (said in one line)."""


def make_acquirer(settings: Settings) -> Acquirer:
    """The configured adapter. Brands come from the adapter unless the contract narrows them.
    Network adapters are wrapped in a circuit breaker, so an outage answers in under a second."""
    brands = (
        frozenset(Brand(b.upper()) for b in settings.acquirer_brands) if settings.acquirer_brands else None
    )
    key = settings.acquirer_key.get_secret_value() or None
    if settings.acquirer == "simulator":
        from .issuer import issuer_from_settings
        from .simulator import DEFAULT_BRANDS, SimulatorAcquirer

        issuer = issuer_from_settings(settings)
        return SimulatorAcquirer(
            issuer,
            brands=brands or DEFAULT_BRANDS,
            latency_s=settings.simulator_latency_ms / 1000,
            timeout_s=settings.acquirer_timeout,
            fault_rate=settings.simulator_fault_rate,
        )
    inner: Acquirer
    if settings.acquirer == "http":
        from .http import HttpAcquirer
        from .simulator import DEFAULT_BRANDS

        inner = HttpAcquirer(
            settings.acquirer_url,
            api_key=key,
            brands=brands or DEFAULT_BRANDS,
            timeout_s=settings.acquirer_timeout,
            connect_timeout_s=settings.acquirer_connect_timeout,
        )
    elif settings.acquirer == "stripe":
        from .stripe import STRIPE_BRANDS, StripeAcquirer

        if key is None:
            raise AcquirerConfigError("the stripe acquirer needs D400_ACQUIRER_KEY (a secret key)")
        url = (
            settings.acquirer_url if "acquirer_url" in settings.model_fields_set else "https://api.stripe.com"
        )
        inner = StripeAcquirer(
            key,
            base_url=url,
            brands=brands or STRIPE_BRANDS,
            timeout_s=settings.acquirer_timeout,
            connect_timeout_s=settings.acquirer_connect_timeout,
            validity_days=settings.validity_days,
        )
    elif settings.acquirer == "iso8583":
        from .iso8583 import Iso8583Acquirer
        from .simulator import DEFAULT_BRANDS

        inner = Iso8583Acquirer(
            settings.acquirer_host,
            settings.acquirer_port,
            brands=brands or DEFAULT_BRANDS,
            timeout_s=settings.acquirer_timeout,
            connect_timeout_s=settings.acquirer_connect_timeout,
        )
    else:
        raise ValueError(f"acquirer {settings.acquirer!r} is not available in this build")
    from .breaker import CircuitBreaker

    return CircuitBreaker(inner, failures=settings.breaker_failures, reset_s=settings.breaker_reset_s)
