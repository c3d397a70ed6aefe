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


def secondary_name(settings: Settings) -> str | None:
    """The secondary's name on the authorizations it holds: its adapter's, with "-2" when the
    first acquirer is of the same kind (so voids, captures and reconciliation find it again)."""
    kind = settings.secondary_acquirer
    if kind is None:
        return None
    return f"{kind}-2" if kind == settings.acquirer else kind


def make_secondary(settings: Settings) -> Acquirer | None:
    """The secondary acquirer of the settings (`secondary_*`), or None when none is named. Built as
    the first one is (circuit breaker included), from its own URL, host, key, brands and state file."""
    name = secondary_name(settings)
    if name is None:
        return None
    update: dict[str, Any] = {
        "acquirer": settings.secondary_acquirer,
        "acquirer_url": settings.secondary_url,
        "acquirer_host": settings.secondary_host,
        "acquirer_port": settings.secondary_port,
        "acquirer_key": settings.secondary_key,
        "acquirer_brands": settings.secondary_brands,
        "simulator_db": settings.secondary_simulator_db or settings.simulator_path.with_name("simulator-2.db"),
    }
    if settings.secondary_acquirer == "stripe" and "secondary_url" not in settings.model_fields_set:
        update["acquirer_url"] = "https://api.stripe.com"  # Stripe's own API, as for the first acquirer
    acquirer = make_acquirer(settings.model_copy(update=update))
    acquirer.name = name
    return acquirer


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
