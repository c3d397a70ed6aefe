"""The simulated acquirer's settlement report: one balance transaction per capture it made, in the
shape of Stripe's itemized balance report (balance_change_from_activity.itemized): amounts in the
currency's major units (`12.34`), currency in lower case, `reporting_category` `charge`,
`net = gross - fee`. `source_id` is the hold reference our authorization keeps (acquirer_ref).
Written by `d400 acquirer settlement --out FILE`, from the simulator's own books (its state file),
as an acquirer's back office hands its merchant the day's file.

The fee is the simulator's price list, Stripe's standard one for European cards: 1.5 % + €0.25,
rounded half up to the cent. Balance transaction ids derive from the capture's key: a report
asked again, or two reports that overlap, carry the same ids for the same captures."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TextIO

from d400tui.domain.money import CENT, from_cents

from .issuer import Issuer

COLUMNS = (
    "balance_transaction_id",
    "created_utc",
    "available_on_utc",
    "currency",
    "gross",
    "fee",
    "net",
    "reporting_category",
    "source_id",
    "description",
)
FEE_RATE = Decimal("0.015")
FEE_FIXED = Decimal("0.25")
AVAILABLE_AFTER = timedelta(days=2)


def fee_of(gross: Decimal) -> Decimal:
    return min(gross, (gross * FEE_RATE + FEE_FIXED).quantize(CENT, rounding=ROUND_HALF_UP))


def report_rows(issuer: Issuer, since: float | None = None, until: float | None = None) -> list[dict[str, str]]:
    rows = []
    for key, ref, cents, at in issuer.captured(since, until):
        gross = from_cents(cents)
        fee = fee_of(gross)
        when = datetime.fromtimestamp(at, UTC).replace(tzinfo=None, microsecond=0)
        rows.append(
            {
                "balance_transaction_id": issuer.transaction_id(key),
                "created_utc": when.isoformat(sep=" "),
                "available_on_utc": (when + AVAILABLE_AFTER).date().isoformat(),
                "currency": "eur",
                "gross": str(gross),
                "fee": str(fee),
                "net": str(gross - fee),
                "reporting_category": "charge",
                "source_id": ref,
                "description": "capture",
            }
        )
    return rows


def write_report(issuer: Issuer, out: TextIO, since: float | None = None, until: float | None = None) -> int:
    """Write the report as CSV to `out`; the number of balance transactions written."""
    rows = report_rows(issuer, since, until)
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return len(rows)
