"""Formatting of amounts and dates for the screens (French by default, English with D400_LANG=en)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_decimal

from d400tui.i18n import get_lang


def amount(value: Decimal | None) -> str:
    if value is None:
        return ""
    locale = "en_GB" if get_lang() == "en" else "fr_FR"
    return format_decimal(value, format="#,##0.00", locale=locale).replace("\u202f", " ").replace("\xa0", " ")


def day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, format="dd/MM/yyyy", locale="en_GB" if get_lang() == "en" else "fr_FR")


def stamp(value: datetime | None) -> str:
    return value.strftime("%d/%m/%y %H:%M") if value else ""


def parse_day(text: str) -> date:
    """JJ/MM/AAAA or AAAA-MM-JJ; ValueError otherwise."""
    text = text.strip()
    if len(text) > 10 or not text.isascii():
        raise ValueError(text)
    if "-" in text:
        return date.fromisoformat(text)
    d, mth, y = text.split("/")
    return date(int(y), int(mth), int(d))
