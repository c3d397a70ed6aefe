"""Card helpers: Luhn, brand, masking, expiry. The full number only ever lives in a CardData
in memory on its way to the acquirer; everything kept is a MaskedCard."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from stdnum import luhn


class Brand(StrEnum):
    CB = "CB"
    VISA = "VISA"
    MASTERCARD = "MASTERCARD"
    MAESTRO = "MAESTRO"
    AMEX = "AMEX"
    UNKNOWN = "UNKNOWN"


class CardError(ValueError):
    """A card number or expiry the operator typed is not valid. `field` names what to fix."""

    def __init__(self, message: str, field: str = "card") -> None:
        super().__init__(message)
        self.field = field


_DIGITS = re.compile(r"^[0-9]{12,19}$")
_EXPIRY = re.compile(r"^(\d{1,2})\s*/?\s*(\d{2}|\d{4})$")


def clean_pan(text: str) -> str:
    """Accept the spaces and dashes operators type between groups; refuse anything else."""
    if len(text) > 64:
        raise CardError("numéro de carte trop long")
    pan = re.sub(r"[\s-]", "", text)
    if not pan:
        raise CardError("numéro de carte obligatoire")
    if not pan.isascii() or not pan.isdigit():
        raise CardError("le numéro de carte ne contient que des chiffres")
    if not _DIGITS.match(pan):
        raise CardError("numéro de carte : 12 à 19 chiffres")
    if not luhn.is_valid(pan):
        raise CardError("numéro de carte invalide (clé de contrôle)")
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
        raise CardError("date d'expiration : MM/AA", field="expiry")
    month, year = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        raise CardError("mois d'expiration entre 01 et 12", field="expiry")
    if year < 100:
        year += 2000
    exp = Expiry(month, year)
    if today is not None and exp.is_past(today):
        raise CardError("carte expirée", field="expiry")
    return exp


def parse_cvv(text: str, brand: Brand) -> str:
    size = 4 if brand is Brand.AMEX else 3
    if not (len(text) == size and text.isascii() and text.isdigit()):
        raise CardError(f"cryptogramme : {size} chiffres", field="cvv")
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

    @property
    def brand(self) -> Brand:
        return brand_of(self.pan)

    @property
    def masked(self) -> MaskedCard:
        return MaskedCard(self.brand, self.pan[:6], self.pan[-4:], str(self.expiry))

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


_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)*")


def scrub(text: str) -> str:
    """Hide the middle digits of every Luhn-valid 13–19 digit window in free text (spaces or
    dashes between digits allowed): `4970100000000014` becomes `497010******0014`. Windows
    inside longer runs are checked too, so no valid number hides in a longer digit string."""

    def _mask(m: re.Match[str]) -> str:
        run = m.group(0)
        idx = [i for i, ch in enumerate(run) if ch.isdigit()]
        digits = "".join(run[i] for i in idx)
        if len(digits) < 13:
            return run
        if len(digits) > 512:  # no log line carries that many digits honestly: hide them all
            return re.sub(r"\d", "*", run)
        hide: set[int] = set()
        for size in range(13, 20):
            for start in range(0, len(digits) - size + 1):
                if luhn.is_valid(digits[start:start + size]):
                    hide.update(idx[k] for k in range(start + 6, start + size - 4))
        if not hide:
            return run
        return "".join("*" if i in hide else ch for i, ch in enumerate(run))

    return _DIGIT_RUN.sub(_mask, text)
