"""Network choice on co-badged cards and the CVV result (issue 13.2, 13.3), on every adapter over
its real transport: the network chosen reaches the acquirer (the issuer's books, or the intent
on the Stripe server) and comes back in the answer; the CVV check comes back, never the CVV."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal

import httpx
import pytest

from d400tui.acquirers.base import Outcome, PaymentSource
from d400tui.domain.cards import Brand, CardData, CvvResult, parse_expiry
from tests.support.acquirers import STRIPE_KEY, Backend

# per backend: (co-badged CB + Visa card, CB + Mastercard card, Visa-only card)
CARDS = {
    "stripe": ("4000002500001001", "5555552500001001", "4242424242424242"),
}
ISSUER_CARDS = ("4970100000000014", "5130100000000018", "4111111111111111")


def k() -> str:
    return f"net-{uuid.uuid4().hex}"


def cards(backend: Backend) -> tuple[str, str, str]:
    return CARDS.get(backend.name, ISSUER_CARDS)


def card(pan: str, cvv: str = "123") -> CardData:
    return CardData(pan, parse_expiry("06/31" if pan.startswith("5130") else "12/30"), cvv)


def reached(backend: Backend, reference: str) -> str | None:
    """The network the far end recorded for a hold: the issuer's books, or the Stripe intent."""
    if backend.issuer is not None:
        return backend.issuer.hold_networks()[reference]
    with httpx.Client(base_url=backend.extra["url"], auth=(STRIPE_KEY, "")) as c:
        pi = c.get(f"/v1/payment_intents/{reference}").json()
    return (pi.get("metadata") or {}).get("d400_network")


@pytest.mark.parametrize("network", [Brand.CB, Brand.VISA])
async def test_co_badged_visa_card_goes_on_the_network_chosen(acquirer, backend: Backend, network: Brand) -> None:  # type: ignore[no-untyped-def]
    pan = cards(backend)[0]
    resp = await acquirer.authorize(PaymentSource(card=card(pan), network=network), Decimal("1.00"), k())
    assert resp.outcome is Outcome.APPROVED, resp
    assert resp.network == network.value
    assert reached(backend, resp.reference) == network.value


@pytest.mark.parametrize("network", [Brand.CB, Brand.MASTERCARD])
async def test_co_badged_mastercard_goes_on_the_network_chosen(acquirer, backend: Backend, network: Brand) -> None:  # type: ignore[no-untyped-def]
    pan = cards(backend)[1]
    resp = await acquirer.authorize(PaymentSource(card=card(pan).on(network)), Decimal("1.00"), k())
    assert resp.outcome is Outcome.APPROVED, resp
    assert reached(backend, resp.reference) == network.value


async def test_token_reauthorization_keeps_the_network(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    pan = cards(backend)[0]
    first = await acquirer.authorize(PaymentSource(card=card(pan), network=Brand.VISA), Decimal("1.00"), k())
    again = await acquirer.authorize(PaymentSource(token=first.token, network=Brand.VISA), Decimal("1.00"), k())
    assert again.outcome is Outcome.APPROVED, again
    assert reached(backend, again.reference) == "VISA"


async def test_status_after_a_lost_answer_says_the_network(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    key = k()
    await acquirer.authorize(PaymentSource(card=card(cards(backend)[0]), network=Brand.VISA), Decimal("1.00"), key)
    assert (await acquirer.status(key)).network == "VISA"


async def test_no_network_asked_goes_on_cb_for_a_co_badged_card(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    if backend.issuer is None:
        pytest.skip("Stripe routes an unasked co-badged card its own way: the engine always asks")
    resp = await acquirer.authorize(PaymentSource(card=card(cards(backend)[0])), Decimal("1.00"), k())
    assert reached(backend, resp.reference) == "CB"


async def test_visa_only_card_on_cb_is_refused_by_the_issuer(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    if backend.issuer is None:
        pytest.skip("localstripe does not check the network (the engine refuses it before any call)")
    resp = await acquirer.authorize(PaymentSource(card=card(cards(backend)[2]), network=Brand.CB), Decimal("1.00"), k())
    assert resp.outcome is Outcome.DECLINED and resp.code == "58"
    ok = await acquirer.authorize(PaymentSource(card=card(cards(backend)[2]), network=Brand.VISA), Decimal("1.00"), k())
    assert ok.outcome is Outcome.APPROVED and reached(backend, ok.reference) == "VISA"


async def test_cvv_result_comes_back_and_the_cvv_never_does(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    pan = cards(backend)[0]
    good = await acquirer.authorize(PaymentSource(card=card(pan, "123")), Decimal("1.00"), k())
    bad = await acquirer.authorize(PaymentSource(card=card(pan, "999")), Decimal("1.00"), k())
    token = await acquirer.authorize(PaymentSource(token=good.token), Decimal("1.00"), k())
    if backend.issuer is None:  # localstripe says nothing of the CVC: read as not checked
        assert good.cvv is bad.cvv is CvvResult.NOT_CHECKED
    else:
        assert good.cvv is CvvResult.MATCH
        assert bad.outcome is Outcome.APPROVED and bad.cvv is CvvResult.NO_MATCH  # approved all the same
        assert token.cvv is CvvResult.NOT_CHECKED  # no CVV goes with a token
    for resp in (good, bad, token):  # the random token and reference may hold any three digits
        assert "999" not in resp.message and "999" not in repr(dataclasses.replace(resp, token=None, reference=""))


async def test_a_key_replayed_with_another_network_is_refused(acquirer, backend: Backend) -> None:  # type: ignore[no-untyped-def]
    if backend.issuer is None:
        pytest.skip("localstripe keeps no network to compare a replay with")
    key, c = k(), card(cards(backend)[0])
    first = await acquirer.authorize(PaymentSource(card=c, network=Brand.CB), Decimal("1.00"), key)
    same = await acquirer.authorize(PaymentSource(card=c, network=Brand.CB), Decimal("1.00"), key)
    other = await acquirer.authorize(PaymentSource(card=c, network=Brand.VISA), Decimal("1.00"), key)
    assert same.reference == first.reference
    assert other.outcome is Outcome.DECLINED and other.code == "94"


async def test_a_network_the_servers_do_not_know_is_refused_in_one_line(backend: Backend) -> None:  # type: ignore[no-untyped-def]
    """Hostile input at the far end: the HTTP service answers 400 with one line, the ISO 8583 host
    39 = 30 (format error); nothing is held either way."""
    if backend.name == "http":
        from tests.support.acquirers import API_KEY

        body = {"card": {"pan": "4970100000000014", "expiry": "12/30"}, "amount": "1.00", "network": "DINERS\\x00"}
        async with httpx.AsyncClient(base_url=backend.extra["url"]) as c:
            r = await c.post("/v1/authorizations", json=body, headers={"X-Api-Key": API_KEY, "Idempotency-Key": k()})
        assert r.status_code == 400 and r.json()["error"].startswith("network: one of")
        assert "4970100000000014" not in r.text
    elif backend.name == "iso8583":
        from d400tui.acquirers.iso8583 import Iso8583Acquirer

        acq = Iso8583Acquirer("127.0.0.1", backend.extra["port"])
        try:
            doc = {"t": "0100", "3": "000000", "4": "000000000100", "49": "978", "62": k()}
            doc.update({"2": "4970100000000014", "14": "3012", "22": "012", "47": "DINERS"})
            answer = await acq.exchange(doc)
        finally:
            await acq.close()
        assert answer["39"] == "30" and answer["44"] == "DECLINED"
    else:
        pytest.skip("the simulator has no wire; Stripe's own server checks its parameters")
