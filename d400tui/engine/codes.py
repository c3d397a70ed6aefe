"""The response-code table (data/codes.py reads data/response_codes.csv): code → category, labels,
retry class and the operator's advice."""

from __future__ import annotations

from d400tui.data.codes import response_codes
from d400tui.domain.model import Category, ResponseCode, RetryClass

NO_ANSWER = "A0"  # our code for a timeout or transport error (no field 39 came back)
NOT_ACCEPTED = "A1"  # our code for a brand the acquirer's contract does not take

__all__ = ["NOT_ACCEPTED", "NO_ANSWER", "lookup", "response_codes", "retry_class"]


def lookup(code: str) -> ResponseCode:
    """Unknown codes are refusals of category OTHER, never approvals; retry later, as Visa's
    category 4 (generic) allows."""
    known = response_codes().get(code)
    if known:
        return known
    return ResponseCode(code, Category.OTHER, f"Refus (code {code})", f"Declined (code {code})")


def retry_class(code: str | None) -> RetryClass:
    """No code at all (no answer) is the service failing."""
    return lookup(code).retry_class if code else RetryClass.SERVICE
