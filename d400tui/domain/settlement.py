"""The acquirer's settlement report, read and checked before anything is stored.

The file is the shape of Stripe's itemized balance report (balance_change_from_activity.itemized):
one balance transaction a line, amounts in the currency's major units with a decimal point
(`12.34`), `net = gross - fee`, currency in lower case, `reporting_category` `charge` for a
capture. Stripe's older dashboard export names (`id`, `amount`, `created`, `source`) are taken
as aliases. The reference matched against our captures is `payment_intent_id` when the line has
one (Stripe: our acquirer_ref is the PaymentIntent), else `source_id` (the simulator's hold).

A hostile file is refused whole with one message naming the line and the column, never the
cell: wrong columns, bad amounts, spreadsheet formulas, over-long lines, control characters, a
card number anywhere. Nothing of a refused file is kept."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from .cards import scrub
from .model import DomainError

MAX_BYTES = 32 * 1024 * 1024
MAX_LINE = 4096
MAX_LINES = 200_000
CAPTURE_CATEGORIES = frozenset({"charge", "payment"})
"""The reporting categories that settle a capture; other lines (refund, fee, adjustment…) are
counted and kept, not matched."""

ALIASES = {
    "id": ("balance_transaction_id", "id"),
    "created": ("created_utc", "created"),
    "currency": ("currency",),
    "gross": ("gross", "amount"),
    "fee": ("fee",),
    "net": ("net",),
    "category": ("reporting_category", "category"),
    "payment_intent": ("payment_intent_id",),
    "source": ("source_id", "source"),
}
"""Our column → the export's names for it, preferred first (Stripe's itemized report has both
`created_utc` and `created` in the report's time zone: UTC is read)."""
REQUIRED = ("id", "created", "currency", "gross", "fee", "net", "category")
NAMES = {
    "id": "balance_transaction_id",
    "created": "created_utc",
    "currency": "currency",
    "gross": "gross",
    "fee": "fee",
    "net": "net",
    "category": "reporting_category",
    "payment_intent": "payment_intent_id",
    "source": "source_id",
}
"""Each column by the name of the export the simulator writes (the name said in messages)."""

_AMOUNT = re.compile(r"-?[0-9]{1,7}\.[0-9]{2}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,79}")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_CATEGORY = re.compile(r"[a-z][a-z_]{0,39}")
_DATE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
"""A date or a time stamp: its digits and separators may read as a card number to the scrubber."""
_BREAK = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")
FORMULA_START = ("=", "+", "-", "@")


class SettlementFileError(DomainError):
    """The file is refused whole: the message names the line and column, never the cell."""


class Difference(StrEnum):
    NOT_SETTLED = "NOT_SETTLED"  # captured here, not (yet) settled by the acquirer
    UNKNOWN = "UNKNOWN"  # settled by the acquirer, no capture of ours for that reference
    AMOUNT_DIFFERS = "AMOUNT_DIFFERS"  # both sides know it, not for the same amount


@dataclass(frozen=True)
class SettlementLine:
    line_no: int
    key: str  # the balance transaction id: one line is imported once, whatever the file
    reference: str
    category: str
    currency: str  # upper case, ISO 4217
    gross: Decimal
    fee: Decimal
    net: Decimal
    created: datetime | None  # UTC, naive

    @property
    def settles_capture(self) -> bool:
        return self.category in CAPTURE_CATEGORIES


@dataclass(frozen=True)
class SettlementFile:
    name: str
    sha256: str
    lines: list[SettlementLine]


@dataclass
class SettlementDiff:
    kind: Difference
    reference: str | None
    ours: Decimal | None
    theirs: Decimal | None
    currency: str = "EUR"
    order_id: int | None = None
    authorization_id: int | None = None
    line_key: str | None = None
    since_run: int | None = None  # NOT_SETTLED: the first run that listed it


@dataclass
class SettlementRun:
    """One import (source CSV) or one ISO 8583 batch total (source ISO8583), with its counts."""

    source: str
    acquirer: str
    operator: str
    started_at: datetime
    file_name: str | None = None
    file_sha256: str | None = None
    lines: int = 0
    new_lines: int = 0
    already_imported: int = 0
    matched: int = 0
    not_settled: int = 0
    unknown: int = 0
    amount_differs: int = 0
    other_lines: int = 0
    gross: Decimal = Decimal("0.00")
    fee: Decimal = Decimal("0.00")
    net: Decimal = Decimal("0.00")
    first_created: datetime | None = None
    last_created: datetime | None = None
    batch_key: str | None = None
    in_balance: bool | None = None  # ISO 8583: None while the 0510 has not come
    our_count: int | None = None
    our_amount: Decimal | None = None
    host_count: int | None = None
    host_amount: Decimal | None = None
    id: int | None = None


@dataclass
class SettlementReport:
    run: SettlementRun
    differences: list[SettlementDiff] = field(default_factory=list)
    repeated: bool = False  # the same file was imported before: nothing changed


def _amount(text: str, line: int, column: str) -> Decimal:
    if not _AMOUNT.fullmatch(text):
        raise SettlementFileError("engine.settle_bad_amount", line=line, column=column)
    return Decimal(text)


