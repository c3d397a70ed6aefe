"""The simulated issuer: the rules of `data/test_cards.csv`, rolling 30-day ceilings, holds
released by void, captures, validity per brand — with state kept in a SQLite file of its own, as
a real issuer keeps its own books. The in-process, HTTP and ISO 8583 simulators all answer from
this one class, so every transport shows the same behaviour.

No card number is stored here either: cards are found by a salted hash, and a token is issued
for later requests (what a real acquirer's vault does)."""

from __future__ import annotations

import csv
import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from d400tui.config import Settings
from d400tui.data import data_path
from d400tui.domain.cards import Brand, CardData, Expiry, parse_expiry
from d400tui.domain.money import from_cents, to_cents

from .base import AcquirerResponse, Outcome, PaymentSource

CEILING_WINDOW_S = 30 * 86400
_SALT = b"d400-simulated-issuer"


def card_hash(pan: str) -> str:
    return hashlib.sha256(_SALT + pan.encode()).hexdigest()


@dataclass(frozen=True)
class IssuerCard:
    brand: Brand
    expiry: Expiry
    ceiling_cents: int
    code: str  # '00', a refusal code, or 'timeout'
    delay_s: float


@dataclass(frozen=True)
class IssuerAnswer:
    response: AcquirerResponse
    delay_s: float = 0.0
    hang: bool = False  # the issuer never answers this card (the hold is made all the same)


