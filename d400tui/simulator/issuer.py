"""The simulated issuer: the rules of `data/test_cards.csv`, rolling 30-day ceilings, holds
released by void, captures, validity per brand — with state kept in a SQLite file of its own, as
a real issuer keeps its own books. The in-process, HTTP and ISO 8583 simulators all answer from
this one class, so every transport shows the same behaviour.

No card number is stored here either: cards are found by HMAC-SHA256 under a per-installation
secret kept in a file of its own (`<state file>.key`, 0600, created on first run, never logged), so
the state file alone gives nothing back — with first 6 / last 4 known, an unkeyed hash gave the
full number in seconds. A token is issued for later requests (what a real acquirer's vault does).

An idempotency key replays its first answer only to the same request: the fingerprint of the
operation, amount, card (its keyed hash and expiry) or token, currency and reference is kept with
the answer, and a key reused for another request is refused with code 94 (duplicate
transmission), like Stripe's idempotency_error — never answered with the first request's answer."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from d400tui.acquirers.base import KEY_REUSED, AcquirerResponse, Outcome, PaymentSource
from d400tui.acquirers.ranges import card_ranges
from d400tui.config import Settings
from d400tui.data import data_path
from d400tui.domain.cards import Brand, CardData, CvvResult, Expiry, networks_of, parse_expiry, scrub
from d400tui.domain.money import from_cents, to_cents

CEILING_WINDOW_S = 30 * 86400
_LEGACY_SALT = b"d400-simulated-issuer"  # state files written before the keyed hash (user_version 0)
SECRET_BYTES = 32
_LETTERS = str.maketrans("0123456789", "ghijklmnop")
STATE_VERSION = 1
KEY_REUSED_MESSAGE = "idempotency key reused with other parameters"


def hold_reference() -> str:
    """A new hold's reference: 16 random hex digits, drawn again in the rare case (30 in 20,000
    measured) their digits read as a card number — the scrubber would mask it wherever it is
    printed or stored as text, and a settlement file naming it would be refused."""
    while True:
        ref = "S" + secrets.token_hex(8).upper()
        if scrub(ref) == ref:
            return ref


def _legacy_hash(pan: str) -> str:
    return hashlib.sha256(_LEGACY_SALT + pan.encode()).hexdigest()


def load_secret(path: Path) -> bytes:
    """The installation's key for card hashes: read, or created on first run (0600). Written to
    a temporary file and linked into place, so two first runs at once agree on one secret."""
    with contextlib.suppress(FileNotFoundError):
        return _read_secret(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(SECRET_BYTES) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read_secret(path)


def _read_secret(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < SECRET_BYTES // 2:
        raise ValueError(f"simulator secret {path} is not valid: remove it to start a new simulator state")
    return secret


@dataclass(frozen=True)
class IssuerCard:
    brand: Brand
    expiry: Expiry
    ceiling_cents: int
    code: str  # '00', a refusal code, or 'timeout'
    delay_s: float
    networks: tuple[Brand, ...] = ()
    """The networks the card can be routed on, CB first on a co-badged card (default: its brand)."""
    cvv: str | None = None
    """The card's CVV in the card file (test cards only; None: the issuer does not check it)."""

    def route(self, asked: Brand | None) -> Brand | None:
        """The network a request goes on: the one asked if the card carries it (None if not),
        else the card's first (CB on a co-badged card: the merchant's default)."""
        carried = self.networks or (self.brand,)
        if asked is None:
            return carried[0]
        return asked if asked in carried else None

    def cvv_check(self, given: str | None) -> CvvResult:
        if given is None or self.cvv is None:
            return CvvResult.NOT_CHECKED
        return CvvResult.MATCH if hmac.compare_digest(given, self.cvv) else CvvResult.NO_MATCH


@dataclass(frozen=True)
class IssuerAnswer:
    response: AcquirerResponse
    delay_s: float = 0.0
    hang: bool = False  # the issuer never answers this card (the hold is made all the same)
    key_reused: bool = False  # refused: the key was first used for another request (HTTP 422)


KEY_REUSED_ANSWER = IssuerAnswer(
    AcquirerResponse(Outcome.DECLINED, KEY_REUSED, message=KEY_REUSED_MESSAGE), key_reused=True
)


