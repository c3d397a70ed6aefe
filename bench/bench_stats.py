"""d400 stats on N synthetic authorizations spread over 40 days (default 200,000): insert them, then
time engine.stats.supervision twice. Runs on D400_HOME / D400_DB_URL: use a throw-away database.
usage: python bench/bench_stats.py [N]"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from datetime import datetime, timedelta

from sqlalchemy import insert

from d400tui.config import Settings
from d400tui.domain import model as m
from d400tui.domain.cards import card_from_entry
from d400tui.engine import open_engine
from d400tui.engine.stats import supervision
from d400tui.store import tables as t

CATEGORIES = [("APPROVED", "00")] * 8 + [("CEILING", "51"), ("UNAVAILABLE", "91"), ("OTHER", "05"), ("BLOCKED", "43")]


def main(n: int) -> None:
    e = open_engine(Settings())
    card = card_from_entry("4970100000000014", "12/30", None, e.today())
    oid = asyncio.run(e.place_order(m.Actor("OPER1"), 100001, [("BON0001", 1)], card)).order.id
    now, rnd = datetime.now(), random.Random(1)
    rows = []
    for i in range(n):
        req = now - timedelta(seconds=rnd.randrange(40 * 86400))
        cat, code = rnd.choice(CATEGORIES)
        rows.append(dict(order_id=oid, kind="AUTHORIZE", state="APPROVED", amount=100, captured_amount=0,
                         idempotency_key=f"b{i}", acquirer="simulator", card_brand="VISA", card_first6="497010",
                         card_last4="0014", card_expiry="12/30", response_code=code, category=cat, requested_at=req,
                         answered_at=req + timedelta(milliseconds=rnd.randrange(50, 900)), void_state="NONE",
                         operator="OPER1", capture_pending=False))
    t0 = time.perf_counter()
    with e.db.engine.begin() as conn:
        for k in range(0, n, 20_000):
            conn.execute(insert(t.authorizations), rows[k:k + 20_000])
    print(f"insert {n} authorizations: {time.perf_counter() - t0:.1f} s ({e.db.dialect})")
    for _ in range(2):
        t0 = time.perf_counter()
        s = supervision(e, m.Actor("SUPER1", True))
        print(f"stats: {time.perf_counter() - t0:.2f} s (period requested {s.period.requested})")
    e.db.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
