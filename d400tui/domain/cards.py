"""Card helpers: Luhn, brand, masking, expiry. The full number only ever lives in a CardData
in memory on its way to the acquirer; everything kept is a MaskedCard."""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from .message import MessageError


class Brand(StrEnum):
    CB = "CB"
    VISA = "VISA"
    MASTERCARD = "MASTERCARD"
    MAESTRO = "MAESTRO"
    AMEX = "AMEX"
    UNKNOWN = "UNKNOWN"


NETWORK_CHOICE = (Brand.VISA, Brand.MASTERCARD)
"""The international networks a co-badged CB card may carry besides CB."""


class CvvResult(StrEnum):
    """What the issuer said of the CVV (Stripe's cvc_check, ISO 8583's CVV2 result): kept on the
    authorization in place of the CVV itself, which is never kept."""

    MATCH = "MATCH"
    NO_MATCH = "NO_MATCH"
    NOT_CHECKED = "NOT_CHECKED"


@dataclass(frozen=True, slots=True)
class CardRange:
    """A range of card numbers (an IIN prefix) and the networks its cards can be routed on."""

    prefix: str
    networks: tuple[Brand, ...]


def networks_of(pan: str, ranges: tuple[CardRange, ...] | list[CardRange]) -> tuple[Brand, ...]:
    """The networks a card can be routed on, CB first (the merchant's default on a co-badged
    card, EU Regulation 2015/751 art. 8): the longest matching range of `ranges`, else the card's
    own brand alone (a card of no co-badged range offers no choice)."""
    best: CardRange | None = None
    for r in ranges:
        if pan.startswith(r.prefix) and (best is None or len(r.prefix) > len(best.prefix)):
            best = r
    if best is None:
        return (brand_of(pan),)
    return tuple(sorted(best.networks, key=lambda b: b is not Brand.CB))


class CardError(MessageError, ValueError):
    """A card number or expiry the operator typed is not valid. `field` names what to fix."""

    default_field = "card"


_EXPIRY = re.compile(r"^(\d{1,2})\s*/?\s*(\d{2}|\d{4})$")

# -- what "looks like a card number" -------------------------------------------------------------
# One definition for the card field (clean_pan) and the scrubber (scrub): a card number is 13 to 19
# digits (is_digit: any script's decimals, full-width, Arabic-Indic…) passing Luhn, with any number of
# the separators below between them. Whatever the field accepts, the scrubber therefore finds.
PAN_MIN, PAN_MAX = 13, 19
MAX_ENTRY = 64
"""Longest text the card field takes (digits and separators)."""

