"""What a command reads besides its options: the card number and passwords from standard input or
the terminal (never from argv), dates and order numbers checked at the edge."""

from __future__ import annotations

import getpass
import sys
from datetime import date
from typing import Any

import typer

from d400tui.cli.output import CliError, quote
from d400tui.domain.cards import CardData, card_from_entry

MAX_NUMBER = 2_147_483_647
"""Order and customer numbers are INTEGER columns: a larger number is refused at the edge."""


def order_number() -> Any:
    return typer.Argument(..., min=1, max=MAX_NUMBER, help="Order number.")


def stdin_lines(size: int) -> list[str]:
    try:
        return sys.stdin.read(size).splitlines()
    except UnicodeDecodeError:
        raise CliError("standard input: text expected (UTF-8)") from None


def read_card(expiry: str) -> CardData:
    """Card number (and optional CVV on a second line) from standard input, never from argv."""
    if sys.stdin.isatty():
        pan = getpass.getpass("Card number: ")
        cvv = getpass.getpass("CVV (optional): ")
    else:
        data = stdin_lines(4096)
        pan = data[0] if data else ""
        cvv = data[1].strip() if len(data) > 1 else ""
    return card_from_entry(pan, expiry, cvv or None, date.today())


def password_twice() -> str:
    if sys.stdin.isatty():
        p1 = getpass.getpass("Password: ")
        p2 = getpass.getpass("Again: ")
    else:
        lines = stdin_lines(1024)
        p1, p2 = (lines + ["", ""])[:2]
    if p1 != p2:
        raise CliError("the two passwords differ")
    return p1


def parse_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"date: YYYY-MM-DD expected, got {quote(text)}") from exc
