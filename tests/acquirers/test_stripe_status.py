"""Stripe `status(key)` for every key the engine sends: authorization, verify, void
(`<auth key>-void`) and capture (`<auth key>-cap`), on localstripe; then the reconciler settling
lost answers through it; then status() while Stripe's search lags behind (a fake Stripe)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from d400tui.acquirers.base import AcquirerUnavailable, Outcome, PaymentSource
from d400tui.acquirers.stripe import KEY_META, SEARCH_LAG_S, VERIFY_META, StripeAcquirer
from d400tui.domain import model as m
from tests.support.acquirers import STRIPE_KEY, card
from tests.support.demo import OPER, SUPER

from .test_stripe_customer import FakeStripe, on_fake

APPROVE = card("4242424242424242")
DECLINE = card("4000000000000341")  # localstripe's card_declined


def k() -> str:
    return uuid.uuid4().hex  # what the engine uses as an authorization key


@pytest.fixture
async def stripe(localstripe: str) -> AsyncIterator[StripeAcquirer]:
    acq = StripeAcquirer(STRIPE_KEY, localstripe)
    yield acq
    await acq.close()


async def hold(stripe: StripeAcquirer, key: str, amount: str = "10.00") -> str:
    resp = await stripe.authorize(PaymentSource(card=APPROVE), Decimal(amount), key)
    assert resp.outcome is Outcome.APPROVED, resp
    assert resp.reference
    return resp.reference


async def test_authorization_key(stripe: StripeAcquirer) -> None:
    key = k()
    ref = await hold(stripe, key, "12.34")
    seen = await stripe.status(key)
    assert (seen.outcome, seen.code, seen.reference, seen.amount) == (Outcome.APPROVED, "00", ref, Decimal("12.34"))
    assert seen.token and seen.token.startswith("cus_") and "/pm_" in seen.token and seen.auth_code
    refused = k()
    await stripe.authorize(PaymentSource(card=DECLINE), Decimal("5.00"), refused)
    assert (await stripe.status(refused)).outcome is Outcome.DECLINED


async def test_capture_key_after_capture(stripe: StripeAcquirer) -> None:
    key = k()
    ref = await hold(stripe, key, "10.00")
    assert (await stripe.status(key + "-cap")).outcome is Outcome.NOT_FOUND  # not captured yet
    done = await stripe.capture(ref, Decimal("7.50"), key + "-cap")
    assert done.outcome is Outcome.CAPTURED
    seen = await stripe.status(key + "-cap")
    assert (seen.outcome, seen.code, seen.reference, seen.amount) == (Outcome.CAPTURED, "00", ref, Decimal("7.50"))
    whole = await stripe.status(key)  # what the reconciler asks after a capture whose answer was lost
    assert (whole.outcome, whole.amount) == (Outcome.CAPTURED, Decimal("7.50"))
    void = await stripe.status(key + "-void")  # no void can happen any more: as void() answers
    assert (void.outcome, void.code) == (Outcome.DECLINED, "12")


async def test_void_key_after_cancel(stripe: StripeAcquirer) -> None:
    key = k()
    ref = await hold(stripe, key, "10.00")
    assert (await stripe.status(key + "-void")).outcome is Outcome.NOT_FOUND  # not voided yet
    assert (await stripe.void(ref, key + "-void")).outcome is Outcome.VOIDED
    seen = await stripe.status(key + "-void")
    assert (seen.outcome, seen.code, seen.reference, seen.amount) == (Outcome.VOIDED, "00", ref, Decimal("10.00"))
    assert (await stripe.status(key)).outcome is Outcome.VOIDED
    cap = await stripe.status(key + "-cap")  # no capture can happen any more: as capture() answers
    assert (cap.outcome, cap.code) == (Outcome.DECLINED, "12")


async def test_unknown_keys(stripe: StripeAcquirer) -> None:
    await hold(stripe, k())  # something on the server besides
    key = k()
    for asked in (key, key + "-void", key + "-cap", key + "-reversal", "-void", "-cap"):
        resp = await stripe.status(asked)
        assert (resp.outcome, resp.code, resp.reference) == (Outcome.NOT_FOUND, "25", None), asked


async def test_authorization_key_that_ends_like_an_operation_key(stripe: StripeAcquirer) -> None:
    key = k() + "-cap"
    ref = await hold(stripe, key)
    seen = await stripe.status(key)
    assert (seen.outcome, seen.reference) == (Outcome.APPROVED, ref)


async def test_verify_key(stripe: StripeAcquirer) -> None:
    key = k()
    ok = await stripe.verify(PaymentSource(card=APPROVE), key)
    seen = await stripe.status(key)
    assert (seen.outcome, seen.code, seen.reference, seen.amount) == (Outcome.APPROVED, "00", None, Decimal("0.00"))
    assert seen.token == ok.token and seen.auth_code == ok.auth_code
    refused = k()
    await stripe.verify(PaymentSource(card=DECLINE), refused)
    assert (await stripe.status(refused)).outcome is Outcome.DECLINED


async def test_verify_whose_release_was_lost_is_released(stripe: StripeAcquirer, localstripe: str) -> None:
    """verify() made its small hold and died before /cancel: status() finishes the release."""
    key = k()
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
        ).json()
        pi = c.post(
            "/v1/payment_intents",
            data={
                "amount": "100",
                "currency": "eur",
                "payment_method": pm["id"],
                "payment_method_types[]": "card",
                "capture_method": "manual",
                "confirm": "true",
                f"metadata[{KEY_META}]": key + VERIFY_META,
            },
        ).json()
        assert pi["status"] == "requires_capture"
        seen = await stripe.status(key)
        assert (seen.outcome, seen.reference, seen.amount) == (Outcome.APPROVED, None, Decimal("0.00"))
        assert c.get(f"/v1/payment_intents/{pi['id']}").json()["status"] == "canceled"


async def test_captured_amount_is_amount_received_on_stripe(stripe: StripeAcquirer) -> None:
    """Real Stripe says what was captured in amount_received (localstripe does not: see above)."""
    pi = {"id": "pi_1", "status": "succeeded", "amount": 1000, "amount_received": 750, "latest_charge": "ch_1ABCDEF"}
    resp = stripe._from_intent(pi)
    assert (resp.outcome, resp.amount, resp.auth_code) == (Outcome.CAPTURED, Decimal("7.50"), "ABCDEF")


# -- the reconciler, which asks status() with the authorization key -------------------------------
class LosesAnswers:
    """The real adapter, but the answers to the named operations never come back."""

    def __init__(self, real: StripeAcquirer, *lost: str) -> None:
        self.real, self.lost = real, set(lost)
        self.name, self.brands, self.capabilities = real.name, real.brands, real.capabilities

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.real, name)
        if name not in self.lost:
            return attr

        async def call(*args: Any) -> None:
            await attr(*args)
            raise AcquirerUnavailable("stripe: the answer was lost")

        return call


async def test_reconciler_settles_lost_answers_from_status(engine, stripe: StripeAcquirer) -> None:  # type: ignore[no-untyped-def]
    simulator = engine.acquirer
    try:
        engine.acquirer = LosesAnswers(stripe, "authorize")
        placed = await engine.place_order(OPER, 100001, [("BON0001", 1)], card("4242424242424242"))
        assert placed.answers[0].state is m.AuthState.UNKNOWN
        engine.acquirer = LosesAnswers(stripe, "capture")
        report = await engine.reconcile(SUPER)
        assert report.still_unknown == [] and len(report.settled) == 1
        auth = engine.get_order(placed.order.id).authorizations[0]
        assert auth.state is m.AuthState.APPROVED and (auth.acquirer_ref or "").startswith("pi_")
        assert (await stripe.status(auth.idempotency_key)).reference == auth.acquirer_ref

        outcome, amount, *_ = await engine.capture_one(SUPER, placed.order.id, 1)
        assert outcome == "UNAVAILABLE"  # captured at Stripe, the answer lost: capture pending
        report = await engine.reconcile(SUPER)
        assert len(report.settled) == 1 and "remise faite" in report.settled[0]
        order = engine.get_order(placed.order.id)
        auth = order.authorizations[0]
        assert auth.state is m.AuthState.CAPTURED and auth.captured_amount == amount
        assert order.instalment(1).state is m.InstalmentState.CAPTURED
        cap = await stripe.status(auth.idempotency_key + "-cap")
        assert (cap.outcome, cap.amount) == (Outcome.CAPTURED, amount)
    finally:
        engine.acquirer = simulator


# -- Stripe's search lags behind writes (under a minute, up to an hour during outages) -------------
def search_lags(acq: StripeAcquirer) -> list[dict[str, str]]:
    """The adapter's search answers nothing, as Stripe's does just after a write; returns the list
    queries the adapter makes instead (localstripe has no search and filters no `created`)."""
    real = acq._request
    listed: list[dict[str, str]] = []

    async def request(
        method: str,
        path: str,
        data: dict[str, Any] | None = None,
        key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        if path == "/v1/payment_intents/search":
            return 200, {"object": "search_result", "data": [], "has_more": False}
        if method == "GET" and path == "/v1/payment_intents" and params:
            listed.append(dict(params))
            params = {name: v for name, v in params.items() if name != "created[gte]"}
        return await real(method, path, data, key, params)

    acq._search = True
    acq._request = request  # type: ignore[method-assign]
    return listed


async def test_status_lists_what_search_has_not_indexed_yet(stripe: StripeAcquirer) -> None:
    key = k()
    ref = await hold(stripe, key)
    listed = search_lags(stripe)
    seen = await stripe.status(key)
    assert (seen.outcome, seen.reference) == (Outcome.APPROVED, ref)
    since = int(listed[0]["created[gte]"])
    assert abs(since - (time.time() - SEARCH_LAG_S)) < 5 and SEARCH_LAG_S >= 3600
    assert (await stripe.status(k())).outcome is Outcome.NOT_FOUND  # listed too, and really absent


async def test_reconciler_keeps_a_hold_search_cannot_see_yet(engine, stripe: StripeAcquirer) -> None:  # type: ignore[no-untyped-def]
    """The answer to the authorization was lost and the reconciler runs within the search lag: it
    must settle the row APPROVED (the hold exists), never close it as 'never sent'."""
    simulator = engine.acquirer
    try:
        engine.acquirer = LosesAnswers(stripe, "authorize")
        placed = await engine.place_order(OPER, 100001, [("BON0001", 1)], card("4242424242424242"))
        assert placed.answers[0].state is m.AuthState.UNKNOWN
        search_lags(stripe)
        engine.acquirer = stripe
        report = await engine.reconcile(SUPER)
        assert report.still_unknown == [] and len(report.settled) == 1
        auth = engine.get_order(placed.order.id).authorizations[0]
        assert auth.state is m.AuthState.APPROVED and (auth.acquirer_ref or "").startswith("pi_")
    finally:
        engine.acquirer = simulator


class LaggingStripe(FakeStripe):
    """Adds search, list and retrieve: search sees the intents as they were when `index()` last ran."""

    def __init__(self) -> None:
        super().__init__()
        self.indexed: dict[str, dict[str, Any]] = {}
        self.list_fails = False

    def index(self) -> None:
        self.indexed = {ref: dict(pi) for ref, pi in self.intents.items()}

    def add(self, key: str, created: int) -> str:
        ref = f"pi_old{len(self.intents)}"
        self.intents[ref] = {
            "id": ref,
            "status": "requires_capture",
            "amount": 500,
            "customer": "cus_1",
            "payment_method": "pm_1",
            "latest_charge": "ch_000001",
            "created": created,
            "metadata": {KEY_META: key},
        }
        return ref

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, q = request.url.path, request.url.params
        if request.method != "GET":
            return super().handle(request)
        self.requests.append(("GET", path, dict(q)))
        if path == "/v1/payment_intents/search":
            hits = [pi for pi in self.indexed.values() if f"'{pi['metadata'][KEY_META]}'" in q["query"]]
            return httpx.Response(200, json={"object": "search_result", "data": hits, "has_more": False})
        if path == "/v1/payment_intents":
            if self.list_fails:
                return httpx.Response(500, json={"error": {"type": "api_error"}})
            newest = sorted(self.intents.values(), key=lambda pi: pi["created"], reverse=True)
            rows = [pi for pi in newest if pi["created"] >= int(q.get("created[gte]", 0))]
            if "starting_after" in q:
                rows = rows[[pi["id"] for pi in rows].index(q["starting_after"]) + 1 :]
            size = int(q["limit"])
            return httpx.Response(200, json={"object": "list", "data": rows[:size], "has_more": len(rows) > size})
        return httpx.Response(200, json=self.intents[path.rsplit("/", 1)[1]])


async def test_status_pages_through_the_lag_window_only() -> None:
    fake, now = LaggingStripe(), time.time()
    old_key, key = k(), k()
    fake.add(old_key, int(now - SEARCH_LAG_S - 60))
    ref = fake.add(key, int(now - 30))
    for i in range(150):  # newer intents: the one asked for is on the second page
        fake.add(k(), int(now - 29 + i / 10))
    acq = on_fake(fake, clock=lambda: now)
    try:
        seen = await acq.status(key)
        assert (seen.outcome, seen.reference, seen.token) == (Outcome.APPROVED, ref, "cus_1/pm_1")
        lists = [q for method, p, q in fake.requests if p == "/v1/payment_intents"]
        assert [q.get("starting_after") is not None for q in lists] == [False, True]
        assert {q["created[gte]"] for q in lists} == {str(int(now - SEARCH_LAG_S))}
        # older than the lag window: search shows it by then, so the listing need not reach it
        fake.index()
        assert (await acq.status(old_key)).outcome is Outcome.APPROVED
        fake.indexed = {}
        fake.list_fails = True  # neither search nor the listing can answer: unknown, never NOT_FOUND
        with pytest.raises(AcquirerUnavailable):
            await acq.status(k())
    finally:
        await acq.close()


async def test_status_reads_again_what_search_found() -> None:
    """Search finds the intent but shows it as it was before its cancel or capture."""
    fake = LaggingStripe()
    acq = on_fake(fake)
    try:
        key = k()
        held = await acq.authorize(PaymentSource(card=APPROVE), Decimal("10.00"), key)
        fake.index()  # indexed while held
        fake.intents[held.reference or ""]["status"] = "canceled"  # then voided: search still says held
        void = await acq.status(key + "-void")
        assert (void.outcome, void.reference) == (Outcome.VOIDED, held.reference)
        assert (await acq.status(key)).outcome is Outcome.VOIDED
        assert ("GET", f"/v1/payment_intents/{held.reference}", {}) in fake.requests
    finally:
        await acq.close()
