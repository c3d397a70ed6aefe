"""The acquirer contract suite's shared pieces: keys, test cards, the backend description, a
loop thread for servers that outlive each test's loop, and the count of holds made under a key."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from d400tui.acquirers.base import Acquirer
from d400tui.acquirers.stripe import KEY_META
from d400tui.domain.cards import CardData, parse_expiry
from d400tui.simulator.issuer import Issuer

API_KEY = "test-api-key"
STRIPE_KEY = "sk_test_contract"
BACKENDS = ["simulator", "http", "iso8583", "stripe"]


def card(pan: str, expiry: str = "12/30") -> CardData:
    return CardData(pan, parse_expiry(expiry), "123")


class LoopThread:
    """An asyncio loop in a daemon thread, for servers that must outlive each test's loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class Backend:
    name: str
    make: Callable[..., Acquirer]  # make(timeout_s=..., **kw) → a fresh adapter
    approve: CardData
    refusals: list[tuple[CardData, str]]  # card → expected field-39 code
    hang: CardData | None  # a card the issuer never answers (None: the provider cannot do it)
    count_holds: Callable[[str], int]  # authorizations made under an idempotency key
    issuer: Issuer | None = None
    extra: dict[str, Any] = field(default_factory=dict)


ISSUER_REFUSALS = [
    (card("4970100000000030"), "41"),  # lost
    (card("4970100000000048"), "43"),  # stolen
    (card("4970100000000055"), "51"),  # insufficient funds
    (card("4970100000000063"), "05"),  # do not honour
    (card("4970100000000071"), "91"),  # issuer unavailable
    (card("4970100000000097"), "57"),  # not allowed for distance selling
    (card("4970100000000014", "11/30"), "54"),  # wrong expiry
    (card("4970100000000113"), "14"),  # unknown number
]


def _issuer_holds(issuer: Issuer) -> Callable[[str], int]:
    def count(key: str) -> int:
        return 1 if key in issuer.hold_keys() else 0

    return count


def stripe_count(url: str) -> Callable[[str], int]:
    def count(key: str) -> int:
        n, after = 0, None
        with httpx.Client(base_url=url, auth=(STRIPE_KEY, "")) as c:
            while True:
                params = {"limit": "100", **({"starting_after": after} if after else {})}
                body = c.get("/v1/payment_intents", params=params).json()
                n += sum(1 for pi in body["data"] if (pi.get("metadata") or {}).get(KEY_META) == key)
                if not body.get("has_more") or not body["data"]:
                    return n
                after = body["data"][-1]["id"]

    return count
