"""Issue 12.1: the capture run of N instalments shipped in parcels, at 50 ms simulated acquirer
latency and concurrency 64 — captures per second and the ratio to concurrency ÷ latency. Each
order ships its first line (a partial capture that keeps the rest held, or the last parcel of a
one-line order), then the rest (the last parcel): two runs, both timed.

Set-up (not timed): N all-due orders (engine.demo.generate_orders) authorized by a pre-check at zero
latency through the in-process simulator, each shipped by `_ship_all`: the parcel planned by the
domain's `plan_parcel` as `engine.ship` plans it, written with store.shipments.add_shipment, 500 orders
a transaction (`engine.ship` per order — an ORM load, an audit record — took ~15 ms each: 5 minutes
of set-up for 20,000); the first order is shipped by `engine.ship` itself.

usage: python bench/bench_shipped_capture.py [--quick] [--orders 20000] [--latency-ms 50]
       [--concurrency 64] [--db sqlite|postgres]"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._workload import bench_home, synthetic_cards, tokens  # noqa: E402
from bench.bench_capture import PG_URL, _drop_pg, _pg_database  # noqa: E402
from d400tui import aio  # noqa: E402


def _ship_all(engine, orders: list[int], final: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Ship each order's first line (`final`: close the shipping of those not done yet)."""
    from datetime import datetime

    from sqlalchemy import select

    from d400tui.domain.shipments import OrderedLine, Shipment, all_shipped, plan_parcel
    from d400tui.store import shipments
    from d400tui.store import tables as t

    ol, now = t.order_lines, datetime.now()
    for k in range(0, len(orders), 500):
        part = orders[k : k + 500]
        with engine.db.uow() as uow:
            lines: dict[int, list[OrderedLine]] = {}
            q = select(ol.c.order_id, ol.c.line_no, ol.c.article_code, ol.c.quantity, ol.c.unit_price, ol.c.vat_rate)
            for r in uow.session.execute(q.where(ol.c.order_id.in_(part)).order_by(ol.c.order_id, ol.c.line_no)):
                lines.setdefault(r[0], []).append(OrderedLine(*r[1:]))
            for oid in part:
                ordered = lines[oid]
                if final:
                    if shipments.shipping_state(uow.session, oid).final:
                        continue
                    shipments.add_shipment(uow.session, Shipment(oid, now, "OPER1", True, Decimal("0.00")))
                    continue
                parcel = plan_parcel(ordered, {}, [(ordered[0].article_code, ordered[0].quantity)])
                done = all_shipped(ordered, {ln.line_no: ln.quantity for ln in parcel})
                amount = sum((ln.amount for ln in parcel), Decimal("0.00"))
                shipments.add_shipment(uow.session, Shipment(oid, now, "OPER1", done, amount, tuple(parcel)))
            uow.commit()


async def bench(db: str, n: int, latency_ms: float, concurrency: int, pg_url: str) -> None:
    from d400tui.config import Settings
    from d400tui.domain import model as m
    from d400tui.engine import open_engine
    from d400tui.engine.capture import Capture
    from d400tui.engine.demo import generate_orders

    home = bench_home(f"shipped-{db}")
    pans = synthetic_cards(home / "cards.csv", min(n, 20000))
    os.environ["D400_SIMULATOR_CARDS"] = str(home / "cards.csv")
    os.environ["D400_SIMULATOR_LATENCY_MS"] = "0"
    pg_name = None
    if db == "postgres":
        url, pg_name = _pg_database(pg_url)
        os.environ["D400_DB_URL"] = url
    else:
        os.environ.pop("D400_DB_URL", None)
    try:
        engine = open_engine(Settings())
        super1, oper = m.Actor("SUPER1", True), m.Actor("OPER1")
        t0 = time.perf_counter()
        cards = await tokens(engine.acquirer, pans, concurrency)
        today = date.today()
        generate_orders(engine.db, n, cards, today, all_due=True)
        pre = await engine.precheck(super1, today, concurrency)
        assert pre.approved == n, (pre.approved, pre.refused, pre.unavailable)
        orders = sorted({o for o, _, _ in Capture(engine).selection(today)})
        first = engine.get_order(orders[0]).lines[0]
        engine.ship(oper, orders[0], [(first.article_code, first.quantity)])  # the engine's way, to compare
        _ship_all(engine, orders[1:])
        setup = time.perf_counter() - t0
        engine.acquirer.latency_s = latency_ms / 1000  # type: ignore[attr-defined]
        figures = []
        for parcel in ("first parcels", "last parcels"):
            t0 = time.perf_counter()
            run = await engine.capture(super1, today, concurrency)
            figures.append((parcel, run, time.perf_counter() - t0))
            if parcel == "first parcels":
                _ship_all(engine, orders, final=True)
                engine.acquirer.latency_s = latency_ms / 1000  # type: ignore[attr-defined]
        live = engine.acquirer.issuer.live_holds()  # type: ignore[attr-defined]
        await engine.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
        if pg_name:
            _drop_pg(pg_url, pg_name)
    limit = concurrency / (latency_ms / 1000)
    print(
        f"shipped capture on {db}: {n} orders, latency {latency_ms:g} ms, concurrency {concurrency}"
        f" (set-up {setup:.1f} s)"
    )
    for parcel, run, elapsed in figures:
        rate = (run.approved + run.skipped + getattr(run, "released", 0)) / elapsed
        print(
            f"  {parcel}: captured {run.approved}, refused {run.refused}, unavailable {run.unavailable}, "
            f"skipped {run.skipped}, released {getattr(run, 'released', 0)} in {elapsed:.2f} s — {rate:.1f} "
            f"instalments/s, ratio {rate / limit:.3f}"
        )
    done = sum(r.approved + r.skipped + getattr(r, "released", 0) for _, r, _ in figures)
    took = sum(e for _, _, e in figures)
    print(f"  both runs: {done} instalments in {took:.2f} s — {done / took:.1f}/s, ratio {done / took / limit:.3f}")
    print(f"  live holds left on the issuer: {len(live)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg-url", default=PG_URL)
    ap.add_argument("--quick", action="store_true", help="300 orders: seconds")
    a = ap.parse_args()
    if a.quick:
        a.orders = 300
    aio.run(bench(a.db, a.orders, a.latency_ms, a.concurrency, a.pg_url))


if __name__ == "__main__":
    main()
