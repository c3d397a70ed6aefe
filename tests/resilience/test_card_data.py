"""Card data (issue 5, point 5): every flow with every test card, through the engine and the CLI,
then the database(s), the log file, the CLI outputs and the TUI snapshots are scanned for each full
card number and for the CVV: zero hits."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from d400tui.domain import model as m
from d400tui.domain.cards import CardData, parse_expiry
from d400tui.engine import USER_ERRORS
from tests.support import cli
from tests.support.demo import OPER, SUPER, TEST_CARDS

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests" / "tui" / "__snapshots__"
CVV = "987"
A = ("BON0001", 1)
# the CVV as a word of its own: inside a hex hash or token (the audit chain prints them) it is not one
LONE_CVV = re.compile(rb"(?<![\w.:,-])987(?![\w.:,-])")


def _card(pan: str) -> CardData:
    return CardData(pan, parse_expiry(TEST_CARDS[pan][0]), CVV)


async def _every_flow(engine, pan: str) -> None:  # type: ignore[no-untyped-def]
    """Entry (immediate, N instalments, deferred), decisions, retry, payment change to this card and
    away from it, deferred cancel (drop and pay now), pre-check, capture, cancel, delete, reconcile."""
    today = engine.today()
    other = "4970100000000014" if pan != "4970100000000014" else "5130100000000018"
    plans = [
        m.Plan(),
        m.Plan(m.PlanKind.INSTALMENTS, count=3),
        m.Plan(m.PlanKind.DEFERRED, deferred_to=today + timedelta(days=3)),
        m.Plan(m.PlanKind.DEFERRED, deferred_to=today + timedelta(days=20)),
    ]
    ids = []
    for plan in plans:
        try:
            ids.append((await engine.place_order(OPER, 100001, [A], _card(pan), plan=plan)).order.id)
        except USER_ERRORS:
            pass
    draft = engine.create_order(OPER, 100002, [A])
    ops = [
        lambda: engine.validate_order(OPER, draft.id, _card(pan)),
        *(lambda oid=oid: engine.decide(OPER, oid, m.DecisionKind.RETRY, _card(pan)) for oid in ids),
        *(lambda oid=oid: engine.decide(OPER, oid, m.DecisionKind.BLOCK) for oid in ids[:1]),
        *(lambda oid=oid: engine.cancel_deferred(OPER, oid, 2, True) for oid in ids[1:2]),
        *(lambda oid=oid: engine.cancel_deferred(OPER, oid, 3, False) for oid in ids[1:2]),
        *(lambda oid=oid: engine.cancel_deferred(OPER, oid, 1, False) for oid in ids[2:3]),
        lambda: engine.precheck(SUPER, today + timedelta(days=25)),
        lambda: engine.capture(SUPER, today),
        lambda: engine.reconcile(SUPER),
        *(
            lambda oid=oid: engine.change_payment_method(OPER, oid, m.PaymentMethod.CARD, _card(other))
            for oid in ids[3:4]
        ),
        *(lambda oid=oid: engine.cancel_order(OPER, oid, f"client {pan[-4:]}") for oid in ids[:1]),
        *(lambda oid=oid: engine.delete_order(OPER, oid) for oid in ids[3:4]),
    ]
    for op in ops:
        try:
            await op()
        except USER_ERRORS:
            pass
    other_order = await engine.place_order(OPER, 100003, [A], _card(other))
    try:
        await engine.change_payment_method(OPER, other_order.order.id, m.PaymentMethod.CARD, _card(pan))
    except USER_ERRORS:
        pass
    await engine.reconcile(SUPER)


def _database_text(url: str) -> bytes:
    """Every row of every table as text (PostgreSQL has no file to read)."""
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with eng.connect() as conn:
            names = inspect(conn).get_table_names()
            out = []
            for name in names:
                q = f'SELECT t::text FROM "{name}" t' if eng.dialect.name == "postgresql" else f'SELECT * FROM "{name}"'
                out.extend(repr(tuple(r)) for r in conn.execute(text(q)))
            return "\n".join(out).encode()
    finally:
        eng.dispose()


def _columns(url: str) -> list[str]:
    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with eng.connect() as conn:
            insp = inspect(conn)
            return [f"{t}.{c['name']}" for t in insp.get_table_names() for c in insp.get_columns(t)]
    finally:
        eng.dispose()


def _cli(args: list[str], stdin: str, operator: str = "OPER1") -> subprocess.CompletedProcess[str]:
    """`d400 ARGS` in this process: the same code writes the same outputs, logs and rows."""
    return cli.run(args, stdin, cli.signed_on(operator))


async def test_no_card_number_or_cvv_anywhere(engine, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from d400tui import logs

    log_file = tmp_path / "engine.log"
    handler = logs.configure(log_file, "DEBUG")
    engine.acquirer.timeout_s = 0.3
    try:
        for pan in sorted(TEST_CARDS):
            await _every_flow(engine, pan)
    finally:
        import logging

        logging.getLogger("d400").removeHandler(handler)
        handler.close()
    outputs = tmp_path / "cli-outputs.txt"
    if engine.db.dialect == "sqlite":  # the CLI once is enough: the same code writes to either database

        def one_card(pan: str) -> str:
            exp = TEST_CARDS[pan][0]
            r = _cli(
                [
                    "order",
                    "new",
                    "--customer",
                    "100001",
                    "--line",
                    "BON0001:1",
                    "--expiry",
                    exp,
                    "--plan",
                    "instalments:2",
                    "--json",
                ],
                f"{pan}\n{CVV}\n",
            )
            text_out = r.stdout + r.stderr
            oid = next(
                (ln.split(":")[1].strip(" ,") for ln in r.stdout.splitlines() if ln.strip().startswith('"order"')), None
            )
            if oid and TEST_CARDS[pan][2] in ("APPROVED", "BLOCKED"):
                r = _cli(
                    ["order", "change-payment", oid, "--method", "CARD", "--expiry", exp, "--json"], f"{pan}\n{CVV}\n"
                )
                text_out += r.stdout + r.stderr
                r = _cli(["order", "show", oid, "--json"], "")
                text_out += r.stdout + r.stderr
            return text_out

        texts = [one_card(pan) for pan in sorted(TEST_CARDS)]  # in-process: one command at a time
        for args in (["precheck", "--json"], ["reconcile", "--json"], ["audit", "--json"]):
            r = _cli(args, "", "SUPER1")
            texts.append(r.stdout + r.stderr)
        outputs.write_text("".join(texts))
        assert '"order"' in outputs.read_text()  # the CLI did work
    assert log_file.stat().st_size > 0
    # every byte the flows left behind: database files (and WAL), issuer file, logs, CLI outputs
    scanned: dict[str, bytes] = {str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    scanned["database rows"] = _database_text(settings.database_url)
    scanned["issuer rows"] = _database_text(f"sqlite:///{settings.simulator_path}")
    scanned.update({str(p): p.read_bytes() for p in SNAPSHOTS.rglob("*") if p.is_file()})
    assert any("d400.db" in k or k == "database rows" for k in scanned)
    hits = [(pan, where) for pan in TEST_CARDS for where, blob in scanned.items() if pan.encode() in blob]
    assert hits == []
    # the CVV: no column can hold it, and it shows up in no log line nor CLI output
    for url in (settings.database_url, f"sqlite:///{settings.simulator_path}"):
        assert [c for c in _columns(url) if re.search("cvv|cvc|cvx|csc", c, re.I)] == []
    for name, blob in scanned.items():
        if name.endswith((".log", ".txt")):
            assert not LONE_CVV.search(blob), (name, LONE_CVV.search(blob))
            assert b"cvv" not in blob.lower(), name