_SEPARATOR_POINTS: tuple[int | tuple[int, int], ...] = (
    # whitespace: tab, newlines, NBSP, ogham, en/em/thin/hair spaces, narrow NBSP, ideographic…
    (0x09, 0x0D),
    (0x1C, 0x20),
    0x85,
    0xA0,
    0x1680,
    (0x2000, 0x200A),
    0x2028,
    0x2029,
    0x202F,
    0x205F,
    0x3000,
    # dashes (Unicode Pd), minus signs, hyphen bullet
    0x2D,
    0x58A,
    0x5BE,
    0x1400,
    0x1806,
    (0x2010, 0x2015),
    0x2E17,
    0x2E1A,
    0x2E3A,
    0x2E3B,
    0x2E40,
    0x2E5D,
    0x301C,
    0x3030,
    0x30A0,
    0xFE31,
    0xFE32,
    0xFE58,
    0xFE63,
    0xFF0D,
    0x10EAD,
    0x2212,
    0x2043,
    0x02D7,
    0x2796,
    0x207B,
    0x208B,
    # underscores (Unicode Pc) and the double low line
    0x5F,
    0x203F,
    0x2040,
    0x2054,
    0xFE33,
    0xFE34,
    (0xFE4D, 0xFE4F),
    0xFF3F,
    0x2017,
    # dots
    0x2E,
    0xB7,
    0x387,
    0x2022,
    0x2024,
    0x2027,
    0x2219,
    0x22C5,
    0x3002,
    0x30FB,
    0xFE52,
    0xFF0E,
    0xFF65,
    # slashes
    0x2F,
    0x5C,
    0x2044,
    0x2215,
    0x2216,
    0x29F5,
    0x29F8,
    0xFF0F,
    0xFF3C,
    # the rest of ASCII punctuation people put between groups (, : ; + | # ' ( ) …), and their
    # full-width forms; not the quote and not the star (masking writes stars: scrub stays idempotent)
    0x21,
    (0x23, 0x26),
    0x27,
    0x28,
    0x29,
    0x2B,
    0x2C,
    0x3A,
    0x3B,
    (0x3C, 0x40),
    0x5B,
    0x5D,
    0x5E,
    0x60,
    (0x7B, 0x7E),
    0x3001,
    0xFF0C,
    0xFF1A,
    0xFF1B,
    0xFF0B,
    0xFF5C,
    0xFF03,
    # invisible format characters (Unicode Cf): soft hyphen, zero-width spaces and joiners, bidi marks…
    0xAD,
    (0x600, 0x605),
    0x61C,
    0x6DD,
    0x70F,
    0x890,
    0x891,
    0x8E2,
    0x180E,
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    0xFEFF,
    (0xFFF9, 0xFFFB),
    # combining marks over a digit (accents, keycap 4️⃣, variation selectors)
    (0x300, 0x36F),
    (0x20D0, 0x20FF),
    (0xFE00, 0xFE0F),
    (0xFE20, 0xFE2F),
)
# Digits beyond the decimal ones (Unicode Nd, which \d matches): superscripts, subscripts, circled.
_EXTRA_DIGITS = "\u00b2\u00b3\u00b9\u2070\u2074-\u2079\u2080-\u2089\u2460-\u2468\u24ea"
_DIGIT = rf"[\d{_EXTRA_DIGITS}]"
_EXTRA = frozenset(c for c in map(chr, range(0x2500)) if re.fullmatch(f"[{_EXTRA_DIGITS}]", c))


def _points() -> list[int]:
    out: list[int] = []
    for p in _SEPARATOR_POINTS:
        out.extend(range(p[0], p[1] + 1) if isinstance(p, tuple) else [p])
    return out


SEPARATORS = frozenset(map(chr, _points()))
"""Characters people type (or paste) between the digit groups of a card number."""
_SEP = "[" + "".join(f"\\U{c:08x}" for c in _points()) + "]"
# A backslash escape (JSON, Python repr, C): free text often reaches a column or a log line
# JSON-encoded, where a tab is written `\\t` and, with ensure_ascii, a full-width 4 `\\uff14`.
_ESC = (
    r"\\{1,8}(?:u[dD][89abAB][0-9a-fA-F]{2}\\{1,8}u[dD][c-fC-F][0-9a-fA-F]{2}"  # a UTF-16 surrogate pair
    r"|[bfnrtv]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})"
)
_STRIP = re.compile(_SEP)
_RUN = re.compile(rf"{_DIGIT}(?:{_SEP}*{_DIGIT})*")
_RUN_ESCAPED = re.compile(rf"(?:{_ESC}|{_DIGIT})(?:{_ESC}|{_DIGIT}|{_SEP})*")
_TOKEN = re.compile(rf"{_ESC}|{_DIGIT}|{_SEP}")
_ESCAPED_LETTER = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
MAX_DIGIT_RUN = 512
"""Digits joined by separators beyond this are all hidden: no free text carries that many honestly."""


def is_digit(ch: str) -> bool:
    """A digit of a card number: decimal of any script (`４`, `٤`), superscript, subscript, circled."""
    return ch.isdecimal() or ch in _EXTRA


def ascii_digits(text: str) -> str:
    """Digits (is_digit) as ASCII (`４⁹` → `49`)."""
    if text.isascii():
        return text
    return "".join(_ascii_digit(c) for c in text)


def _ascii_digit(ch: str) -> str:
    value = unicodedata.decimal(ch, None)
    return unicodedata.normalize("NFKC", ch) if value is None else str(value)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """The one test of "a card number": 13 to 19 ASCII digits passing Luhn."""
    return PAN_MIN <= len(digits) <= PAN_MAX and digits.isascii() and digits.isdigit() and _luhn_ok(digits)


