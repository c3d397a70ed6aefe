"""Issue 9, point 8: the simulated issuer's state file gives no card number back, and the data
files are the owner's alone. On main the state file held SHA-256(fixed salt + number): with the
first 6 / last 4 an operator sees, a million guesses (about a second) found the number; and every
file was created with the process umask (0644 here)."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from d400tui.acquirers.base import Outcome, PaymentSource
from d400tui.domain.cards import CardData, parse_expiry
from d400tui.simulator.issuer import Issuer, load_cards

PAN = "4970100000000014"
CARD = CardData(PAN, parse_expiry("12/30"))
LEGACY_SALT = b"d400-simulated-issuer"  # main's fixed salt


@pytest.fixture(autouse=True)
def usual_umask():  # type: ignore[no-untyped-def]
    """The usual 022: files the code does not protect itself come out 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _stored_hashes(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT card_hash FROM vault UNION SELECT card_hash FROM holds")}


def test_first6_last4_and_the_state_file_do_not_give_the_number_back(tmp_path: Path) -> None:
    state = tmp_path / "simulator.db"
    issuer = Issuer(state)
    try:
        assert issuer.authorize(PaymentSource(card=CARD), Decimal("10.00"), "k").response.approved
    finally:
        issuer.close()
    stored = _stored_hashes(state)
    assert stored
    first6, last4 = PAN[:6], PAN[-4:]
    found = [
        m
        for m in (f"{first6}{i:06d}{last4}" for i in range(1_000_000))
        if hashlib.sha256(LEGACY_SALT + m.encode()).hexdigest() in stored
        or hashlib.sha256(m.encode()).hexdigest() in stored
    ]
    assert found == []  # the attack of the issue: on main it finds the number
    assert PAN.encode() not in state.read_bytes()


def test_the_secret_is_its_own_0600_file_and_outlives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "simulator.db"
    first = Issuer(state)
    token = first.authorize(PaymentSource(card=CARD), Decimal("1.00"), "a").response.token
    first.close()
    key_file = tmp_path / "simulator.key"
    assert key_file.exists() and _mode(key_file) == 0o600 and _mode(state) == 0o600
    secret = key_file.read_text().strip()
    assert secret not in state.read_text(errors="replace") and len(bytes.fromhex(secret)) == 32
    again = Issuer(state)  # same secret read back: the token still names the card
    try:
        assert again.authorize(PaymentSource(token=token), Decimal("1.00"), "b").response.approved
        assert secret not in repr(again)
    finally:
        again.close()
    other = tmp_path / "other"
    other.mkdir()
    elsewhere = Issuer(other / "simulator.db")  # another installation: another secret, other hashes
    try:
        elsewhere.authorize(PaymentSource(card=CARD), Decimal("1.00"), "a")
    finally:
        elsewhere.close()
    assert not _stored_hashes(state) & _stored_hashes(other / "simulator.db")


def test_a_state_file_of_before_is_rekeyed_and_keeps_its_tokens(tmp_path: Path) -> None:
    state = tmp_path / "simulator.db"
    legacy = hashlib.sha256(LEGACY_SALT + PAN.encode()).hexdigest()
    with sqlite3.connect(state) as db:  # main's schema and hash
        db.executescript(
            "CREATE TABLE vault (token TEXT PRIMARY KEY, card_hash TEXT NOT NULL, expiry TEXT NOT NULL);"
            "CREATE TABLE holds (ref TEXT PRIMARY KEY, card_hash TEXT NOT NULL, brand TEXT NOT NULL,"
            " amount_cents INTEGER NOT NULL, captured_cents INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL,"
            " created_at REAL NOT NULL);"
            "CREATE TABLE ops (key TEXT PRIMARY KEY, kind TEXT NOT NULL, outcome TEXT NOT NULL, code TEXT NOT NULL,"
            " ref TEXT, auth_code TEXT, token TEXT, amount_cents INTEGER, hang INTEGER NOT NULL DEFAULT 0,"
            " created_at REAL NOT NULL);"
        )
        db.execute("INSERT INTO vault VALUES ('tok_old', ?, '12/30')", (legacy,))
        db.execute("INSERT INTO ops VALUES ('old', 'AUTH', 'APPROVED', '00', 'R1', '1', 'tok_old', 100, 0, 0)")
    issuer = Issuer(state, cards=load_cards())
    try:
        assert legacy not in _stored_hashes(state)
        resp = issuer.authorize(PaymentSource(token="tok_old"), Decimal("2.00"), "new").response
        assert resp.outcome is Outcome.APPROVED
        assert issuer.status("old").outcome is Outcome.APPROVED  # an old answer still replays
    finally:
        issuer.close()


def test_database_and_log_files_are_created_0600(tmp_path: Path) -> None:
    from d400tui import logs
    from d400tui.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'd400.db'}")
    try:
        db.upgrade()
    finally:
        db.dispose()
    for name in ("d400.db", "d400.db-wal", "d400.db-shm"):
        if (tmp_path / name).exists():
            assert _mode(tmp_path / name) == 0o600, name
    handler = logs.configure(tmp_path / "d400.log")
    try:
        logging.getLogger("d400.test").warning("hello")
        handler.flush()
        assert _mode(tmp_path / "d400.log") == 0o600
        handler.doRollover()
        assert _mode(tmp_path / "d400.log") == 0o600 and _mode(tmp_path / "d400.log.1") == 0o600
    finally:
        logging.getLogger("d400").removeHandler(handler)
        handler.close()
