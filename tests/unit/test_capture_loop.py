"""The capture run's database side (engine.capture_loop): on PostgreSQL a claim and a write go at
once, on SQLite one piece at a time; every claim's captures reach a write, each once, and what a
claim decided without a call is counted on the lease with a write."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from d400tui.domain import model as m
from d400tui.engine.capture_batch import Answered, Sent, Window
from d400tui.engine.capture_loop import Pipeline
from d400tui.store.capture_batch import CaptureCandidate, LiveAuth


def _sent(k: int) -> Sent:
    auth = LiveAuth(k, m.AuthState.APPROVED, Decimal("10.00"), f"k{k}", "ref", None, m.VoidState.NONE, False)
    return Sent(CaptureCandidate(k, k, 1, Decimal("10.00"), auth), auth)


class Fake:
    """Claims of `per` captures out of `total` (plus `decided` each decided without a call), a
    write that takes a moment; records what runs at once."""

    def __init__(self, total: int, per: int, decided: int = 0) -> None:
        self.total, self.per, self.decided = total, per, decided
        self.next = 1
        self.busy: set[str] = set()
        self.together = 0  # a claim and a write seen at once
        self.written: list[int] = []
        self.owed = 0
        self.claims = 0  # claims that took something

    async def _piece(self, what: str) -> None:
        self.busy.add(what)
        self.together += self.busy == {"claim", "write"}
        await asyncio.sleep(0.005)
        self.together += self.busy == {"claim", "write"}
        self.busy.discard(what)

    async def claim(self, n: int, after: int) -> tuple[list[Sent], int, int]:
        await self._piece("claim")
        if self.next > self.total:
            return [], 0, 0
        got = [_sent(k) for k in range(self.next, min(self.total + 1, self.next + min(n, self.per)))]
        self.next += len(got)
        self.claims += 1
        return got, got[-1].auth.id, self.decided

    async def write(self, batch: list[Answered], owed: int) -> None:
        await self._piece("write")
        self.written += [x.sent.auth.id for x in batch]
        self.owed += owed


async def _run(overlap: bool, fake: Fake, concurrency: int = 4) -> Pipeline:
    window = Window(concurrency + concurrency // 2, backlog=4 * concurrency)
    pipe = Pipeline(1, window, concurrency, max(1, concurrency // 2), 8, fake.claim, fake.write, overlap)

    async def caller() -> None:
        while (s := await pipe.queue.get()) is not None:
            await asyncio.sleep(0.01)  # the acquirer's latency
            pipe.answered(Answered(s, None))

    await asyncio.wait_for(asyncio.gather(pipe.run(), *(caller() for _ in range(concurrency))), 30)
    return pipe


@pytest.mark.parametrize("overlap", [True, False])
async def test_every_claimed_capture_is_written_once(overlap: bool) -> None:
    fake = Fake(total=57, per=5, decided=1)
    pipe = await _run(overlap, fake)
    assert sorted(fake.written) == list(range(1, 58))
    assert pipe.ended and not pipe.done and pipe.window.out == 0 and pipe.window.unwritten == 0
    assert fake.owed + pipe.owed == (fake.claims if overlap else 0)  # serial: the claim renews the lease itself


async def test_postgresql_claims_while_a_batch_is_written() -> None:
    fake = Fake(total=200, per=6)
    await _run(True, fake)
    assert fake.together > 0


async def test_sqlite_does_one_piece_at_a_time() -> None:
    fake = Fake(total=200, per=6)
    await _run(False, fake)
    assert fake.together == 0