def _created(text: str, line: int) -> datetime | None:
    if not text:
        return None
    try:
        if text.isdigit() and len(text) <= 11:
            return datetime.fromtimestamp(int(text), UTC).replace(tzinfo=None)
        when = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        raise SettlementFileError("engine.settle_bad_date", line=line, column=NAMES["created"]) from None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when


def _text(cells: dict[str, str], name: str, pattern: re.Pattern[str], line: int) -> str:
    value = cells.get(name, "")
    if value.startswith(FORMULA_START):
        raise SettlementFileError("engine.settle_formula", line=line, column=NAMES[name])
    if not pattern.fullmatch(value):
        raise SettlementFileError("engine.settle_bad_cell", line=line, column=NAMES[name])
    return value


def _header(row: list[str]) -> dict[str, int]:
    """Our column name → its index; unknown columns are ignored, a known name twice is refused."""
    names = [raw.strip().lower() for raw in row]
    where: dict[str, int] = {}
    for ours, theirs in ALIASES.items():
        for name in theirs:
            if names.count(name) > 1:
                raise SettlementFileError("engine.settle_column_twice", column=name)
            if name in names:
                where[ours] = names.index(name)
                break
    missing = [NAMES[c] for c in REQUIRED if c not in where]
    if "payment_intent" not in where and "source" not in where:
        missing.append(f"{NAMES['source']} | {NAMES['payment_intent']}")
    if missing:
        raise SettlementFileError("engine.settle_columns", missing=", ".join(missing))
    return where


def _lines(text: str) -> None:
    """Every physical line (LF, CRLF or CR ended) under MAX_LINE characters, at most MAX_LINES."""
    for n, line in enumerate(_BREAK.split(text), start=1):
        if len(line) > MAX_LINE:
            raise SettlementFileError("engine.settle_line_too_long", line=n, limit=MAX_LINE)
        if n > MAX_LINES + 2:  # the header, and the empty piece after the last line break
            raise SettlementFileError("engine.settle_too_many", limit=MAX_LINES)


def parse_settlement(data: bytes, name: str) -> SettlementFile:
    """The whole file checked, or SettlementFileError naming the first problem."""
    if len(data) > MAX_BYTES:
        raise SettlementFileError("engine.settle_too_big", limit=MAX_BYTES // (1024 * 1024))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SettlementFileError("engine.settle_not_text") from None
    if "\x00" in text:
        raise SettlementFileError("engine.settle_not_text")
    _lines(text)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []  # (line number in the file, cells), blank lines left out
    try:
        for row in reader:
            if any(c.strip() for c in row):
                rows.append((reader.line_num, row))
    except csv.Error:
        raise SettlementFileError("engine.settle_csv", line=reader.line_num) from None
    if not rows:
        raise SettlementFileError("engine.settle_empty")
    header = rows[0][1]
    where = _header(header)
    labels = [str(i + 1) for i in range(len(header))]  # a column we do not read is named by its number
    for k, i in where.items():
        labels[i] = NAMES[k]
    lines: list[SettlementLine] = []
    seen: dict[str, int] = {}
    for n, row in rows[1:]:
        lines.append(_line(row, n, where, labels))
        first = seen.setdefault(lines[-1].key, n)
        if first != n:
            raise SettlementFileError("engine.settle_duplicate", line=n, first=first)
    if not lines:
        raise SettlementFileError("engine.settle_empty")
    return SettlementFile(name, hashlib.sha256(data).hexdigest(), lines)


def _line(row: list[str], n: int, where: dict[str, int], labels: list[str]) -> SettlementLine:
    if len(row) != len(labels):
        raise SettlementFileError("engine.settle_row_width", line=n, found=len(row), expected=len(labels))
    # any cell, read or not: a hidden control character or a card number refuses the file
    if _CONTROL.search("".join(row)):
        i = next(i for i, cell in enumerate(row) if _CONTROL.search(cell))
        raise SettlementFileError("engine.settle_control", line=n, column=labels[i])
    for i, cell in enumerate(row):
        if not _DATE.fullmatch(cell.strip()) and scrub(cell) != cell:
            raise SettlementFileError("engine.settle_card_number", line=n, column=labels[i])
    cells = {k: row[i].strip() for k, i in where.items()}
    ref_name = "payment_intent" if cells.get("payment_intent") else "source"
    gross = _amount(cells["gross"], n, NAMES["gross"])
    fee = _amount(cells["fee"], n, NAMES["fee"])
    net = _amount(cells["net"], n, NAMES["net"])
    if gross - fee != net:
        raise SettlementFileError("engine.settle_net", line=n)
    return SettlementLine(
        line_no=n,
        key=_text(cells, "id", _ID, n),
        reference=_text(cells, ref_name, _ID, n),
        category=_text(cells, "category", _CATEGORY, n),
        currency=_text(cells, "currency", _CURRENCY, n).upper(),
        gross=gross,
        fee=fee,
        net=net,
        created=_created(cells["created"], n),
    )
