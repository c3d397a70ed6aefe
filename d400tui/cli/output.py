"""What the `d400` command prints: results on stdout, one-line errors on stderr, JSON and tables.
Everything built from user input passes `clean` first (no terminal escapes, no card number)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, NoReturn, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from d400tui.domain.cards import scrub
from d400tui.domain.message import Message
from d400tui.i18n.render import tx

R = TypeVar("R")
out = Console()
err = Console(stderr=True)


class CliError(Exception):
    """Bad input or a refused command, said in one line by `fail`."""


_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?|"
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]"
)


def clean(text: str, limit: int = 300) -> str:
    """What may reach the terminal of a text built from user input: terminal escape sequences and
    control characters removed first (so none hides a card number from the scrubber), card
    numbers masked, one line, at most `limit` characters."""
    text = _ESCAPES.sub("", text[: 4 * limit])
    text = " ".join(scrub(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(value: str) -> str:
    return f"'{clean(value, 30)}'"


def error(message: str) -> None:
    """The one way a failure is said: `d400: …`, cleaned, on one line of stderr."""
    sys.stderr.write(f"d400: {clean(message)}\n")
    sys.stderr.flush()


def fail(code: int, message: str) -> NoReturn:
    """Say the failure, then exit with `code`."""
    error(message)
    sys.exit(code)


def plain(obj: Any) -> Any:
    """JSON-safe view of engine results (Decimal as string, enums as values, no card token)."""
    if isinstance(obj, Message):
        return tx(obj)  # a reason, a note, a label: in the reader's language
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if is_dataclass(obj) and not isinstance(obj, type):
        d = asdict(obj)
        d.pop("card_token", None)
        d.pop("password_hash", None)
        return {k: plain(v) for k, v in d.items()}
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


def print_json(obj: Any) -> None:
    out.print_json(json.dumps(plain(obj), ensure_ascii=False))


def print_rows(rows: list[R], as_json: bool, table: Table, cells: Callable[[R], tuple[str, ...]]) -> None:
    """A listing: `rows` as JSON, or one line of `table` (its columns already set) per row."""
    if as_json:
        print_json(rows)
        return
    for row in rows:
        table.add_row(*cells(row))
    out.print(table)


def progress(label: str, quiet: bool) -> tuple[Progress | None, Callable[[int, int], None] | None]:
    """A progress bar on stderr and its update callback, or (None, None) when `quiet`."""
    if quiet:
        return None, None
    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err)
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update
