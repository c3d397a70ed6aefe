"""Stripe multicapture (issue 12.1) on a fake Stripe that has it, which localstripe has not: the
intent asks for it, a parcel is captured with final_capture=false and the rest stays capturable, the
last capture releases the rest; a hold Stripe cannot multicapture raises Unsupported before anything
is captured, without dropping the capability (another hold may have it)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from d400tui.acquirers.base import MULTICAPTURE, AcquirerUnavailable, Outcome, PaymentSource, Unsupported
from d400tui.acquirers.stripe import StripeAcquirer
from tests.acquirers.test_stripe_customer import APPROVE, FakeStripe, k

D = Decimal


class MulticaptureStripe(FakeStripe):
    """The fake of test_stripe_customer, plus reading an intent and Stripe's multicapture."""

    def __init__(self, available: bool = True) -> None:
        super().__init__()
        self.available = available

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        parts = path.split("/")
        if request.method == "GET" and len(parts) == 4 and parts[2] == "payment_intents":
            self.requests.append(("GET", path, {}))
            return httpx.Response(200, json=self.intents[parts[3]])
        if path.endswith("/capture"):
            from urllib.parse import parse_qsl

            form = dict(parse_qsl(request.content.decode()))
            self.requests.append(("POST", path, form))
            pi: dict[str, Any] = self.intents[parts[3]]
            if form.get("final_capture") == "false" and not self.available:
                err = {"type": "invalid_request_error", "message": "multicapture is not available for this charge"}
                return httpx.Response(400, json={"error": err})
            cents = int(form["amount_to_capture"])
            pi["amount_received"] = pi.get("amount_received", 0) + cents
            capturable = pi.get("amount_capturable", pi["amount"]) - cents
            final = form.get("final_capture", "true") != "false"
            pi["amount_capturable"] = 0 if final else capturable
            pi["status"] = "succeeded" if final or capturable == 0 else "requires_capture"
            return httpx.Response(200, json=pi)
        return super().handle(request)


def on(fake: MulticaptureStripe) -> StripeAcquirer:
    return StripeAcquirer("sk_test_fake", "https://stripe.invalid", transport=httpx.MockTransport(fake.handle))


async def test_parcels_then_the_final_capture_release_the_rest() -> None:
    fake = MulticaptureStripe()
    acq = on(fake)
    try:
        h = await acq.authorize(PaymentSource(card=APPROVE), D("10.00"), k())
        assert fake.intent_forms()[0]["payment_method_options[card][request_multicapture]"] == "if_available"
        first = await acq.capture_partial(h.reference, D("4.00"), k())
        assert first.outcome is Outcome.CAPTURED and first.amount == D("4.00")
        over = await acq.capture_partial(h.reference, D("6.01"), k())
        assert over.outcome is Outcome.DECLINED and over.code == "13"  # above what remains capturable
        last = await acq.capture(h.reference, D("3.50"), k())
        assert last.outcome is Outcome.CAPTURED and last.amount == D("3.50")
    finally:
        await acq.close()
    pi = fake.intents[h.reference]
    assert (pi["status"], pi["amount_received"], pi["amount_capturable"]) == ("succeeded", 750, 0)
    captures = [f for m, p, f in fake.requests if m == "POST" and p.endswith("/capture")]
    assert [c.get("final_capture") for c in captures] == ["false", None]


async def test_a_hold_without_multicapture_raises_unsupported_and_keeps_the_capability() -> None:
    fake = MulticaptureStripe(available=False)
    acq = on(fake)
    try:
        h = await acq.authorize(PaymentSource(card=APPROVE), D("10.00"), k())
        with pytest.raises(Unsupported):
            await acq.capture_partial(h.reference, D("4.00"), k())
        assert MULTICAPTURE in acq.capabilities
        assert fake.intents[h.reference]["status"] == "requires_capture"  # nothing captured
        assert (await acq.capture(h.reference, D("4.00"), k())).outcome is Outcome.CAPTURED
    finally:
        await acq.close()


