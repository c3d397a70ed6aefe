"""The response-code table of data/response_codes.csv: code → category and labels."""

from __future__ import annotations

import csv
from functools import cache

from d400tui.data import data_path
from d400tui.domain.model import Category, ResponseCode

NO_ANSWER = "A0"  # our code for a timeout or transport error (no field 39 came back)
NOT_ACCEPTED = "A1"  # our code for a brand the acquirer's contract does not take


@cache
def response_codes() -> dict[str, ResponseCode]:
    with open(data_path("response_codes.csv"), newline="", encoding="utf-8") as f:
        return {
            r["code"]: ResponseCode(r["code"], Category(r["category"]), r["label_fr"], r["label_en"])
            for r in csv.DictReader(f)
        }


def lookup(code: str) -> ResponseCode:
    """Unknown codes are refusals of category OTHER, never approvals."""
    known = response_codes().get(code)
    if known:
        return known
    return ResponseCode(code, Category.OTHER, f"Refus (code {code})", f"Declined (code {code})")