def load_cards(path: Path | None = None) -> dict[str, IssuerCard]:
    """Card number → its rules, from the card file (held in memory only; the state file keeps
    keyed hashes)."""
    cards: dict[str, IssuerCard] = {}
    with open(path or data_path("test_cards.csv"), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            cards[row["pan"]] = IssuerCard(
                Brand(row["brand"]),
                parse_expiry(row["expiry"]),
                int(row["ceiling_30d"]) * 100,
                row["code"],
                float(row["delay_s"]),
                tuple(Brand(n) for n in (row.get("networks") or "").split())
                or networks_of(row["pan"], card_ranges()),  # a card file without the column: the ranges
                row.get("cvv") or None,
            )
    return cards


_SCHEMA = """
CREATE TABLE IF NOT EXISTS vault (token TEXT PRIMARY KEY, card_hash TEXT NOT NULL, expiry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS holds (
    ref TEXT PRIMARY KEY, card_hash TEXT NOT NULL, brand TEXT NOT NULL, amount_cents INTEGER NOT NULL,
    captured_cents INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL, created_at REAL NOT NULL,
    released_cents INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS holds_card ON holds(card_hash, created_at);
CREATE TABLE IF NOT EXISTS ops (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, outcome TEXT NOT NULL, code TEXT NOT NULL, ref TEXT,
    auth_code TEXT, token TEXT, amount_cents INTEGER, hang INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,
    fingerprint TEXT);
CREATE TABLE IF NOT EXISTS batches (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, in_balance INTEGER NOT NULL, count INTEGER NOT NULL,
    cents INTEGER NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS batch_items (capture_key TEXT PRIMARY KEY, batch TEXT NOT NULL);
"""
# Columns added since (network choice and CVV result, issue 13): added to an older state file.
_ADDED = {"holds": {"network": "TEXT"}, "ops": {"network": "TEXT", "security_check": "TEXT"}}


class Issuer:
    """Synchronous and thread-safe: servers call it from their event loop or threads."""

    def __init__(
        self,
        db_path: Path | str,
        validity_days: dict[str, int] | None = None,
        clock: Callable[[], float] = time.time,
        cards: dict[str, IssuerCard] | None = None,
        secret: bytes | None = None,
    ) -> None:
        """`cards`: card number → rules (default: the shipped file). `secret`: the key of the card
        hashes; default: read from (or created in) `<db_path>.key`, random for ":memory:"."""
        from d400tui.logs import private_file

        memory = str(db_path) == ":memory:"
        if not memory:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            private_file(db_path)
        if secret is None:
            secret = secrets.token_bytes(SECRET_BYTES) if memory else load_secret(Path(db_path).with_suffix(".key"))
        self._secret = secret
        by_pan = cards if cards is not None else load_cards()
        self.cards = {self.card_hash(pan): card for pan, card in by_pan.items()}
        self.validity_days = {"MAESTRO": 30, **(validity_days or {})}
        self.clock = clock
        self._lock = threading.Lock()
        self.db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._upgrade(by_pan)
        self._add_columns()

    def __repr__(self) -> str:  # the secret stays out of reprs and tracebacks
        return "Issuer()"

    def card_hash(self, pan: str) -> str:
        """HMAC-SHA256 of the card number under this installation's secret."""
        return hmac.new(self._secret, pan.encode(), hashlib.sha256).hexdigest()

    def _upgrade(self, by_pan: dict[str, IssuerCard]) -> None:
        """A state file of before the keyed hash: its unkeyed hashes are re-keyed (the card file
        says which number each stood for) and requests get a fingerprint column."""
        with self._lock:
            if "released_cents" not in {r[1] for r in self.db.execute("PRAGMA table_info(holds)")}:
                with self._write():  # a state file of before partial captures and releases
                    self.db.execute("ALTER TABLE holds ADD COLUMN released_cents INTEGER NOT NULL DEFAULT 0")
            if self.db.execute("PRAGMA user_version").fetchone()[0] >= STATE_VERSION:
                return
            with self._write():
                if self.db.execute("PRAGMA user_version").fetchone()[0] < STATE_VERSION:
                    columns = {r[1] for r in self.db.execute("PRAGMA table_info(ops)")}
                    if "fingerprint" not in columns:
                        self.db.execute("ALTER TABLE ops ADD COLUMN fingerprint TEXT")
                    for pan in by_pan:
                        old, new = _legacy_hash(pan), self.card_hash(pan)
                        self.db.execute("UPDATE vault SET card_hash=? WHERE card_hash=?", (new, old))
                        self.db.execute("UPDATE holds SET card_hash=? WHERE card_hash=?", (new, old))
                    self.db.execute(f"PRAGMA user_version={STATE_VERSION}")

    def _add_columns(self) -> None:
        with self._lock:
            for table, columns in _ADDED.items():
                have = {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}
                for name, kind in columns.items():
                    if name not in have:
                        with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                            self.db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction holding the write lock from its start (BEGIN IMMEDIATE: processes
        sharing the state file wait their turn), rolled back on any failure, the commit's included."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _fingerprint(self, kind: str, *parts: object) -> str:
        """What makes two requests under one key the same request (keyed: it names a card)."""
        text = "\x1f".join([kind, *map(str, parts)])
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()

    def _source_id(self, source: PaymentSource) -> str:
        if source.card is not None:
            return f"card:{self.card_hash(source.card.pan)}:{source.card.expiry}"
        return f"token:{source.token}"

    # -- helpers ---------------------------------------------------------------------------
    def _validity_s(self, brand: str) -> float:
        return self.validity_days.get(brand, 7) * 86400

    def _replay(self, key: str, fingerprint: str | None = None) -> IssuerAnswer | None:
        """The first answer given under `key`; KEY_REUSED_ANSWER when that was another request."""
        row = self.db.execute(
            "SELECT outcome, code, ref, auth_code, token, amount_cents, hang, fingerprint, network, security_check"
            " FROM ops WHERE key=?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        if fingerprint is not None and row[7] is not None and not hmac.compare_digest(row[7], fingerprint):
            return KEY_REUSED_ANSWER
        amount = from_cents(row[5]) if row[5] is not None else None
        cvv = CvvResult(row[9]) if row[9] else None
        response = AcquirerResponse(Outcome(row[0]), row[1], row[2], row[3], row[4], amount, network=row[8], cvv=cvv)
        return IssuerAnswer(response, hang=bool(row[6]))

    def _record(self, key: str, kind: str, resp: AcquirerResponse, fingerprint: str, hang: bool = False) -> None:
        cents = to_cents(resp.amount) if resp.amount is not None else None
        self.db.execute(
            "INSERT INTO ops (key, kind, outcome, code, ref, auth_code, token, amount_cents, hang, created_at,"
            " fingerprint, network, security_check) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                key,
                kind,
                resp.outcome.value,
                resp.code,
                resp.reference,
                resp.auth_code,
                resp.token,
                cents,
                int(hang),
                self.clock(),
                fingerprint,
                resp.network,
                resp.cvv.value if resp.cvv else None,
            ),
        )

    def _identify(self, source: PaymentSource) -> tuple[str | None, IssuerCard | None, str, str | None]:
        """Returns (card hash, card, refusal code or '00', token)."""
        if source.card is not None:
            c: CardData = source.card
            h = self.card_hash(c.pan)
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
            "SELECT COALESCE(SUM(CASE WHEN state='APPROVED' AND created_at >= ? THEN amount_cents - released_cents"
            " WHEN state IN ('APPROVED', 'CAPTURED') THEN captured_cents ELSE 0 END), 0)"
            " FROM holds WHERE card_hash=? AND created_at>=?",
            (now - self._validity_s(brand), h, now - CEILING_WINDOW_S),
        ).fetchone()
        return int(row[0])

    # -- operations ------------------------------------------------------------------------
    def authorize(
        self, source: PaymentSource, amount: Decimal, key: str, kind: str = "AUTH", currency: str = "EUR"
    ) -> IssuerAnswer:
        asked = source.network
        fingerprint = self._fingerprint(
            kind, to_cents(amount), self._source_id(source), currency, *([asked.value] if asked else [])
        )
        with self._lock:
            replay = self._replay(key, fingerprint)
            if replay is not None:
                return replay
            now = self.clock()
            today = date.fromtimestamp(now)
            with self._write():
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
                network = card.route(asked) if card is not None else None
                if code == "00" and card is not None and network is None:
                    code = "58"  # the card carries no such network: not permitted to this terminal
                cvv = card.cvv_check(source.card.cvv if source.card else None) if card is not None else None
                net = network.value if network else None
                hang = card is not None and card.code == "timeout"
                if code != "00":
                    resp = AcquirerResponse(Outcome.DECLINED, code, token=token, network=net, cvv=cvv)
                    self._record(key, kind, resp, fingerprint)
                else:
                    assert card is not None and h is not None
                    ref = hold_reference()
                    auth_code = f"{secrets.randbelow(1_000_000):06d}"
                    if kind == "AUTH":
                        self.db.execute(
                            "INSERT INTO holds (ref, card_hash, brand, amount_cents, state, created_at, network)"
                            " VALUES (?,?,?,?,?,?,?)",
                            (ref, h, card.brand.value, cents, "APPROVED", now, net),
                        )
                    resp = AcquirerResponse(Outcome.APPROVED, "00", ref, auth_code, token, amount, network=net, cvv=cvv)
                    self._record(key, kind, resp, fingerprint, hang)
            return IssuerAnswer(resp, delay, hang)

    def void(self, reference: str, key: str) -> IssuerAnswer:
        fingerprint = self._fingerprint("VOID", reference)
        with self._lock:
            replay = self._replay(key, fingerprint)
            if replay is not None:
                return replay
            with self._write():
                row = self.db.execute(
                    "SELECT state, amount_cents, captured_cents, released_cents FROM holds WHERE ref=?", (reference,)
                ).fetchone()
                if row is None:
                    resp = AcquirerResponse(Outcome.DECLINED, "12", reference, message="unknown authorization")
                elif row[0] == "CAPTURED":
                    resp = AcquirerResponse(Outcome.DECLINED, "12", reference, message="captured: no void")
                elif row[2]:  # partly captured: the void releases what is still held, the captures stand
                    self.db.execute("UPDATE holds SET state='CAPTURED' WHERE ref=?", (reference,))
                    resp = AcquirerResponse(
                        Outcome.VOIDED, "00", reference, amount=from_cents(row[1] - row[2] - row[3])
                    )
                else:
                    self.db.execute("UPDATE holds SET state='VOIDED' WHERE ref=?", (reference,))
                    resp = AcquirerResponse(Outcome.VOIDED, "00", reference, amount=from_cents(row[1]))
                self._record(key, "VOID", resp, fingerprint)
            return IssuerAnswer(resp)

    def capture(
        self, reference: str, amount: Decimal, key: str, currency: str = "EUR", final: bool = True
    ) -> IssuerAnswer:
        """Capture `amount` of what the hold still holds. A final capture (the default, and the only
        kind before multicapture) releases the rest; a non-final one keeps the rest held for the
        next parcel. Never above what remains held: the sum of captures never exceeds the hold."""
        kind = "CAPTURE" if final else "CAPTURE_PART"
        fingerprint = self._fingerprint(kind, reference, to_cents(amount), currency)
        with self._lock:
            replay = self._replay(key, fingerprint)
            if replay is not None:
                return replay
            now = self.clock()
            with self._write():
                row = self.db.execute(
                    "SELECT state, amount_cents - captured_cents - released_cents, created_at, brand FROM holds"
                    " WHERE ref=?",
                    (reference,),
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
                    done = final or cents == row[1]
                    self.db.execute(
                        "UPDATE holds SET state=?, captured_cents=captured_cents+? WHERE ref=?",
                        ("CAPTURED" if done else "APPROVED", cents, reference),
                    )
                    resp = AcquirerResponse(Outcome.CAPTURED, "00", reference, amount=amount)
                self._record(key, "CAPTURE", resp, fingerprint)
            return IssuerAnswer(resp)

    def release(self, reference: str, amount: Decimal, key: str, currency: str = "EUR") -> IssuerAnswer:
        """Partial void: release `amount` of what the hold still holds, keep the rest. A hold left
        with nothing is closed: CAPTURED when something was captured from it, VOIDED otherwise."""
        fingerprint = self._fingerprint("RELEASE", reference, to_cents(amount), currency)
        with self._lock:
            replay = self._replay(key, fingerprint)
            if replay is not None:
                return replay
            with self._write():
                row = self.db.execute(
                    "SELECT state, amount_cents - captured_cents - released_cents, captured_cents FROM holds"
                    " WHERE ref=?",
                    (reference,),
                ).fetchone()
                cents = to_cents(amount)
                if row is None or row[0] != "APPROVED":
                    msg = "unknown authorization" if row is None else f"authorization {row[0].lower()}"
                    resp = AcquirerResponse(Outcome.DECLINED, "12", reference, message=msg)
                elif cents > row[1] or cents <= 0:
                    resp = AcquirerResponse(Outcome.DECLINED, "13", reference, message="above the amount held")
                else:
                    state = "APPROVED" if cents < row[1] else ("CAPTURED" if row[2] else "VOIDED")
                    self.db.execute(
                        "UPDATE holds SET state=?, released_cents=released_cents+? WHERE ref=?",
                        (state, cents, reference),
                    )
                    resp = AcquirerResponse(Outcome.VOIDED, "00", reference, amount=amount)
                self._record(key, "RELEASE", resp, fingerprint)
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
                    return AcquirerResponse(
                        Outcome(row[0]),
                        resp.code,
                        resp.reference,
                        resp.auth_code,
                        resp.token,
                        resp.amount,
                        network=resp.network,
                        cvv=resp.cvv,
                    )
            return resp

    # -- for tests, benches and the crash harness -------------------------------------------
    def live_holds(self) -> dict[str, int]:
        """Holds still open (approved, not closed by a final capture or a void): reference → the
        cents they still hold (the authorized amount less what was captured or released)."""
        with self._lock:
            return dict(
                self.db.execute(
                    "SELECT ref, amount_cents - captured_cents - released_cents FROM holds WHERE state='APPROVED'"
                )
            )

    def holds(self) -> list[tuple[str, str, int, int]]:
        with self._lock:
            return list(self.db.execute("SELECT ref, state, amount_cents, captured_cents FROM holds"))

    def hold_keys(self) -> dict[str, str]:
        """Authorization idempotency key → hold reference, for every hold made."""
        with self._lock:
            return dict(self.db.execute("SELECT key, ref FROM ops WHERE kind='AUTH' AND outcome='APPROVED'"))

    # -- settlement (settle branch, issue 12.5) ---------------------------------------------
    def captured(self, since: float | None = None, until: float | None = None) -> list[tuple[str, str, int, float]]:
        """Every capture the issuer made, oldest first: (capture key, hold reference, cents, when)."""
        with self._lock:
            return list(
                self.db.execute(
                    "SELECT key, ref, amount_cents, created_at FROM ops WHERE kind='CAPTURE' AND outcome='CAPTURED'"
                    " AND created_at >= ? AND created_at <= ? ORDER BY created_at, key",
                    (since if since is not None else float("-inf"), until if until is not None else float("inf")),
                )
            )

    _OPEN = "FROM ops WHERE kind='CAPTURE' AND outcome='CAPTURED' AND key NOT IN (SELECT capture_key FROM batch_items)"

    def reconcile(self, key: str, count: int, cents: int, currency: str = "EUR") -> tuple[str, int, int]:
        """An acquirer's batch total (ISO 8583 0500): the merchant's count and amount of captures
        against the captures not yet in a closed batch. In balance ('00'): they are closed in this
        batch; out of balance ('95'): nothing changes. The same key replays its answer ('94' for
        other totals). Returns (code, the issuer's count, the issuer's cents)."""
        fingerprint = self._fingerprint("RECONCILE", count, cents, currency)
        with self._lock:
            row = self.db.execute(
                "SELECT fingerprint, in_balance, count, cents FROM batches WHERE key=?", (key,)
            ).fetchone()
            if row is not None:
                if not hmac.compare_digest(row[0], fingerprint):
                    return KEY_REUSED, 0, 0
                return ("00" if row[1] else "95"), row[2], row[3]
            with self._write():
                n, total = self.db.execute(f"SELECT count(*), COALESCE(SUM(amount_cents), 0) {self._OPEN}").fetchone()
                balanced = currency == "EUR" and (n, total) == (count, cents)
                if balanced:
                    self.db.execute(f"INSERT INTO batch_items SELECT key, ? {self._OPEN}", (key,))
                self.db.execute(
                    "INSERT INTO batches VALUES (?,?,?,?,?,?)",
                    (key, fingerprint, int(balanced), n, total, self.clock()),
                )
            return ("00" if balanced else "95"), int(n), int(total)

    def open_batch(self) -> tuple[int, int]:
        """Captures not yet in a closed batch: (count, cents). For tests."""
        with self._lock:
            n, total = self.db.execute(f"SELECT count(*), COALESCE(SUM(amount_cents), 0) {self._OPEN}").fetchone()
            return int(n), int(total)

    def transaction_id(self, capture_key: str) -> str:
        """The balance transaction id of a capture: the same in every report (keyed, opaque), in
        letters only, so that no run of its digits can read as a card number."""
        return "txn_" + self._fingerprint("TXN", capture_key)[:24].translate(_LETTERS)

    def hold_networks(self) -> dict[str, str | None]:
        """Hold reference → the network it was made on (tests: the choice reached the issuer)."""
        with self._lock:
            return dict(self.db.execute("SELECT ref, network FROM holds"))

    def close(self) -> None:
        self.db.close()


def issuer_from_settings(settings: Settings) -> Issuer:
    """The one way every simulator transport builds its issuer from configuration."""
    return Issuer(
        settings.simulator_path,
        validity_days=settings.validity_days,
        cards=load_cards(settings.simulator_cards) if settings.simulator_cards else None,
    )
