"""Acquirer adapters, one per module, all behind the protocol in `base`; here the factory that
builds the configured one and the check `d400 acquirer check` runs on it."""

from __future__ import annotations

import asyncio
from typing import Any

from d400tui.config import Settings
from d400tui.domain.cards import Brand

from .base import Acquirer, AcquirerUnavailable


class AcquirerConfigError(ValueError):
    """The settings name an acquirer that cannot be built as configured (said in one line)."""


def make_acquirer(settings: Settings) -> Acquirer:
    """The configured adapter. Brands are the adapter's DEFAULT_BRANDS unless the contract narrows them.
    Network adapters are wrapped in a circuit breaker, so an outage answers in under a second."""
    brands = frozenset(Brand(b.upper()) for b in settings.acquirer_brands) if settings.acquirer_brands else None
    key = settings.acquirer_key.get_secret_value() or None
    if settings.acquirer == "simulator":
        from .simulator import simulator_from_settings

        return simulator_from_settings(settings, brands)
    inner: Acquirer
    if settings.acquirer == "http":
        from .http import HttpAcquirer

        inner = HttpAcquirer(
            settings.acquirer_url,
            api_key=key,
            brands=brands,
            timeout_s=settings.acquirer_timeout,
            connect_timeout_s=settings.acquirer_connect_timeout,
        )
    elif settings.acquirer == "stripe":
        from .stripe import StripeAcquirer

        if key is None:
            raise AcquirerConfigError("the stripe acquirer needs D400_ACQUIRER_KEY (a secret key)")
        url = settings.acquirer_url if "acquirer_url" in settings.model_fields_set else "https://api.stripe.com"
        inner = StripeAcquirer(
            key,
            base_url=url,
            brands=brands,
            timeout_s=settings.acquirer_timeout,
            connect_timeout_s=settings.acquirer_connect_timeout,
            validity_days=settings.validity_days,
        )
    elif settings.acquirer == "iso8583":
        from .iso8583 import Iso8583Acquirer

        inner = Iso8583Acquirer(
            settings.acquirer_host,
            settings.acquirer_port,
            brands=brands,
            timeout_s=settings.acquirer_timeout,
            connect_timeout_s=settings.acquirer_connect_timeout,
        )
    else:
        raise ValueError(f"acquirer {settings.acquirer!r} is not available in this build")
    from .breaker import CircuitBreaker

    return CircuitBreaker(inner, failures=settings.breaker_failures, reset_s=settings.breaker_reset_s)


async def check(settings: Settings) -> dict[str, Any]:
    """Which acquirer is configured, whether it answers, which brands it takes.

    Returns {"acquirer": name, "target": where (never a secret), "answers": bool,
    "detail": text, "brands": [brand, ...]}. Never raises for an unreachable acquirer."""
    from .breaker import CircuitBreaker

    acquirer = make_acquirer(settings)
    inner = acquirer.inner if isinstance(acquirer, CircuitBreaker) else acquirer
    target = {
        "simulator": str(settings.simulator_path),
        "http": settings.acquirer_url,
        "stripe": getattr(inner, "base_url", ""),
        "iso8583": f"{settings.acquirer_host}:{settings.acquirer_port}",
    }[settings.acquirer]
    result: dict[str, Any] = {
        "acquirer": acquirer.name,
        "target": target,
        "answers": False,
        "detail": "",
        "brands": sorted(b.value for b in acquirer.brands),
    }
    try:
        ping = getattr(inner, "ping", None)
        if ping is None:
            result["answers"], result["detail"] = True, "in-process"
        else:
            result["detail"] = await asyncio.wait_for(ping(), settings.acquirer_timeout)
            result["answers"] = True
    except (AcquirerUnavailable, TimeoutError) as e:
        result["detail"] = str(e) or "no answer"
    finally:
        await acquirer.close()
        issuer = getattr(inner, "issuer", None)
        if issuer is not None:
            issuer.close()
    return result