def load_cards(path: Path | None = None) -> dict[str, IssuerCard]:
    cards: dict[str, IssuerCard] = {}
    with open(path or data_path("test_cards.csv"), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            cards[card_hash(row["pan"])] = IssuerCard(
                Brand(row["brand"]),
                parse_expiry(row["expiry"]),
                int(row["ceiling_30d"]) * 100,
                row["code"],
                float(row["delay_s"]),
            )
    return cards


_SCHEMA = """
CREATE TABLE IF NOT EXISTS vault (token TEXT PRIMARY KEY, card_hash TEXT NOT NULL, expiry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS holds (
    ref TEXT PRIMARY KEY, card_hash TEXT NOT NULL, brand TEXT NOT NULL, amount_cents INTEGER NOT NULL,
    captured_cents INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS holds_card ON holds(card_hash, created_at);
CREATE TABLE IF NOT EXISTS ops (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, outcome TEXT NOT NULL, code TEXT NOT NULL, ref TEXT,
    auth_code TEXT, token TEXT, amount_cents INTEGER, hang INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL);
"""


class Issuer:
    """Synchronous and thread-safe: servers call it from their event loop or threads."""

    def __init__(
        self,
        db_path: Path | str,
        validity_days: dict[str, int] | None = None,
        clock: Callable[[], float] = time.time,
        cards: dict[str, IssuerCard] | None = None,
    ) -> None:
        self.cards = cards if cards is not None else load_cards()
        self.validity_days = {"MAESTRO": 30, **(validity_days or {})}
        self.clock = clock
        self._lock = threading.Lock()
        if str(db_path) != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    # -- helpers ---------------------------------------------------------------------------
    def _validity_s(self, brand: str) -> float:
        return self.validity_days.get(brand, 7) * 86400

    def _replay(self, key: str) -> IssuerAnswer | None:
        row = self.db.execute(
            "SELECT outcome, code, ref, auth_code, token, amount_cents, hang FROM ops WHERE key=?", (key,)
        ).fetchone()
        if row is None:
            return None
        amount = from_cents(row[5]) if row[5] is not None else None
        response = AcquirerResponse(Outcome(row[0]), row[1], row[2], row[3], row[4], amount)
        return IssuerAnswer(response, hang=bool(row[6]))

    def _record(self, key: str, kind: str, resp: AcquirerResponse, hang: bool = False) -> None:
        cents = to_cents(resp.amount) if resp.amount is not None else None
        self.db.execute(
            "INSERT INTO ops (key, kind, outcome, code, ref, auth_code, token, amount_cents, hang, created_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
            (key, kind, resp.outcome.value, resp.code, resp.reference, resp.auth_code, resp.token, cents,
             int(hang), self.clock()),
        )

    def _identify(self, source: PaymentSource) -> tuple[str | None, IssuerCard | None, str, str | None]:
        """Returns (card hash, card, refusal code or '00', token)."""
        if source.card is not None:
            c: CardData = source.card
            h = card_hash(c.pan)
            card = self.cards.get(h)
            if card is None:
                return None, None, "14", None
            if c.expiry != card.expiry:
                return h, card, "54", None
            token = "tok_" + secrets.token_hex(12)
            self.db.execute("INSERT INTO vault VALUES (?,?,?)", (token, h, str(c.expiry)))
            return h, card, "00", token
        row = self.db.execute("SELECT card_hash, expiry FROM vault WHERE token=?", (source.token,)).fetchone()
        if row is None:
            return None, None, "14", None
        card = self.cards.get(row[0])
        if card is None:
            return None, None, "14", None
        return row[0], card, "00", source.token

    def _used_cents(self, h: str, brand: str, now: float) -> int:
        """Live holds (approved, still within validity) and captures of the last 30 days, summed
        by SQLite over the (card, date) index: cheap even for a card with thousands of holds."""
        row = self.db.execute(
            "SELECT COALESCE(SUM(CASE WHEN state='APPROVED' AND created_at >= ? THEN amount_cents"
            " WHEN state='CAPTURED' THEN captured_cents ELSE 0 END), 0)"
            " FROM holds WHERE card_hash=? AND created_at>=?",
            (now - self._validity_s(brand), h, now - CEILING_WINDOW_S),
        ).fetchone()
        return int(row[0])

    # -- operations ------------------------------------------------------------------------
    def authorize(self, source: PaymentSource, amount: Decimal, key: str, kind: str = "AUTH") -> IssuerAnswer:
        with self._lock:
            replay = self._replay(key)
            if replay is not None:
                return replay
            now = self.clock()
            today = date.fromtimestamp(now)
            self.db.execute("BEGIN IMMEDIATE")
            try:
                h, card, code, token = self._identify(source)
                delay = card.delay_s if card else 0.0
                if code == "00" and card is not None and card.expiry.is_past(today):
                    code = "33"
                if code == "00" and card is not None and card.code not in ("00", "timeout"):
                    code = card.code
                cents = to_cents(amount)
                if code == "00" and kind == "AUTH" and card is not None and h is not None:
                    if cents <= 0:
                        code = "13"
                    elif self._used_cents(h, card.brand.value, now) + cents > card.ceiling_cents:
                        code = "61"
                hang = card is not None and card.code == "timeout"
                if code != "00":
                    resp = AcquirerResponse(Outcome.DECLINED, code, token=token)
                    self._record(key, kind, resp)
                else:
                    assert card is not None and h is not None
                    ref = "S" + secrets.token_hex(8).upper()
                    auth_code = f"{secrets.randbelow(1_000_000):06d}"
                    if kind == "AUTH":
                        self.db.execute(
                            "INSERT INTO holds (ref, card_hash, brand, amount_cents, state, created_at)"
                            " VALUES (?,?,?,?,?,?)",
                            (ref, h, card.brand.value, cents, "APPROVED", now),
                        )
                    resp = AcquirerResponse(Outcome.APPROVED, "00", ref, auth_code, token, amount)
                    self._record(key, kind, resp, hang)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            return IssuerAnswer(resp, delay, hang)

    def void(self, reference: str, key: str) -> IssuerAnswer:
        with self._lock:
            replay = self._replay(key)
            if replay is not None:
                return replay
            self.db.execute("BEGIN IMMEDIATE")
            try:
                row = self.db.execute("SELECT state, amount_cents FROM holds WHERE ref=?", (reference,)).fetchone()
                if row is None:
                    resp = AcquirerResponse(Outcome.DECLINED, "12", reference, message="unknown authorization")
                elif row[0] == "CAPTURED":
                    resp = AcquirerResponse(Outcome.DECLINED, "12", reference, message="captured: no void")
                else:
                    self.db.execute("UPDATE holds SET state='VOIDED' WHERE ref=?", (reference,))
                    resp = AcquirerResponse(Outcome.VOIDED, "00", reference, amount=from_cents(row[1]))
                self._record(key, "VOID", resp)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            return IssuerAnswer(resp)

    def capture(self, reference: str, amount: Decimal, key: str) -> IssuerAnswer:
        with self._lock:
            replay = self._replay(key)
            if replay is not None:
                return replay
            now = self.clock()
            self.db.execute("BEGIN IMMEDIATE")
            try:
                row = self.db.execute(
                    "SELECT state, amount_cents, created_at, brand FROM holds WHERE ref=?", (reference,)
                ).fetchone()
                cents = to_cents(amount)
                if row is None or row[0] != "APPROVED":
                    msg = "unknown authorization" if row is None else f"authorization {row[0].lower()}"
                    resp = AcquirerResponse(Outcome.DECLINED, "12", reference, message=msg)
                elif now - row[2] > self._validity_s(row[3]):
                    resp = AcquirerResponse(Outcome.DECLINED, "12", reference, message="authorization expired")
                elif cents > row[1] or cents <= 0:
                    resp = AcquirerResponse(Outcome.DECLINED, "13", reference, message="above the authorized amount")
                else:
                    self.db.execute(
                        "UPDATE holds SET state='CAPTURED', captured_cents=? WHERE ref=?", (cents, reference)
                    )
                    resp = AcquirerResponse(Outcome.CAPTURED, "00", reference, amount=amount)
                self._record(key, "CAPTURE", resp)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            return IssuerAnswer(resp)

    def status(self, key: str) -> AcquirerResponse:
        """What became of the request sent under `key`; a hold voided or captured since says so."""
        with self._lock:
            replay = self._replay(key)
            if replay is None:
                return AcquirerResponse(Outcome.NOT_FOUND, "25")
            resp = replay.response
            if resp.reference and resp.outcome is Outcome.APPROVED:
                row = self.db.execute("SELECT state FROM holds WHERE ref=?", (resp.reference,)).fetchone()
                if row and row[0] != "APPROVED":
                    return AcquirerResponse(Outcome(row[0]), resp.code, resp.reference, resp.auth_code,
                                            resp.token, resp.amount)
            return resp

    # -- for tests, benches and the crash harness -------------------------------------------
    def live_holds(self) -> dict[str, int]:
        """Approved, uncaptured, unvoided holds: reference → cents."""
        with self._lock:
            return dict(self.db.execute("SELECT ref, amount_cents FROM holds WHERE state='APPROVED'"))

    def holds(self) -> list[tuple[str, str, int, int]]:
        with self._lock:
            return list(self.db.execute("SELECT ref, state, amount_cents, captured_cents FROM holds"))

    def hold_keys(self) -> dict[str, str]:
        """Authorization idempotency key → hold reference, for every hold made."""
        with self._lock:
            return dict(self.db.execute("SELECT key, ref FROM ops WHERE kind='AUTH' AND outcome='APPROVED'"))

    def close(self) -> None:
        self.db.close()


def issuer_from_settings(settings: Settings) -> Issuer:
    """The one way every simulator transport builds its issuer from configuration."""
    return Issuer(settings.simulator_path, validity_days=settings.validity_days,
                  cards=load_cards(settings.simulator_cards) if settings.simulator_cards else None)
