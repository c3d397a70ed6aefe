"""The one reader of response_codes.csv: per field-39 code its category, labels, retry class (the
schemes' retry rules), Visa decline category, Mastercard merchant advice code and the operator's
advice in French and English. The engine, the acquirers, the store's selections and the edge
renderer all read the table through here, so a code means the same thing everywhere."""

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
