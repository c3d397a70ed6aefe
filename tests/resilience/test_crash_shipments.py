"""kill -9 of a capture run in the middle of a parcel (issue 12.1): the issuer took the parcel, the
run died before writing it down. The order cannot be cancelled meanwhile, the reconciler records the
parcel once under its capture row's key, the next run captures the next parcel and releases nothing
twice; the invariants of bench/invariants.py hold throughout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bench.invariants import check_invariants
from d400tui.engine import USER_ERRORS
from d400tui.store import shipments as store
from tests.support.demo import OPER, SUPER, card

ROOT = Path(__file__).resolve().parents[2]
LINES = [("BON0001", 2), ("GRI0002", 1), ("RID0003", 1)]

_KILLER = """
import asyncio, os, signal, sys
from datetime import date
from d400tui.engine import open_engine
from d400tui.domain import model as m

async def main() -> None:
    e = open_engine()
    inner = e.acquirer.capture_partial

    async def capture_partial(reference, amount, key):
        await inner(reference, amount, key)      # the issuer has taken the parcel...
        os.kill(os.getpid(), signal.SIGKILL)     # ...and the run dies before writing it down

    e.acquirer.capture_partial = capture_partial
    await e.capture(m.Actor("SUPER1", True), date.fromisoformat(sys.argv[1]), concurrency=1)

asyncio.run(main())
"""


@pytest.mark.parametrize("when", ["before the reconciler", "after the reconciler"])
async def test_a_run_killed_mid_parcel_captures_it_once(engine, issuer, today, when: str) -> None:  # type: ignore[no-untyped-def]
    placed = await engine.place_order(OPER, 100001, LINES, card("4970100000000014"))
    oid = placed.order.id
    engine.ship(OPER, oid, [("BON0001", 2)])
    r = subprocess.run(
        [sys.executable, "-c", _KILLER, today.isoformat()],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]
    assert [h[3] for h in issuer.holds()] == [14398]  # taken at the issuer, unknown to the database
    with pytest.raises(USER_ERRORS):
        await engine.cancel_order(OPER, oid, "client")  # the capture may have gone through
    if when == "after the reconciler":
        await engine.reconcile(SUPER, grace_s=0)
        with engine.db.uow() as uow:
            (cap,) = store.captures_of(uow.session, oid)
        assert cap.state.value == "CAPTURED" and cap.amount == Decimal("143.98")
    rerun = await engine.capture(SUPER, today)
    assert rerun.approved == 0  # the parcel is not sent again (in flight, or already recorded)
    await engine.reconcile(SUPER, grace_s=0)
    engine.ship(OPER, oid, [("GRI0002", 1), ("RID0003", 1)])
    last = await engine.capture(SUPER, today)
    assert last.approved == 1
    assert issuer.live_holds() == {} and [h[3] for h in issuer.holds()] == [29991]
    assert [str(v) for v in check_invariants(engine.db, issuer, settled=True)] == []