def clean_pan(text: str) -> str:
    """The card field: digits (any script) with any separators of SEPARATORS between them."""
    if len(text) > MAX_ENTRY:
        raise CardError("engine.pan_too_long")
    pan = _STRIP.sub("", text)
    if not pan:
        raise CardError("engine.card_required")
    if not all(map(is_digit, pan)):
        raise CardError("engine.pan_digits")
    pan = ascii_digits(pan)
    if not PAN_MIN <= len(pan) <= PAN_MAX:
        raise CardError("engine.pan_length")
    if not is_card_number(pan):
        raise CardError("engine.pan_check")
    return pan


def brand_of(pan: str) -> Brand:
    """Brand from the IIN prefix. French co-badged CB/Visa cards are reported VISA (the CB flag is
    the acquirer's business); Maestro ranges are checked before Mastercard's."""
    if pan.startswith(("34", "37")) and len(pan) == 15:
        return Brand.AMEX
    if pan.startswith("4"):
        return Brand.VISA
    p2, p4 = int(pan[:2]), int(pan[:4])
    if pan.startswith(("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763")):
        return Brand.MAESTRO
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return Brand.MASTERCARD
    return Brand.UNKNOWN


@dataclass(frozen=True, slots=True)
class Expiry:
    month: int
    year: int  # four digits

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def is_past(self, today: date) -> bool:
        return self.last_day < today

    def __str__(self) -> str:
        return f"{self.month:02d}/{self.year % 100:02d}"


def parse_expiry(text: str, today: date | None = None) -> Expiry:
    """MM/YY (or MMYY, MM/YYYY). With `today`, a card already expired is refused."""
    m = _EXPIRY.match(text.strip()) if len(text) < 16 else None
    if not m:
        raise CardError("engine.expiry_format", field="expiry")
    month, year = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        raise CardError("engine.expiry_month", field="expiry")
    if year < 100:
        year += 2000
    exp = Expiry(month, year)
    if today is not None and exp.is_past(today):
        raise CardError("engine.card_expired", field="expiry")
    return exp


def parse_cvv(text: str, brand: Brand) -> str:
    size = 4 if brand is Brand.AMEX else 3
    if not (len(text) == size and text.isascii() and text.isdigit()):
        raise CardError("engine.cvv_size", field="cvv", size=size)
    return text


@dataclass(frozen=True, slots=True)
class MaskedCard:
    """What we keep of a card: never the full number."""

    brand: Brand
    first6: str
    last4: str
    expiry: str  # MM/YY

    def __str__(self) -> str:
        return f"{self.first6}…{self.last4}"


@dataclass(frozen=True, slots=True, repr=False)
class CardData:
    """A card as typed, on its way to the acquirer. Its repr never shows the number or the CVV,
    so it cannot leak into a log line or a traceback."""

    pan: str
    expiry: Expiry
    cvv: str | None = None
    network: Brand | None = None
    """The network the operator chose on a co-badged card (None: the default, CB)."""

    @property
    def brand(self) -> Brand:
        return brand_of(self.pan)

    @property
    def masked(self) -> MaskedCard:
        return MaskedCard(self.brand, self.pan[:6], self.pan[-4:], str(self.expiry))

    def on(self, network: Brand | None) -> CardData:
        """The same card, routed on `network`."""
        return CardData(self.pan, self.expiry, self.cvv, network)

    def __repr__(self) -> str:
        return f"CardData({self.masked}, exp={self.expiry})"

    __str__ = __repr__


def card_from_entry(pan: str, expiry: str, cvv: str | None, today: date) -> CardData:
    """Validate what the operator typed, field by field, in screen order."""
    number = clean_pan(pan)
    exp = parse_expiry(expiry, today)
    brand = brand_of(number)
    code = parse_cvv(cvv, brand) if cvv else None
    return CardData(number, exp, code)


