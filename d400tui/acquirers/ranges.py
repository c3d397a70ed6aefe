"""The co-badged card ranges (data/card_ranges.csv): which networks a card number can be routed
on. An acquirer's BIN file in production; here the ranges of the test cards. Read by the engine
(the choice offered at entry) and by the simulated issuer (a card file without a networks column)."""

from __future__ import annotations

import csv
from functools import cache

from d400tui.data import data_path
from d400tui.domain.cards import Brand, CardRange


@cache
def card_ranges() -> tuple[CardRange, ...]:
    with open(data_path("card_ranges.csv"), newline="", encoding="utf-8") as f:
        return tuple(CardRange(r["prefix"], tuple(Brand(n) for n in r["networks"].split())) for r in csv.DictReader(f))
