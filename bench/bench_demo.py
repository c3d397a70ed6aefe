"""`d400 db demo --orders N` on SQLite and PostgreSQL: the wall time of generate_orders (rows
built as tuples, COPY / the driver's executemany, ANALYZE at the end) on a fresh migrated database,
and its ratio to the issue's goal (1,000,000 orders in 2 minutes, scaled to N). The load average is
printed beside it: on a shared 2-core machine the same load moved by half within one session.
Issue 14's baseline (the Core executemany of mapped-type rows): 325 s SQLite, 482 s PostgreSQL for 1M.

usage: python bench/bench_demo.py [--orders N | --quick] [--only sqlite|postgresql]
PostgreSQL: a database d400bench_demo is made (and dropped) on $D400_BENCH_PG_URL or
$D400_TEST_PG_URL.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from d400tui.config import Settings  # noqa: E402
from d400tui.engine.bootstrap import open_database  # noqa: E402
from d400tui.engine.demo import generate_orders  # noqa: E402

GOAL_S, GOAL_ORDERS = 120.0, 1_000_000
# the demo's two cards, as demo_tokens returns them from the simulator (token, brand, 6, 4, expiry)
CARDS = [("tok_demo_visa", "VISA", "497010", "0015", "12/30"), ("tok_demo_mc", "MASTERCARD", "513010", "0019", "06/31")]


def pg_database(base: str, name: str, drop: bool = False) -> str:
    """A fresh database `name` on the server of `base` (dropped when `drop`); returns its URL."""
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


def measure(url: str, n: int) -> tuple[float, float, int, int]:
    """(wall s, CPU s of this process, orders, due card instalments) of one load."""
    db = open_database(Settings(db_url=url, _env_file=None))  # type: ignore[call-arg]
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        done = generate_orders(db, n, CARDS)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        with db.engine.connect() as conn:
            due = conn.execute(text("SELECT count(*) FROM instalments WHERE run_scope = 'CARD'")).scalar_one()
        return wall, cpu, done, int(due)
    finally:
        db.dispose()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--orders", type=int, default=GOAL_ORDERS)
    p.add_argument("--quick", action="store_true", help="20,000 orders")
    p.add_argument("--only", choices=["sqlite", "postgresql"])
    args = p.parse_args()
    n = 20_000 if args.quick else args.orders
    goal = GOAL_S * n / GOAL_ORDERS
    pg_base = os.environ.get("D400_BENCH_PG_URL") or os.environ.get("D400_TEST_PG_URL")
    print(f"db demo --orders {n:,}; goal {goal:.1f} s (2 min per million)")
    print(f"{'database':<11} {'wall s':>8} {'cpu s':>7} {'orders/s':>9} {'ratio':>6} {'due':>8}  load avg before→after")
    for dialect in ("sqlite", "postgresql"):
        if args.only and args.only != dialect:
            continue
        if dialect == "sqlite":
            folder = tempfile.mkdtemp(prefix="d400-bench-demo-")
            url = f"sqlite:///{folder}/demo.db"
        elif pg_base:
            url = pg_database(pg_base, "d400bench_demo")
        else:
            print("postgresql  skipped: set D400_BENCH_PG_URL or D400_TEST_PG_URL")
            continue
        before = os.getloadavg()[0]
        try:
            wall, cpu, done, due = measure(url, n)
        finally:
            if dialect == "postgresql" and pg_base:
                pg_database(pg_base, "d400bench_demo", drop=True)
        after = os.getloadavg()[0]
        print(
            f"{dialect:<11} {wall:>8.1f} {cpu:>7.1f} {done / wall:>9,.0f} {wall / goal:>6.2f} {due:>8,}"
            f"  {before:.1f}→{after:.1f}"
        )
    print("ratio = wall / goal: ≤ 1.00 meets it")


if __name__ == "__main__":
    main()