def _hidden(digits: str) -> set[int]:
    """Indexes of `digits` to hide: the middle of every card-number window (first 6 and last 4
    stay). Windows inside longer runs are checked too, so no number hides in a longer string."""
    n = len(digits)
    if n > MAX_DIGIT_RUN:
        return set(range(n))
    hide: set[int] = set()
    for size in range(PAN_MIN, min(PAN_MAX, n) + 1):
        for start in range(n - size + 1):
            if _luhn_ok(digits[start : start + size]):
                hide.update(range(start + 6, start + size - 4))
    return hide


def _raw_digits(m: re.Match[str]) -> list[tuple[int, int]]:
    """(start, end) of each digit character of a run of the raw view."""
    return [(m.start() + i, m.start() + i + 1) for i, ch in enumerate(m.group(0)) if is_digit(ch)]


def _decoded(token: str) -> str:
    """The character a token of the escaped view stands for."""
    if len(token) == 1:
        return token
    body = token.lstrip("\\")
    if len(body) == 1:
        return _ESCAPED_LETTER[body]
    if len(body) > 5 and body[0] == "u":  # surrogate pair
        high, low = int(body[1:5], 16), int(body[5:].lstrip("\\")[1:], 16)
        return chr(0x10000 + (high - 0xD800) * 0x400 + (low - 0xDC00))
    return chr(int(body[1:], 16))


def _escaped_digits(m: re.Match[str]) -> list[list[tuple[int, int]]]:
    """The escaped view of a run: digits (written or escaped), split where an escape stands for
    something that is neither a digit nor a separator."""
    groups: list[list[tuple[int, int]]] = [[]]
    for t in _TOKEN.finditer(m.group(0)):
        ch = _decoded(t.group(0))
        if len(ch) == 1 and is_digit(ch):
            groups[-1].append((m.start() + t.start(), m.start() + t.end()))
        elif ch not in SEPARATORS:
            groups.append([])
    return groups


def _mask(text: str, spans: list[tuple[int, int]], out: list[str]) -> None:
    if len(spans) < PAN_MIN:
        return
    digits = ascii_digits("".join(_decoded(text[a:b]) for a, b in spans))
    for k in _hidden(digits):
        a, b = spans[k]
        out[a:b] = ["*"] * (b - a)


def scrub(text: str) -> str:
    """Hide every card number of `text` (see `_scrub_once`), again until nothing changes, so that
    scrubbing a scrubbed text changes nothing (the audit chain hashes the text as stored)."""
    out = _scrub_once(text)
    while out != text:
        text, out = out, _scrub_once(out)
    return out


def _scrub_once(text: str) -> str:
    """Hide the middle digits of every card number in free text, written as the card field takes
    it (any SEPARATORS, any script's digits) or backslash-escaped (a JSON `\\t` or `\\uff14`, a
    repr's `\\xa0`): `4970 1000 0000 0014` becomes `4970 10** **** 0014`. Same length."""
    if text.isascii() and sum(map(text.count, "0123456789")) < PAN_MIN:
        return text
    out = list(text)
    for m in _RUN.finditer(text):
        if m.end() - m.start() >= PAN_MIN:  # shorter runs cannot hold 13 digits
            _mask(text, _raw_digits(m), out)
    if "\\" in text:  # both views: an escape's hex digits may be a number's own digits
        for m in _RUN_ESCAPED.finditer(text):
            if m.end() - m.start() < PAN_MIN:
                continue
            for spans in _escaped_digits(m):
                _mask(text, spans, out)
        _close_broken_escapes(out)
    return "".join(out)


def _close_broken_escapes(out: list[str]) -> None:
    """Masking may cut an escape in two (the hex of a `\\u0034`, the inner `\\t` of JSON inside
    JSON): the backslashes before it and what is left of the escape are masked too, so the text
    stays valid JSON or repr at every level of encoding and keeps its length."""
    i, n = 0, len(out)
    while i < n:
        if out[i] != "\\":
            i += 1
            continue
        j = i
        while j < n and out[j] == "\\":
            j += 1
        if j < n:  # an odd run escapes out[j] here, an even one in the text it encodes
            width = {"u": 5, "x": 3}.get(out[j], 1)
            if "*" in out[j : j + width]:
                out[i : j + width] = ["*"] * len(out[i : j + width])
        i = j
