"""The one reader of response_codes.csv: per field-39 code its category, labels, retry class (the
schemes' retry rules), Visa decline category, Mastercard merchant advice code and the operator's
advice in French and English. The engine, the acquirers, the store's selections and the edge
renderer all read the table through here, so a code means the same thing everywhere.

Sources of the columns: Visa's decline categories as revised in April 2022 with its Excessive
Reattempts Rule (1 issuer will never approve: 04 07 12 14 15 41 43 46 57 R0 R1 R3; 2 cannot approve
now: 03 19 51 59 61 62 65 75 78 91 93 96; 3 data quality: 54 55 82 N7 1A; 4 every other code);
Mastercard merchant advice codes (01 new account information, 02 try again later, 03 do not try
again). The retry class is ours and may be stricter than the scheme: 62 (restricted card, Visa 2)
is never retried; 14 (Visa 1) is "correct and retry": the operator re-keys the number (M), and R
is refused while the card is the one refused (engine/retry_rules.py)."""

from __future__ import annotations

import csv
from functools import cache

from d400tui.domain.model import Category, ResponseCode, RetryClass, RetryLimit

from . import data_path


@cache
def response_codes() -> dict[str, ResponseCode]:
    with open(data_path("response_codes.csv"), newline="", encoding="utf-8") as f:
        return {
            r["code"]: ResponseCode(
                r["code"],
                Category(r["category"]),
                r["label_fr"],
                r["label_en"],
                RetryClass(r["retry_class"]),
                r["visa_category"],
                r["mc_advice"],
                r["advice_fr"],
                r["advice_en"],
            )
            for r in csv.DictReader(f)
        }


@cache
def codes_of(retry_class: RetryClass) -> tuple[str, ...]:
    """The codes of one retry class, e.g. every never-retry code for the pre-check's selection."""
    return tuple(sorted(c for c, rc in response_codes().items() if rc.retry_class is retry_class))


@cache
def counted_codes() -> tuple[str, ...]:
    """The answers a scheme counts as a re-attempt's decline: those it gave a Visa category to
    (our own A0 and A1, no answer and no call, are not issuer answers)."""
    return tuple(sorted(c for c, rc in response_codes().items() if rc.visa_category and c != "00"))


@cache
def retry_limits() -> dict[str, RetryLimit]:
    """Brand → the scheme's re-attempt limit (data/retry_limits.csv); "*" for any other brand."""
    with open(data_path("retry_limits.csv"), newline="", encoding="utf-8") as f:
        return {
            r["brand"]: RetryLimit(r["brand"], int(r["max_reattempts"]), int(r["window_days"]), r["source"])
            for r in csv.DictReader(f)
        }
