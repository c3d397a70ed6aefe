"""Stripe tokens that real Stripe accepts again: the call with card data attaches the PaymentMethod
to a Customer, the token names both, and every later intent carries the customer (on localstripe,
then on a fake Stripe that accepts what localstripe refuses)."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from d400tui.acquirers.base import Outcome, PaymentSource
from d400tui.acquirers.stripe import KEY_META, StripeAcquirer
from d400tui.domain import model as m
from tests.support.acquirers import STRIPE_KEY, card
from tests.support.demo import OPER, SUPER

APPROVE = card("4242424242424242")
DECLINE = card("4000000000000341")  # attaches, then its charge is declined (localstripe and Stripe)
ATTACH_DECLINED = card("4000000000000002")  # localstripe declines it at attachment already


def k() -> str:
    return uuid.uuid4().hex


class Recorder:
    """Wraps the adapter's transport: every request it sends, with its form data or query."""

    def __init__(self, acq: StripeAcquirer) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        real = acq._request

        async def request(
            method: str,
            path: str,
            data: dict[str, Any] | None = None,
            key: str | None = None,
            params: dict[str, str] | None = None,
        ) -> tuple[int, dict[str, Any]]:
            self.calls.append((method, path, dict(data or params or {})))
            return await real(method, path, data, key, params)

        acq._request = request  # type: ignore[method-assign]

    def posts(self, path: str) -> list[dict[str, Any]]:
        return [data for method, p, data in self.calls if method == "POST" and p == path]


@pytest.fixture
async def stripe(localstripe: str) -> AsyncIterator[StripeAcquirer]:
    acq = StripeAcquirer(STRIPE_KEY, localstripe)
    yield acq
    await acq.close()


def read(url: str, path: str) -> dict[str, Any]:
    with httpx.Client(base_url=url, auth=(STRIPE_KEY, "")) as c:
        return c.get(path).json()


async def test_token_from_a_verify_authorizes_twice_for_its_customer(stripe: StripeAcquirer, localstripe: str) -> None:
    seen = Recorder(stripe)
    ok = await stripe.verify(PaymentSource(card=APPROVE), k())
    assert ok.outcome is Outcome.APPROVED and ok.token
    customer, _, pm = ok.token.partition("/")
    assert customer.startswith("cus_") and pm.startswith("pm_")
    assert read(localstripe, f"/v1/payment_methods/{pm}")["customer"] == customer  # attached
    refs = []
    for amount in ("20.00", "30.00"):
        resp = await stripe.authorize(PaymentSource(token=ok.token), Decimal(amount), k())
        assert (resp.outcome, resp.token) == (Outcome.APPROVED, ok.token)
        pi = read(localstripe, f"/v1/payment_intents/{resp.reference}")
        assert (pi["customer"], pi["payment_method"], pi["status"]) == (customer, pm, "requires_capture")
        refs.append(resp.reference)
    assert refs[0] != refs[1]
    # one PaymentMethod and one Customer for the card; the later intents are merchant-initiated
    assert len(seen.posts("/v1/payment_methods")) == 1 and len(seen.posts("/v1/customers")) == 1
    intents = seen.posts("/v1/payment_intents")
    later = [d for d in intents if d.get("off_session") == "true"]
    assert len(later) == 2 and all(d["customer"] == customer and "setup_future_usage" not in d for d in later)
    # localstripe does not know setup_future_usage: asked once, refused, resent without it, then dropped
    first = [d for d in intents if "off_session" not in d]
    assert [d.get("setup_future_usage") for d in first] == ["off_session", None]
    assert stripe._setup_future_usage is False


async def test_the_token_survives_the_reconciler_path(stripe: StripeAcquirer) -> None:
    """status() gives back the same token authorize() gave, so a reconciled row keeps a usable one."""
    key = k()
    first = await stripe.authorize(PaymentSource(card=APPROVE), Decimal("10.00"), key)
    assert (await stripe.status(key)).token == first.token
    again = await stripe.authorize(PaymentSource(token=first.token or ""), Decimal("5.00"), k())
    assert again.outcome is Outcome.APPROVED


async def test_no_card_data_in_customer_metadata_or_requests(stripe: StripeAcquirer, localstripe: str) -> None:
    seen = Recorder(stripe)
    resp = await stripe.authorize(PaymentSource(card=APPROVE), Decimal("10.00"), k())
    customer = resp.token.partition("/")[0] if resp.token else ""
    stored = json.dumps(
        [read(localstripe, f"/v1/customers/{customer}"), read(localstripe, f"/v1/payment_intents/{resp.reference}")]
    )
    assert APPROVE.pan not in stored
    for _method, path, data in seen.calls:
        if path != "/v1/payment_methods":  # the one call that must carry the card
            assert APPROVE.pan not in json.dumps(data) and APPROVE.cvv not in data.values(), path
            assert not any(name.startswith("card[") for name in data), path
    assert APPROVE.pan not in repr(resp) + repr(stripe)


async def test_refusals_keep_their_codes(stripe: StripeAcquirer) -> None:
    charged = await stripe.authorize(PaymentSource(card=DECLINE), Decimal("5.00"), k())
    assert (charged.outcome, charged.code) == (Outcome.DECLINED, "05")
    assert charged.token and charged.token.startswith("cus_")  # as before: the token comes back with a refusal
    attached = await stripe.authorize(PaymentSource(card=ATTACH_DECLINED), Decimal("5.00"), k())
    assert (attached.outcome, attached.code, attached.reference, attached.token) == (Outcome.DECLINED, "05", None, None)


