"""Database work of the pre-check per authorization, and the runs' selection times, SQLite and
PostgreSQL side by side, this tree against a baseline commit (issue 14 points 3 and 4).

Per authorization: a pre-check run's claims and answer writes exactly as Precheck.run makes them
(Precheck._claim, Precheck._flush: the same transactions, statements and audit records), with the
acquirer taken out — every answer an approval made up at once — so what is timed is the database
work and the Python around it, claim and write, one after the other; beside the wall times, this
process's CPU time per authorization (on SQLite all of the database work, on PostgreSQL the
client's share), steadier than wall time on a shared machine. Selections: count of due
instalments, the dry-run selection, one claim, the end-of-run counts and the capture worklist on
the same database, best of 3.

The data: N due phone card orders (generate_orders(all_due=True)) plus 4 × N of history (mixed
demo orders) on a fresh database per run. The baseline is run in a subprocess on a `git archive`
of BASELINE, on its own fresh database (its own migrations).

usage: python bench/bench_selection.py [--due N] [--quick] [--only sqlite|postgresql] [--no-baseline]
                                      [--max-claims N] [--baseline COMMIT] [--vacuum]
A million orders: --due 200000 (with 800,000 of history); --max-claims 20000 keeps the claim and
write part to a sample while the selections read the whole million.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "338f7f1"  # the branch point: claims joined orders, one UPDATE per answer row


def _best(f, k: int = 3) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(k):
        t0 = time.perf_counter()
        f()
        out.append(time.perf_counter() - t0)
    return min(out) * 1000


def measure(url: str, due: int, max_claims: int = 0) -> dict[str, float]:
    """Runs in the tree on sys.path (this one or the baseline's)."""
    from d400tui.acquirers.base import AcquirerResponse, Outcome
    from d400tui.config import Settings
    from d400tui.domain import model as m
    from d400tui.engine import open_engine
    from d400tui.engine.demo import generate_orders, seed_demo_operators, seed_reference
    from d400tui.engine.precheck import Precheck, _Done
    from d400tui.store import claims

    home = tempfile.mkdtemp(prefix="d400-bench-sel-")
    os.environ.update(D400_HOME=home, D400_CONFIG=f"{home}/absent.toml", D400_DB_URL=url)
    engine = open_engine(Settings())
    seed_reference(engine.db)
    seed_demo_operators(engine.db)
    today = date.today()
    cards = [("tok_bench", "VISA", "497010", "0015", "12/30")]
    generate_orders(engine.db, 4 * due, cards, today, seed=1)
    generate_orders(engine.db, due, cards, today, seed=2, all_due=True)
    with engine.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")  # as the new generator does; the baseline's did not
        if os.environ.get("D400_BENCH_VACUUM") and engine.db.dialect == "postgresql":
            # --vacuum: the visibility map set, as autovacuum leaves a table at rest (a fresh one
            # is read row by row by the index-only counts while autovacuum races the bench)
            conn.exec_driver_sql("VACUUM")
    now = engine.clock()
    since = now
    pc = Precheck(engine)
    sel: dict[str, float] = {}
    with engine.db.uow() as uow:
        s = uow.session
        sel["count due"] = _best(lambda: claims.count_precheck_due(s, today, -1, since, now))
        sel["selection (dry run)"] = _best(lambda: claims.precheck_selection(s, today, now))
        worklist = getattr(claims, "capture_worklist", None)  # the baseline's place
        if worklist is None:
            from d400tui.store.capture_batch import capture_worklist as worklist  # since the capture room
        sel["capture worklist"] = _best(lambda: worklist(s, today))
    run = m.PrecheckRun("PRECHECK", today, now, "SUPER1", 64)
    with engine.db.uow() as uow:
        uow.runs.add(run)
        uow.commit()
    run_id = run.id or 0
    with engine.db.uow() as uow:
        s = uow.session
        t0 = time.perf_counter()
        claims.claim_precheck(s, run_id, today, since, now, 128, 0, "simulator", "SUPER1", "bench", "no token")
        sel["one claim of 128"] = (time.perf_counter() - t0) * 1000
        uow.rollback()
    ok = AcquirerResponse(Outcome.APPROVED, "00", "ref", "A1")
    flush_args: tuple[object, ...] = ()
    if "lease" in inspect.signature(pc._flush).parameters:  # since the workers: writes check the lease
        from d400tui.engine.workers import Lease

        lease = Lease(pc.e, run_id, 64, 600.0)
        lease.join()
        flush_args = (lease,)
    claim_s = write_s = 0.0
    n, after = 0, 0
    cpu = time.process_time()
    while True:
        t0 = time.perf_counter()
        got, last = pc._claim(run_id, today, since, 128, "SUPER1", after)
        claim_s += time.perf_counter() - t0
        if not last or (max_claims and n >= max_claims):
            break
        after = last
        t0 = time.perf_counter()
        pc._flush(run_id, [_Done(c, ok, None) for c in got], "SUPER1", *flush_args)
        write_s += time.perf_counter() - t0
        n += len(got)
    cpu = time.process_time() - cpu
    with engine.db.uow() as uow:
        t0 = time.perf_counter()
        ends = claims.precheck_end_counts(uow.session, today, run_id)  # type: ignore[call-arg]
        sel["end-of-run counts"] = (time.perf_counter() - t0) * 1000
    del ends
    engine.db.dispose()
    per = 1000 / max(n, 1)
    return dict(n=n, claim_ms=claim_s * per, write_ms=write_s * per, cpu_ms=cpu * per, **sel)


def _baseline_tree(commit: str = BASELINE) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="d400-bench-base-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "d400tui"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def _end_counts_compat() -> None:
    """The baseline's precheck_end_counts took no run id."""
    from d400tui.store import claims

    if "run_id" not in claims.precheck_end_counts.__code__.co_varnames:
        old = claims.precheck_end_counts
        claims.precheck_end_counts = lambda s, d, run_id: old(s, d)  # type: ignore[assignment,misc]


def _drop(base: str, name: str) -> None:
    """WITH (FORCE) may not end an autovacuum worker busy on the fresh million rows (no
    pg_signal_backend): a plain DROP asks it to stop, so try that until it has."""
    from bench_demo import pg_database
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError

    try:
        pg_database(base, name, drop=True)
        return
    except DBAPIError:
        pass
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    for _ in range(30):
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            break
        except DBAPIError:
            time.sleep(2)
    admin.dispose()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--due", type=int, default=20_000)
    p.add_argument("--quick", action="store_true", help="2,000 due")
    p.add_argument("--only", choices=["sqlite", "postgresql"])
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument(
        "--max-claims", type=int, default=0, help="stop claiming after N authorizations (selections: all data)"
    )
    p.add_argument("--baseline", default=BASELINE, help="the commit to compare with (e.g. main)")
    p.add_argument("--vacuum", action="store_true", help="PostgreSQL: VACUUM after the load (a table at rest)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    due = 2_000 if args.quick else args.due
    if args.child:
        _end_counts_compat()
        print(json.dumps(measure(args.child, due, args.max_claims)))
        return
    # not in the child: bench_demo puts this tree's d400tui first on sys.path
    from bench_demo import pg_database  # the script's folder is on sys.path

    pg_base = os.environ.get("D400_BENCH_PG_URL") or os.environ.get("D400_TEST_PG_URL")
    print(f"{due:,} due + {4 * due:,} history orders; acquirer out (instant approvals); load {os.getloadavg()[0]:.1f}")
    db_name = f"d400bench_selection_{os.getpid()}"  # its own: two benches at once never drop each other's
    base = [] if args.no_baseline else [(f"baseline {args.baseline}", _baseline_tree(args.baseline))]
    trees = [("this tree", ROOT), *base]
    for dialect in ("sqlite", "postgresql"):
        if args.only and args.only != dialect:
            continue
        if dialect == "postgresql" and not pg_base:
            print("postgresql skipped: set D400_BENCH_PG_URL or D400_TEST_PG_URL")
            continue
        results = {}
        for label, tree in trees:
            if dialect == "sqlite":
                url = f"sqlite:///{tempfile.mkdtemp(prefix='d400-bench-sel-')}/b.db"
            else:
                url = pg_database(pg_base or "", db_name)
            env = dict(os.environ, PYTHONPATH=str(tree), **({"D400_BENCH_VACUUM": "1"} if args.vacuum else {}))
            try:
                out = subprocess.run(
                    [sys.executable, __file__, "--due", str(due), "--max-claims", str(args.max_claims), "--child", url],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=tree,
                )
            except subprocess.CalledProcessError as exc:
                raise SystemExit(exc.stderr[-2000:]) from exc
            finally:
                if dialect == "postgresql":
                    _drop(pg_base or "", db_name)
            results[label] = json.loads(out.stdout.strip().splitlines()[-1])
        keys = [k for k in next(iter(results.values())) if k != "n"]
        print(f"\n{dialect}: {next(iter(results.values()))['n']:,} authorizations claimed and written")
        print(f"{'':<24}" + "".join(f"{label:>22}" for label in results))
        for k in keys:
            unit = "ms/authorization" if k.endswith("_ms") else "ms"
            name = {"claim_ms": "claim", "write_ms": "write", "cpu_ms": "process CPU"}.get(k, k)
            print(f"{name:<24}" + "".join(f"{r[k]:>15.3f} {unit[:2]:<6}" for r in results.values()))
        tot = {label: r["claim_ms"] + r["write_ms"] for label, r in results.items()}
        print(f"{'claim + write':<24}" + "".join(f"{v:>15.3f} ms/au" for v in tot.values()) + "   goal ≤ 0.300")


if __name__ == "__main__":
    main()
