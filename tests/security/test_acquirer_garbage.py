"""Issue 9, point 10 (acquirer half): an acquirer answering valid JSON that is not the documented
object (`[]`, `null`, a string, a number, missing or mistyped fields) gives AcquirerUnavailable
(the engine records UNKNOWN) from the http and stripe adapters — never an AttributeError or a
TypeError escaping, never APPROVED. On main `[]` on a 400 and `null` on a 200 raised AttributeError
in the http adapter, and any non-object raised one in the stripe adapter."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from d400tui.acquirers.base import AcquirerUnavailable, Outcome, PaymentSource
from d400tui.acquirers.http import HttpAcquirer
from d400tui.acquirers.stripe import StripeAcquirer
from d400tui.domain.cards import CardData, parse_expiry

SOURCE = PaymentSource(card=CardData("4970100000000014", parse_expiry("12/30"), "123"))
NOT_OBJECTS = ["[]", "null", '"approved"', "42", "true", "[" * 5000 + "]" * 5000]
HTTP_BAD_FIELDS = [
    {},
    {"outcome": "APPROVED"},
    {"outcome": "APPROVED", "code": 0},
    {"outcome": "MAYBE", "code": "00"},
    {"outcome": "APPROVED", "code": "00", "amount": "NaN"},
    {"outcome": "APPROVED", "code": "00", "amount": []},
    {"outcome": "APPROVED", "code": "00", "amount": "1e999999"},
    {"outcome": "APPROVED", "code": "00", "reference": 7},
    {"outcome": "APPROVED", "code": "00", "message": {"a": 1}},
    {"outcome": "APPROVED", "code": "00", "token": ["t"]},
]


def _answering(status: int, text: str) -> httpx.MockTransport:
    return httpx.MockTransport(
        lambda request: httpx.Response(status, text=text, headers={"Content-Type": "application/json"})
    )


async def _calls(acq: Any) -> list[Any]:
    out = []
    for call in (
        lambda: acq.authorize(SOURCE, Decimal("10.00"), "k"),
        lambda: acq.verify(SOURCE, "k"),
        lambda: acq.void("ref", "k-void"),
        lambda: acq.capture("ref", Decimal("1.00"), "k-cap"),
        lambda: acq.status("k"),
    ):
        try:
            out.append(await call())
        except AcquirerUnavailable as e:
            out.append(e)
    return out


@pytest.mark.parametrize("status", [200, 400, 404, 422])
@pytest.mark.parametrize("text", NOT_OBJECTS + [json.dumps(b) for b in HTTP_BAD_FIELDS])
async def test_http_adapter_turns_garbage_into_unknown_or_refusal(status: int, text: str) -> None:
    acq = HttpAcquirer("http://acquirer.invalid", transport=_answering(status, text))
    try:
        results = await _calls(acq)
    finally:
        await acq.close()
    for r in results:
        if status == 200:
            assert isinstance(r, AcquirerUnavailable), (text, r)
            assert "Error" not in str(r)
        else:  # the request was refused: an answer, never an approval
            assert isinstance(r, AcquirerUnavailable) or r.outcome is Outcome.DECLINED, (text, r)


STRIPE_BAD = NOT_OBJECTS + [
    json.dumps(b)
    for b in (
        {},
        {"id": 5},
        {"error": "boom"},
        {"error": {"payment_intent": "x"}},
        {"data": "x", "has_more": True},
        {"id": "pi_1", "status": "requires_capture", "amount": "lots"},
        {"id": "pi_1", "status": "succeeded", "amount_received": [1]},
    )
]


@pytest.mark.parametrize("status", [200, 400, 402])
@pytest.mark.parametrize("text", STRIPE_BAD)
async def test_stripe_adapter_turns_garbage_into_unknown_or_refusal(status: int, text: str) -> None:
    acq = StripeAcquirer("sk_test_garbage", "http://stripe.invalid", dedupe=True, transport=_answering(status, text))
    try:
        results = await _calls(acq)
    finally:
        await acq.close()
    for r in results:
        assert isinstance(r, AcquirerUnavailable) or r.outcome is not Outcome.APPROVED or status == 200, (text, r)
        if isinstance(r, AcquirerUnavailable):
            assert "Error" not in str(r)


async def test_stripe_idempotency_error_is_a_refusal_with_code_94() -> None:
    body = {
        "error": {
            "type": "idempotency_error",
            "message": "Keys for idempotent requests can only be used "
            "with the same parameters they were first used with.",
        }
    }
    acq = StripeAcquirer("sk_test_garbage", "http://stripe.invalid", transport=_answering(400, json.dumps(body)))
    try:
        resp = await acq.authorize(SOURCE, Decimal("4000.00"), "k")
    finally:
        await acq.close()
    assert resp.outcome is Outcome.DECLINED and resp.code == "94"
