"""What the batch runs (pre-check, capture) share: the engine services they use, named as a
protocol so they depend on no engine class, and a garbage collector kept quiet for a run."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from typing import Protocol

from d400tui.acquirers.base import Acquirer
from d400tui.config import Settings
from d400tui.domain import model as m
from d400tui.domain.message import Message
from d400tui.domain.validity import AuthType, Initiator
from d400tui.store.db import UnitOfWork

Progress = Callable[[int, int], None]


class BatchContext(Protocol):
    """Exactly what a batch run asks of the engine that starts it."""

    acquirer: Acquirer
    secondary: Acquirer | None
    settings: Settings
    clock: Callable[[], datetime]

    def acquirer_for(self, name: str) -> Acquirer:
        """The acquirer that holds an authorization made under `name`."""
        ...

    def token_acquirer(self, issuer: str | None) -> Acquirer | None:
        """The acquirer that issued a stored card token (None: no longer configured)."""
        ...

    def today(self) -> date: ...

    def unit(self, lock: bool = False) -> AbstractContextManager[UnitOfWork]:
        """A unit of work whose lost optimistic race reads as ConcurrentChange."""
        ...

    def label(self, code: str) -> str: ...

    def validity(
        self, brand: str, initiator: Initiator = ..., auth_type: AuthType = ..., acquirer: str | None = ...
    ) -> timedelta:
        """The validity model's window on `acquirer`, the one that approved (None: the first)."""
        ...

    def require_supervisor(self, actor: m.Actor, what: Message) -> None: ...

    async def void(self, actor: m.Actor, order_id: int, auth_id: int) -> object:
        """Void one live authorization now (marked pending first: the reconciler finishes a failure)."""
        ...


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """A run keeps thousands of calls in flight on one event loop; the cyclic collector's full
    passes over the long-lived objects (engine, mappers, caches) paused that loop up to 100 ms,
    1.3 s per 20,000 authorizations (measured, bench/bench_engine.py). Objects alive when the run
    starts are frozen out of collection for its length; new garbage is still collected. No full
    collection first: it cost 0.46 s per run in a large process (a TUI, a test worker), and any
    garbage frozen with the rest is collected once the run unfreezes it."""
    frozen = gc.isenabled() and gc.get_freeze_count() == 0
    if frozen:
        gc.freeze()
    try:
        yield
    finally:
        if frozen:
            gc.unfreeze()
