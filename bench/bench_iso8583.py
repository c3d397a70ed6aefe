"""ISO 8583 adapter: round trips per second over ONE TCP connection, pipelined by STAN.

Runs `d400 acquirer serve --protocol iso8583` (the same `serve()`) in a child process, then sends
0800 echoes and 0100 authorizations with N requests in flight on the one connection.
echo = transport only; verify = transport + issuer lookup; auth = + a hold (the simulated
issuer re-sums a card's holds on every authorization, so auth figures fall as holds pile up on
the one bench card: they measure the issuer, not the link).
Usage: python bench/bench_iso8583.py [--n 5000] [--concurrency 64] [--latency-ms 0]"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _servers import simulator_server  # noqa: E402

from d400tui import aio  # noqa: E402  (the loop the CLI runs on)
from d400tui.acquirers.base import PaymentSource  # noqa: E402
from d400tui.acquirers.iso8583 import Iso8583Acquirer  # noqa: E402
from d400tui.domain.cards import CardData, parse_expiry  # noqa: E402


async def run(port: int, n: int, concurrency: int) -> None:
    acq = Iso8583Acquirer("127.0.0.1", port, timeout_s=30)
    src = PaymentSource(card=CardData("5130100000000018", parse_expiry("06/31")))
    sem = asyncio.Semaphore(concurrency)
    run_id = uuid.uuid4().hex[:8]

    async def one(op: str, key: str) -> None:
        async with sem:
            if op == "echo":
                assert await acq.echo()
            elif op == "verify":
                assert (await acq.verify(src, key)).code == "00"
            else:
                assert (await acq.authorize(src, Decimal("0.01"), key)).code == "00"

    await acq.echo()  # connect
    for op in ("echo", "verify", "auth"):
        for c in (1, concurrency):
            sem = asyncio.Semaphore(c)
            count = min(n, 1000) if c == 1 or op == "auth" else n
            t0 = time.perf_counter()
            await asyncio.gather(*[one(op, f"b-{run_id}-{op}-{c}-{i}") for i in range(count)])
            dt = time.perf_counter() - t0
            print(f"  {op:6}  in flight {c:3}: {count:6} round trips in {dt:6.2f} s = {count / dt:8.0f} /s")
    await acq.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--latency-ms", type=float, default=0.0)
    a = p.parse_args()
    print(f"ISO 8583 over one TCP connection (host latency {a.latency_ms:g} ms)")
    with simulator_server("iso8583", a.latency_ms) as port:
        aio.run(run(port, a.n, a.concurrency))


if __name__ == "__main__":
    main()