async def test_bare_payment_method_tokens_still_work(stripe: StripeAcquirer, localstripe: str) -> None:
    """Tokens made before customers were: the payment method alone, sent as it was (localstripe
    reuses it; real Stripe refuses a reuse of a payment method never attached to a customer)."""
    with httpx.Client(base_url=localstripe, auth=(STRIPE_KEY, "")) as c:
        pm = c.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": APPROVE.pan,
                "card[exp_month]": "12",
                "card[exp_year]": "2030",
                "card[cvc]": "123",
            },
        ).json()["id"]
    seen = Recorder(stripe)
    resp = await stripe.authorize(PaymentSource(token=pm), Decimal("7.00"), k())
    assert (resp.outcome, resp.token) == (Outcome.APPROVED, pm)
    (sent,) = seen.posts("/v1/payment_intents")
    assert sent["payment_method"] == pm and "customer" not in sent and "off_session" not in sent


async def test_instalments_authorized_later_from_the_token(engine, stripe: StripeAcquirer, localstripe: str) -> None:  # type: ignore[no-untyped-def]
    """The engine's own chain: instalment 1 with the card, a verify with the token, then the
    pre-check a month later authorizes instalment 2 with the token alone, for the same customer."""
    simulator = engine.acquirer
    try:
        engine.acquirer = stripe
        placed = await engine.place_order(
            OPER, 100001, [("BON0001", 3)], APPROVE, plan=m.Plan(m.PlanKind.INSTALMENTS, count=3)
        )
        assert all(a.approved for a in placed.answers), placed.answers
        order = engine.get_order(placed.order.id)
        customer = (order.card_token or "").partition("/")[0]
        assert customer.startswith("cus_")
        run_date = m.add_months(engine.clock().date(), 1)
        engine.clock = lambda: datetime.combine(run_date, datetime.min.time()) + timedelta(hours=9)
        run = await engine.precheck(SUPER, run_date)
        assert run.approved >= 1 and run.refused == run.unavailable == 0
        auth = next(
            a
            for a in engine.get_order(placed.order.id).authorizations
            if a.state is m.AuthState.APPROVED and a.instalment_id == order.instalment(2).id
        )
        assert read(localstripe, f"/v1/payment_intents/{auth.acquirer_ref}")["customer"] == customer
    finally:
        engine.acquirer = simulator


# -- against a fake Stripe that knows setup_future_usage ----------------------------------------
class FakeStripe:
    """Just enough of Stripe for the calls authorize and verify make, recording what they send."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.intents: dict[str, dict[str, Any]] = {}
        self.ids = itertools.count(1)

    def handle(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode())) if request.method == "POST" else dict(request.url.params)
        path = request.url.path
        self.requests.append((request.method, path, form))
        n = next(self.ids)
        if path == "/v1/payment_methods":
            return httpx.Response(200, json={"id": f"pm_{n}"})
        if path == "/v1/customers":
            return httpx.Response(200, json={"id": f"cus_{n}"})
        if path == "/v1/payment_intents" and request.method == "POST":
            pi = {
                "id": f"pi_{n}",
                "status": "requires_capture",
                "amount": int(form["amount"]),
                "customer": form.get("customer"),
                "payment_method": form["payment_method"],
                "latest_charge": f"ch_{n:06d}",
                "created": int(time.time()),
                "metadata": {KEY_META: form[f"metadata[{KEY_META}]"]},
            }
            self.intents[pi["id"]] = pi
            return httpx.Response(200, json=pi)
        if path.endswith("/cancel"):
            pi = self.intents[path.split("/")[3]]
            pi["status"] = "canceled"
            return httpx.Response(200, json=pi)
        return httpx.Response(404, json={"error": {"type": "invalid_request_error", "message": "no such route"}})

    def intent_forms(self) -> list[dict[str, str]]:
        return [f for method, p, f in self.requests if method == "POST" and p == "/v1/payment_intents"]


def on_fake(fake: FakeStripe, **kw: Any) -> StripeAcquirer:
    acq = StripeAcquirer("sk_test_fake", "https://stripe.invalid", transport=httpx.MockTransport(fake.handle), **kw)
    return acq


async def test_first_intent_sets_the_card_up_for_off_session_use() -> None:
    fake = FakeStripe()
    acq = on_fake(fake)
    try:
        ok = await acq.verify(PaymentSource(card=APPROVE), k())
        assert ok.token == "cus_2/pm_1"
        for _ in range(2):
            assert (await acq.authorize(PaymentSource(token=ok.token), Decimal("9.00"), k())).approved
    finally:
        await acq.close()
    first, *later = fake.intent_forms()
    assert (first["customer"], first["payment_method"], first["setup_future_usage"]) == ("cus_2", "pm_1", "off_session")
    assert "off_session" not in first
    assert len(later) == 2
    for sent in later:
        assert (sent["customer"], sent["payment_method"], sent["off_session"]) == ("cus_2", "pm_1", "true")
        assert "setup_future_usage" not in sent
    (customer,) = [f for _method, p, f in fake.requests if p == "/v1/customers"]
    assert set(customer) == {"payment_method", f"metadata[{KEY_META}]"} and customer["payment_method"] == "pm_1"
