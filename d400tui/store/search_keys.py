"""Search keys: what an operator types is compared with a folded copy of the name, stored on
insert in an indexed column, so `francois`, `lefevre` and `BONNET` find FRANÇOIS, LEFÈVRE and
"Bonnet" identically on SQLite and PostgreSQL (no per-row function, no database extension)."""

from __future__ import annotations

import unicodedata
from typing import Any

# letters NFKD does not decompose into a base letter and a mark
_SPECIAL = str.maketrans(
    {
        "Œ": "OE",
        "œ": "OE",
        "Æ": "AE",
        "æ": "AE",
        "ß": "SS",
        "Ø": "O",
        "ø": "O",
        "Ł": "L",
        "ł": "L",
        "Đ": "D",
        "đ": "D",
        "’": "'",
    }
)


def fold(text: str) -> str:
    """Upper case, accents removed, runs of blanks made one: "  Lefèvre  Paul" → "LEFEVRE PAUL"."""
    text = (text or "").translate(_SPECIAL)
    bare = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    return " ".join(bare.upper().split())


def digits(text: str) -> str:
    """A phone number as its digits only: "01 71.93-86 99" → "0171938699"."""
    return "".join(ch for ch in (text or "") if ch.isascii() and ch.isdigit())


def customer_key(name: str, city: str) -> str:
    return fold(f"{name} {city}")[:120]


def article_key(code: str, label: str) -> str:
    return fold(f"{code} {label}")[:120]


def _params(ctx: Any) -> dict[str, Any]:
    return ctx.get_current_parameters()  # type: ignore[no-any-return]


def customer_key_default(ctx: Any) -> str:
    """Column default/onupdate: filled from the row being written (Core executemany included)."""
    p = _params(ctx)
    return customer_key(p.get("name") or "", p.get("city") or "")


def phone_key_default(ctx: Any) -> str:
    return digits(_params(ctx).get("phone") or "")[:20]


def article_key_default(ctx: Any) -> str:
    p = _params(ctx)
    return article_key(p.get("code") or "", p.get("label") or "")
