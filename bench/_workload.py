"""Shared set-up for the engine benches: a throw-away database, a card file of N synthetic
Luhn-valid cards (so no single card's ceiling or hold list dominates), tokens, due orders."""

from __future__ import annotations

import csv
import os
import random
import tempfile
from pathlib import Path

from stdnum import luhn


def synthetic_cards(path: Path, n: int, ceiling: int = 100000, seed: int = 7) -> list[str]:
    """Write a card file in the shape of data/test_cards.csv; returns the PANs."""
    rnd = random.Random(seed)
    pans: list[str] = []
    seen = set()
    while len(pans) < n:
        body = "497011" + f"{rnd.randrange(10**9):09d}"
        pan = body + luhn.calc_check_digit(body)
        if pan not in seen:
            seen.add(pan)
            pans.append(pan)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["pan", "brand", "expiry", "ceiling_30d", "behaviour", "code", "delay_s"])
        for p in pans:
            w.writerow([p, "VISA", "12/30", ceiling, "approves", "00", "0"])
    return pans


async def tokens(acquirer, pans: list[str], concurrency: int) -> list[tuple[str, str, str, str, str]]:  # type: ignore[no-untyped-def]
    """Demo card rows (token, brand, first 6, last 4, expiry), tokens straight from the acquirer
    (a zero-amount verify per card, `concurrency` at a time)."""
    import asyncio

    from d400tui.acquirers.base import PaymentSource
    from d400tui.domain.cards import CardData, parse_expiry

    exp = parse_expiry("12/30")
    gate = asyncio.Semaphore(concurrency)

    async def tokenize(i: int, p: str) -> tuple[str, str, str, str, str]:
        async with gate:
            resp = await acquirer.verify(PaymentSource(card=CardData(p, exp)), f"bench-tok-{i}")
        assert resp.token, resp
        return (resp.token, "VISA", p[:6], p[-4:], "12/30")

    return list(await asyncio.gather(*(tokenize(i, p) for i, p in enumerate(pans))))


def bench_home(name: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix=f"d400-bench-{name}-"))
    os.environ["D400_HOME"] = str(d)
    os.environ["D400_CONFIG"] = str(d / "absent.toml")
    return d


def reference_loop_ms() -> float:
    """CPU time of a fixed pure-Python loop: the speed of this machine at this moment. On shared
    virtual machines it moved by half within one session here (0.76-1.15 s for 10M additions), and
    the latency-bound figures move with it; print it beside them."""
    import time

    t0 = time.process_time()
    total = 0
    for i in range(2_000_000):
        total += i
    return (time.process_time() - t0) * 1000
