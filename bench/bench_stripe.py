"""Stripe: our adapter vs the official `stripe` SDK, the same authorize-and-capture of N
PaymentIntents (manual capture) on localstripe, each on a fresh localstripe process.

Our adapter makes 5 calls per intent (PaymentMethod, Customer with the PaymentMethod attached so
that the token can be used again, PaymentIntent create+confirm for that customer, a read of the
intent before capture — the safety check localstripe needs — and capture); the SDK run makes the
same 4 writes. Both send an Idempotency-Key on every POST. (Our adapter also asks
setup_future_usage=off_session for a card's first intent: localstripe refuses the parameter on the
first intents of a run, one per intent in flight at most, then the adapter stops sending it.)

Both sides get the same server: a fresh localstripe process each, started by the same launcher in
the same mode (bench/_servers.py). By default that launcher patches two costs out of localstripe,
both paid alike by the two clients and both growing with everything created before a request, so
that the figures measure the clients rather than the server's store:
- its disk persistence: out of the box it pickles its whole store to /tmp/localstripe.pickle
  after every write (measured here, 500 intents per side: 80 s for the three runs with the pickle,
  18 s without);
- its refunds lookup: every export of a Charge listed the charge's refunds by scanning the whole
  store; the launcher indexes refunds by charge (measured before the index: ~90/s over the first
  250 intents of a 2,000 run, ~14/s over the last 250).
`--persistent-store` starts the stock server, with both costs, to reproduce the earlier figures.
Usage: python bench/bench_stripe.py [--n 2000] [--concurrency 8] [--persistent-store]
(needs: pip install localstripe stripe, or the [bench] and [test] extras)"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _servers import localstripe_server  # noqa: E402

from d400tui.acquirers.base import Outcome, PaymentSource  # noqa: E402
from d400tui.acquirers.stripe import StripeAcquirer  # noqa: E402
from d400tui.domain.cards import CardData, parse_expiry  # noqa: E402

KEY = "sk_test_bench"
CARD = CardData("4242424242424242", parse_expiry("12/30"), "123")


def run_sdk(url: str, n: int) -> float:
    import stripe

    client = stripe.StripeClient(KEY, base_addresses={"api": url}, max_network_retries=0)
    run = uuid.uuid4().hex[:8]
    t0 = time.perf_counter()
    for i in range(n):
        key = f"sdk-{run}-{i}"
        pm = client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {"number": CARD.pan, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
            },
            options={"idempotency_key": f"{key}:pm"},
        )
        customer = client.v1.customers.create(
            params={"payment_method": pm.id, "metadata": {"d400_key": key}},
            options={"idempotency_key": f"{key}:customer"},
        )
        pi = client.v1.payment_intents.create(
            params={
                "amount": 1000,
                "currency": "eur",
                "customer": customer.id,
                "payment_method": pm.id,
                "payment_method_types": ["card"],
                "capture_method": "manual",
                "confirm": True,
                "metadata": {"d400_key": key},
            },
            options={"idempotency_key": key},
        )
        assert pi.status == "requires_capture", pi.status
        done = client.v1.payment_intents.capture(
            pi.id, params={"amount_to_capture": 1000}, options={"idempotency_key": f"{key}:cap"}
        )
        assert done.status == "succeeded"
    return time.perf_counter() - t0


async def run_ours(url: str, n: int, concurrency: int) -> float:
    acq = StripeAcquirer(KEY, url, max_connections=max(concurrency, 1))
    run = uuid.uuid4().hex[:8]
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            key = f"ours-{run}-{i}"
            h = await acq.authorize(PaymentSource(card=CARD), Decimal("10.00"), key)
            assert h.outcome is Outcome.APPROVED, h
            c = await acq.capture(h.reference, Decimal("10.00"), f"{key}:cap")
            assert c.outcome is Outcome.CAPTURED, c

    t0 = time.perf_counter()
    await asyncio.gather(*[one(i) for i in range(n)])
    dt = time.perf_counter() - t0
    await acq.close()
    return dt


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument(
        "--persistent-store",
        action="store_true",
        help="stock localstripe, pickling its store to disk on every write (slow, quadratic in --n)",
    )
    a = p.parse_args()
    mode = "stock: store pickled on every write" if a.persistent_store else "store in memory, refunds indexed by charge"
    print(f"authorize + capture of {a.n} PaymentIntents on localstripe (fresh server per run, {mode})")
    t_start = time.perf_counter()
    seconds: dict[str, float] = {}
    with localstripe_server(a.persistent_store) as url:
        seconds["stripe SDK (sequential)"] = run_sdk(url, a.n)
    with localstripe_server(a.persistent_store) as url:
        seconds["our adapter (sequential)"] = asyncio.run(run_ours(url, a.n, 1))
    with localstripe_server(a.persistent_store) as url:
        seconds[f"our adapter ({a.concurrency} in flight)"] = asyncio.run(run_ours(url, a.n, a.concurrency))
    figures = {name: a.n / dt for name, dt in seconds.items()}
    for name, ops in figures.items():
        print(f"  {name:28} {ops:8.1f} authorize+capture/s  ({seconds[name]:.1f} s)")
    sdk = figures["stripe SDK (sequential)"]
    print(f"  ratio ours/SDK, sequential: {figures['our adapter (sequential)'] / sdk:.2f}")
    print(
        f"  ratio ours/SDK, ours with {a.concurrency} in flight: "
        f"{figures[f'our adapter ({a.concurrency} in flight)'] / sdk:.2f}"
    )
    print(f"  wall time, servers included: {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
