"""The validity model as the engine uses it: the shipped table of data/validity.csv read once,
the settings' per-acquirer overrides on top (see domain/validity.py for the rule of precedence)."""

from __future__ import annotations

import csv
from functools import cache

from d400tui.config import Settings
from d400tui.data import data_path
from d400tui.domain import validity as v


@cache
def shipped() -> tuple[v.Rule, ...]:
    with open(data_path("validity.csv"), newline="", encoding="utf-8") as f:
        return tuple(v.table(csv.DictReader(f)))


def model(settings: Settings) -> v.ValidityModel:
    return v.ValidityModel(shipped(), tuple(v.overrides(settings.validity_windows)))
