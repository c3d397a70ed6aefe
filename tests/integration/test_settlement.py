"""Settlement reconciliation on SQLite and PostgreSQL: the simulator's settlement report imported
and matched with our captures, differences exactly listed, a second import changing nothing,
supervisors only, hostile files refused whole (issue 12, point 5)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from d400tui.domain.settlement import Difference
from d400tui.engine import EngineError, PermissionDenied
from d400tui.engine import settlement as settle
from d400tui.simulator.settlement import COLUMNS, report_rows
from d400tui.store import tables as t
from tests.support import cli
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)


async def _captured(engine, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    ids = []
    for _ in range(n):
        r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
        ids.append(r.order.id)
    run = await engine.capture(SUPER, engine.today())
    assert run.approved == n
    return ids


def _csv(rows: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def _ref(engine, order_id: int) -> str:  # type: ignore[no-untyped-def]
    return next(a.acquirer_ref for a in engine.get_order(order_id).authorizations if a.acquirer_ref)


def _counts(engine) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    tables = (t.settlement_runs, t.settlement_lines, t.settlement_differences, t.audit)
    with engine.db.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(x)).scalar() or 0 for x in tables)


def _tampered(engine, issuer, ids: list[int]) -> tuple[list[dict[str, str]], str]:  # type: ignore[no-untyped-def]
    """The report with order ids[0] left out, ids[1] settled 1.00 more, and a line nobody made."""
    rows = {r["source_id"]: r for r in report_rows(issuer)}
    assert set(rows) == {_ref(engine, i) for i in ids}
    del rows[_ref(engine, ids[0])]
    wrong = rows[_ref(engine, ids[1])]
    wrong["gross"] = str(Decimal(wrong["gross"]) + 1)
    wrong["net"] = str(Decimal(wrong["gross"]) - Decimal(wrong["fee"]))
    unknown = dict(next(iter(rows.values())), balance_transaction_id="txn_stranger0001", source_id="SFFFF0000AAAA1111")
    return [*rows.values(), unknown], "SFFFF0000AAAA1111"


async def test_one_missing_one_unknown_one_wrong_amount_exactly(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    ids = await _captured(engine, 5)
    lines, stranger = _tampered(engine, issuer, ids)
    data = _csv(lines)
    report = settle.import_file(engine, SUPER, "settlement.csv", data)
    got = {(d.kind, d.order_id, d.reference) for d in report.differences}
    assert got == {
        (Difference.NOT_SETTLED, ids[0], _ref(engine, ids[0])),
        (Difference.AMOUNT_DIFFERS, ids[1], _ref(engine, ids[1])),
        (Difference.UNKNOWN, None, stranger),
    }
    wrong = next(d for d in report.differences if d.kind is Difference.AMOUNT_DIFFERS)
    assert wrong.theirs == wrong.ours + 1 and wrong.currency == "EUR"
    run = report.run
    assert (run.lines, run.new_lines, run.matched, run.not_settled, run.unknown, run.amount_differs) == (
        5,
        5,
        3,
        1,
        1,
        1,
    )
    shown = settle.show(engine, SUPER, run.id)
    assert {(d.kind, d.order_id) for d in shown.differences} == {(d.kind, d.order_id) for d in report.differences}
    assert shown.run.matched == 3 and shown.run.gross == run.gross

    # the same file again: nothing new, nothing written
    before = _counts(engine)
    again = settle.import_file(engine, SUPER, "settlement-copy.csv", data)
    assert again.repeated and again.run.id == run.id
    assert _counts(engine) == before

    # the acquirer's next report settles the missing capture: its lines already imported are skipped
    late = next(r for r in report_rows(issuer) if r["source_id"] == _ref(engine, ids[0]))
    nxt = settle.import_file(engine, SUPER, "next.csv", _csv([*lines, late]))
    assert (nxt.run.lines, nxt.run.new_lines, nxt.run.already_imported) == (6, 1, 5)
    assert nxt.run.matched == 1
    # what is still open is listed again, with the run that first listed it
    assert {(d.kind, d.reference, d.since_run) for d in nxt.differences} == {
        (Difference.AMOUNT_DIFFERS, _ref(engine, ids[1]), run.id),
        (Difference.UNKNOWN, stranger, run.id),
    }

    # a transaction already imported, now with another amount: the file is refused, nothing kept
    altered = [dict(x) for x in lines]
    altered[2]["gross"], altered[2]["net"] = altered[2]["fee"], "0.00"
    before = _counts(engine)
    with pytest.raises(EngineError) as refused:
        settle.import_file(engine, SUPER, "altered.csv", _csv(altered))
    assert refused.value.message.key == "engine.settle_line_changed" and _counts(engine) == before
    # every run audited, and the chain still holds
    assert [r["action"] for r in engine.audit_trail(SUPER)].count("SETTLEMENT_IMPORT") == 2
    assert engine.verify_audit(SUPER).ok


async def test_captured_here_not_yet_settled_is_listed_with_its_first_run(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    ids = await _captured(engine, 2)
    kept = [r for r in report_rows(issuer) if r["source_id"] == _ref(engine, ids[1])]
    first = settle.import_file(engine, SUPER, "a.csv", _csv(kept))
    assert [(d.kind, d.order_id, d.since_run) for d in first.differences] == [
        (Difference.NOT_SETTLED, ids[0], first.run.id)
    ]
    later = await _captured(engine, 1)
    # the next report: the line already imported, and a fee line (not a capture: counted, not matched)
    fee = dict(kept[0], balance_transaction_id="txn_fee0001", reporting_category="fee", gross="-1.00", fee="0.00")
    second = settle.import_file(engine, SUPER, "b.csv", _csv([*kept, dict(fee, net="-1.00")]))
    assert (second.run.new_lines, second.run.already_imported, second.run.other_lines) == (1, 1, 1)
    missing = {d.order_id: d.since_run for d in second.differences if d.kind is Difference.NOT_SETTLED}
    assert missing == {ids[0]: first.run.id, later[0]: second.run.id}
    assert len(second.differences) == 2


async def test_a_line_settled_before_our_capture_was_recorded_matches_later(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    await _captured(engine, 1)
    r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
    auth = r.order.authorizations[-1]
    # the acquirer captured it, our answer was never written (the capture's own key)
    assert issuer.capture(auth.acquirer_ref, auth.amount, auth.idempotency_key + "-cap").response.code == "00"
    rows = report_rows(issuer)
    first = settle.import_file(engine, SUPER, "a.csv", _csv(rows))
    assert [(d.kind, d.order_id) for d in first.differences] == [(Difference.UNKNOWN, r.order.id)]
    assert (await engine.capture(SUPER, engine.today())).approved == 1  # the same key: the answer replayed
    fee = dict(rows[0], balance_transaction_id="txn_fee0002", reporting_category="fee", gross="-1.00")
    second = settle.import_file(engine, SUPER, "b.csv", _csv([*rows, dict(fee, fee="0.00", net="-1.00")]))
    assert second.run.matched == 1 and second.differences == []
    with engine.db.engine.connect() as conn:
        outcomes = conn.execute(select(t.settlement_lines.c.outcome).where(t.settlement_lines.c.category == "charge"))
        assert sorted(outcomes.scalars()) == ["MATCHED", "MATCHED"]


async def test_a_capture_settled_twice_is_an_amount_difference(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    (order,) = await _captured(engine, 1)
    (row,) = report_rows(issuer)
    twice = settle.import_file(engine, SUPER, "t.csv", _csv([row, dict(row, balance_transaction_id="txn_again")]))
    (d,) = twice.differences
    assert (d.kind, d.order_id, d.theirs) == (Difference.AMOUNT_DIFFERS, order, 2 * d.ours)


def test_operators_cannot_import_or_read(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        settle.import_file(engine, OPER, "x.csv", b"")
    with pytest.raises(PermissionDenied):
        settle.runs(engine, OPER)
    with pytest.raises(PermissionDenied):
        settle.show(engine, OPER, 1)
    with pytest.raises(EngineError) as bad:
        settle.import_file(engine, SUPER, "x.csv", b"", acquirer="acme")
    assert bad.value.message.key == "engine.settle_acquirer"


HEADER = ",".join(COLUMNS)
GOOD = "txn_1,2026-12-01 10:00:00,2026-12-03,eur,71.99,1.33,70.66,charge,S0011223344556677,capture"
FIRST = GOOD.replace("txn_1", "txn_0")
"""A good line before the bad one: nothing of it may be kept when a later line is refused."""


def _body(*lines: str, header: str = HEADER) -> str:
    return "\n".join([header, FIRST, *lines]) + "\n"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (_body("txn_1,eur,1.00", header="balance_transaction_id,currency,fee"), "missing columns (created_utc, gross"),
        (_body(GOOD.replace("71.99", "71,99")), "line 3: 11 fields instead of 10"),
        (_body(GOOD.replace("71.99", '"71,99"')), "line 3, column gross: amount expected"),
        (_body(GOOD.replace("71.99", "=1+1")), "line 3, column gross: amount expected"),
        (_body(GOOD.replace("S0011223344556677", "=HYPERLINK(1)")), "line 3, column source_id: spreadsheet formula"),
        (_body(GOOD.replace(",capture", "," + "x" * 5000)), "line 3: over 4096 characters"),
        (_body(GOOD.replace(",capture", ",client 4970 1000 0000 0014")), "line 3, column 10: looks like a card number"),
        (_body(GOOD.replace("S0011223344556677", "4970100000000014")), "column source_id: looks like a card number"),
        (_body(GOOD.replace("70.66", "70.00")), "line 3: net is not gross minus fee"),
        (_body(GOOD, GOOD), "line 4: same transaction as line 3"),
        (_body(GOOD + ",extra"), "line 3: 11 fields instead of 10"),
        (HEADER + "\n", "empty"),
        (_body(GOOD.replace("capture", "cap\x1b[2J")), "line 3, column 10: control character"),
        (_body(GOOD.replace("capture", '"cap')), "malformed CSV"),
    ],
)
def test_hostile_files_are_refused_whole_in_one_line(settings, tmp_path: Path, body: str, words: str) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "hostile.csv"
    f.write_text(body)
    env = {"D400_LANG": "en", **cli.signed_on("SUPER1")}
    r = cli.run(["settle", "import", str(f)], env=env)
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "nothing imported" in lines[0], r.stderr
    assert "Traceback" not in r.stderr and "Error" not in r.stderr and "HYPERLINK" not in r.stderr
    assert "4970100000000014" not in r.stdout + r.stderr and "0000 0014" not in r.stderr
    listed = cli.run(["settle", "list", "--json"], env=env)
    assert listed.returncode == 0 and listed.stdout.strip() == "[]", listed


def test_not_a_file_and_a_file_too_big_say_so(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env = {"D400_LANG": "en", **cli.signed_on("SUPER1")}
    r = cli.run(["settle", "import", str(tmp_path / "absent.csv")], env=env)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no such file" in r.stderr
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate(33 * 1024 * 1024)
    r = cli.run(["settle", "import", str(big)], env=env)
    assert r.returncode == 2 and "32 MB at most" in r.stderr, r


async def test_cli_round_trip_simulator_report_then_import(settings, engine, issuer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ids = await _captured(engine, 2)
    out = tmp_path / "settlement.csv"
    made = cli.run(["acquirer", "settlement", "--out", str(out)], env={})
    assert made.returncode == 0, made
    env = {"D400_LANG": "en", **cli.signed_on("SUPER1")}
    first = cli.run(["settle", "import", str(out)], env=env)
    assert first.returncode == 0, first
    assert "matched 2, not settled 0, unknown 0, amount differs 0" in first.stdout
    second = cli.run(["settle", "import", str(out), "--json"], env=env)
    assert second.returncode == 0 and '"repeated": true' in second.stdout
    refused = cli.run(["settle", "import", str(out)], env={"D400_LANG": "en", **cli.signed_on("OPER1")})
    assert refused.returncode == 2 and "supervisors" in refused.stderr
    assert len(ids) == 2


def test_migration_0012_and_tables_agree(engine) -> None:  # type: ignore[no-untyped-def]
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    mine = {"settlement_runs", "settlement_lines", "settlement_differences"}
    with engine.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)

    def table_of(d) -> str | None:  # type: ignore[no-untyped-def]
        item = d[0] if isinstance(d, list) else d
        for x in item[1:]:
            name = getattr(x, "name", None) if not isinstance(x, str) else x
            table = getattr(getattr(x, "table", None), "name", None)
            if table in mine or name in mine:
                return table or name
        return None

    assert [d for d in diff if table_of(d)] == []


async def test_two_imports_at_once_make_one_run_and_each_line_once(engine, issuer) -> None:  # type: ignore[no-untyped-def]
    import threading

    from tests.support.races import close, other_engine

    await _captured(engine, 3)
    rows = report_rows(issuer)
    files = [_csv(rows), _csv(rows), _csv(rows[:2])]  # the same file twice, and one that overlaps it
    engines = [engine, other_engine(engine), other_engine(engine)]
    start = threading.Barrier(len(files))
    reports: list[object] = []
    errors: list[BaseException] = []

    def go(e, data: bytes) -> None:  # type: ignore[no-untyped-def]
        start.wait()
        try:
            reports.append(settle.import_file(e, SUPER, "s.csv", data))
        except BaseException as exc:  # noqa: BLE001 - said by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(e, f)) for e, f in zip(engines, files, strict=True)]
    try:
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        assert not any(th.is_alive() for th in threads), "an import hangs"
    finally:
        for e in engines[1:]:
            close(e)
    assert not errors and len(reports) == 3, errors
    with engine.db.engine.connect() as conn:
        runs = conn.execute(select(func.count()).select_from(t.settlement_runs)).scalar()
        lines = conn.execute(select(func.count()).select_from(t.settlement_lines)).scalar()
    assert (runs, lines) == (2, 3)
    assert sum(1 for r in reports if r.repeated) == 1  # type: ignore[attr-defined]
    # whichever came first, nothing is settled twice nor differs: at most the short file's wait
    kinds = {d.kind for r in reports for d in r.differences}  # type: ignore[attr-defined]
    assert kinds <= {Difference.NOT_SETTLED}


async def test_a_card_number_in_the_file_name_is_never_stored_nor_shown(
    settings, engine, issuer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    await _captured(engine, 1)
    f = tmp_path / "4970100000000014.csv"
    f.write_bytes(_csv(report_rows(issuer)))
    env = {"D400_LANG": "en", **cli.signed_on("SUPER1")}
    r = cli.run(["settle", "import", str(f), "--json"], env=env)
    assert r.returncode == 0, r
    shown = cli.run(["settle", "show", "1"], env=env)
    assert shown.returncode == 0 and "matched 1" in shown.stdout
    for text in (r.stdout, r.stderr, shown.stdout):
        assert "4970100000000014" not in text
    with engine.db.engine.connect() as conn:
        stored = conn.execute(select(t.settlement_runs.c.file_name)).scalar() or ""
        detail = conn.execute(select(t.audit.c.detail).where(t.audit.c.action == "SETTLEMENT_IMPORT")).scalar() or ""
    assert "4970100000000014" not in stored + detail and stored.endswith("0014.csv")
    unknown = cli.run(["settle", "show", "99"], env=env)
    assert unknown.returncode == 2 and unknown.stderr == "d400: settlement run 99 unknown\n"


@pytest.mark.parametrize("after_s", [1.0, 2.0])
def test_kill_9_mid_import_leaves_all_or_nothing(settings, engine, tmp_path: Path, after_s: float) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal
    import subprocess
    import sys
    import time

    n = 6_000
    rows = [
        dict(
            zip(
                COLUMNS,
                (f"txn_k{i:07d}", "2026-12-01 10:00:00", "2026-12-03", "eur", "10.00", "0.40", "9.60"),
                strict=False,
            )
        )
        | {"reporting_category": "charge", "source_id": f"SK{i:07d}X", "description": "x"}
        for i in range(n)
    ]
    f = tmp_path / "big.csv"
    f.write_bytes(_csv(rows))
    env = dict(os.environ, D400_LANG="en", **cli.signed_on("SUPER1"))
    proc = subprocess.Popen([sys.executable, "-m", "d400tui", "settle", "import", str(f)], env=env)
    time.sleep(after_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    with engine.db.engine.connect() as conn:
        runs = conn.execute(select(t.settlement_runs.c.new_lines)).scalars().all()
        lines = conn.execute(select(func.count()).select_from(t.settlement_lines)).scalar()
    assert runs in ([], [n]) and lines == sum(runs)  # the whole file, or nothing of it
    again = settle.import_file(engine, SUPER, "big.csv", f.read_bytes())  # and the database is usable
    assert again.repeated == bool(runs) and again.run.lines == n