class ListingStripe(MulticaptureStripe):
    """Plus the intents list (no search endpoint, as localstripe) and capture metadata merged into
    the intent; `metadata_ok=False`: a server that refuses metadata on a capture."""

    def __init__(self, metadata_ok: bool = True) -> None:
        super().__init__()
        self.metadata_ok = metadata_ok

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == "/v1/payment_intents/search":
            return httpx.Response(404, json={"error": {"message": "Unrecognized request URL"}})
        if request.method == "GET" and path == "/v1/payment_intents":
            return httpx.Response(200, json={"data": list(self.intents.values())[::-1], "has_more": False})
        if path.endswith("/capture"):
            from urllib.parse import parse_qsl

            form = dict(parse_qsl(request.content.decode()))
            marks = {f[len("metadata[") : -1]: v for f, v in form.items() if f.startswith("metadata[")}
            if marks and not self.metadata_ok:
                err = {"type": "invalid_request_error", "message": "Unexpected metadata"}
                return httpx.Response(400, json={"error": err})
            resp = super().handle(request)
            if resp.status_code == 200:
                self.intents[path.split("/")[3]].setdefault("metadata", {}).update(marks)
            return resp
        return super().handle(request)


def _listing(fake: ListingStripe) -> StripeAcquirer:
    return StripeAcquirer("sk_test_fake", "https://stripe.invalid", transport=httpx.MockTransport(fake.handle))


async def test_a_parcels_capture_is_found_by_its_key_after_a_lost_answer() -> None:
    """status('<key>-capN'): a multicaptured intent keeps no object per capture, so each parcel
    marks it; parcel 2 taken (its answer lost) reads CAPTURED with its amount, parcel 3 not yet
    taken reads NOT_FOUND — the reconciler used to read NOT_FOUND for both, and capture 2 again."""
    fake = ListingStripe()
    acq = _listing(fake)
    try:
        key = k()
        h = await acq.authorize(PaymentSource(card=APPROVE), D("10.00"), key)
        await acq.capture_partial(h.reference, D("4.00"), f"{key}-cap1")
        await acq.capture_partial(h.reference, D("2.50"), f"{key}-cap2")
        two, three = await acq.status(f"{key}-cap2"), await acq.status(f"{key}-cap3")
        assert (two.outcome, two.amount) == (Outcome.CAPTURED, D("2.50"))
        assert three.outcome is Outcome.NOT_FOUND
        last = await acq.capture(h.reference, D("3.50"), f"{key}-cap3")
        assert last.outcome is Outcome.CAPTURED
        assert (await acq.status(f"{key}-cap3")).amount == D("3.50")
        assert (await acq.status(key)).outcome is Outcome.CAPTURED  # the authorization key: as before
    finally:
        await acq.close()
    assert fake.intents[h.reference]["metadata"]["d400_cap2"] == "250"


async def test_captures_a_server_would_not_mark_are_never_read_as_not_sent() -> None:
    """A server refusing metadata on captures: the capture goes through unmarked, and a parcel's
    status then cannot be told (AcquirerUnavailable: the row stays UNKNOWN), never NOT_FOUND."""
    fake = ListingStripe(metadata_ok=False)
    acq = _listing(fake)
    try:
        key = k()
        h = await acq.authorize(PaymentSource(card=APPROVE), D("10.00"), key)
        assert (await acq.status(f"{key}-cap1")).outcome is Outcome.NOT_FOUND  # nothing captured yet
        got = await acq.capture_partial(h.reference, D("4.00"), f"{key}-cap1")
        assert got.outcome is Outcome.CAPTURED
        with pytest.raises(AcquirerUnavailable):
            await acq.status(f"{key}-cap1")
    finally:
        await acq.close()
    assert fake.intents[h.reference]["amount_received"] == 400
