"""Formatting of amounts and dates for the screens (French by default, English with D400_LANG=en)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from d400tui.i18n import get_lang


def amount(value: Decimal | None) -> str:
    """1 234,56 (fr) or 1,234.56 (en). Plain formatting: babel's locale data took 120 ms to load on
    the first amount of a session, which landed on the first page of "work with orders"."""
    if value is None:
        return ""
    text = f"{Decimal(value):,.2f}"
    if get_lang() == "en":
        return text
    return text.replace(",", " ").replace(".", ",")


def day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return value.strftime("%d/%m/%Y")


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
