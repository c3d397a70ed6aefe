"""The `stripe` acquirer: PaymentIntents with manual capture (card not present), over the HTTP
transport of `transport.py` (retries under the same Idempotency-Key; a 429 is no answer).

authorize = create a PaymentMethod from the card and a Customer it is attached to, then create
and confirm a PaymentIntent with capture_method=manual for both; capture = /capture with
amount_to_capture; void = /cancel; verify = a minimal authorization cancelled at once (what
ActiveMerchant does). Every POST carries an Idempotency-Key derived from our key, and every
intent carries our key in its metadata so status(key) can find it after a lost answer.

Reusable tokens. Stripe refuses a PaymentMethod a second time once a PaymentIntent used it
without a Customer ("attach it to a Customer first"), so the call that carries card data
creates a Customer with the PaymentMethod attached (POST /v1/customers with payment_method,
which attaches it: one call instead of two, and a card refused at attachment leaves no customer
behind) and the token is `cus_…/pm_…`, so a later authorization needs no lookup. That first
intent asks setup_future_usage=off_session; the intents made from a token say off_session=true
(merchant-initiated: the cardholder is not there to authenticate). A bare `pm_…` token (made
before) is sent as it was, payment method alone. Nothing of the card goes into metadata or the
customer: only our key.

Stripe keeps no record of a request that can be looked up by its idempotency key, so status()
reads the intent the key concerns: an authorization key (or a verify key) is the intent's own
metadata; a void or capture key is the engine's `<authorization key>-void` / `-cap`, answered
from the state of that authorization's intent. Stripe's search is not read-after-write (see
_find): an intent it finds is read again by id, and when it finds nothing, the intents created
over the search lag are listed before status() answers NOT_FOUND, on which the reconciler
closes the row as never sent.

The adapter keeps no state of its own. It re-reads the intent before a capture or a void and
refuses what the provider might let through: capturing a cancelled or already captured
intent, capturing above what is capturable, capturing past the brand's validity window (some
servers, localstripe among them, never expire authorizations). Where the provider does not
honour idempotency keys (localstripe), `dedupe=True` makes authorize look the key up first, and
replay the intent found only to the same request (amount, currency, card's last 4 and expiry or
token): another request under a used key is refused with code 94, as Stripe's own
idempotency_error (400) is — never answered with the first request's answer.

Network choice and CVV (issue 13): the network chosen on a co-badged card goes as
`payment_method_options[card][network]` (cartes_bancaires, visa, mastercard) and in the intent's
metadata; the answer's network and CVV check are read from the charge
(`payment_method_details.card.network` and `.checks.cvc_check`, the intent is created with
`expand[]=latest_charge`), else from what the intent says it asked. A server that says nothing of
the CVV (localstripe) reads as not checked.

Shipments in several parcels: every intent asks for multicapture (request_multicapture=
if_available); a parcel is captured with final_capture=false, which keeps the rest capturable, and
the last with a plain capture, which releases what it does not take. Stripe has no partial void of
an uncaptured amount: the rest goes with the final capture (or a cancel). A server that does not
know final_capture (localstripe) refuses it before capturing anything: capture_partial then raises
Unsupported and the adapter stops declaring multicapture, so the engine captures once and
re-authorizes what remains.

An answer that is not the JSON object the API documents (`[]`, `null`, a missing or mistyped
field) raises AcquirerUnavailable ("malformed answer"): the engine records UNKNOWN."""

from __future__ import annotations

import csv
import functools
import re
import time
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

import httpx

from d400tui.data import data_path
from d400tui.domain.cards import Brand, CvvResult
from d400tui.domain.money import from_cents, to_cents

from .base import (
    KEY_REUSED,
    MULTICAPTURE,
    OPERATIONS,
    AcquirerResponse,
    AcquirerUnavailable,
    Outcome,
    PaymentSource,
    Unsupported,
)
from .transport import HttpTransport

# What this adapter sends to Stripe unless the contract narrows it (D400_ACQUIRER_BRANDS).
DEFAULT_BRANDS = frozenset({Brand.CB, Brand.VISA, Brand.MASTERCARD, Brand.MAESTRO})
KEY_META = "d400_key"
BRAND_META = "d400_brand"
NETWORK_META = "d400_network"
STRIPE_NETWORKS = {Brand.CB: "cartes_bancaires", Brand.VISA: "visa", Brand.MASTERCARD: "mastercard"}
_OUR_NETWORKS = {v: k.value for k, v in STRIPE_NETWORKS.items()}
CVC_CHECKS = {"pass": CvvResult.MATCH, "fail": CvvResult.NO_MATCH}  # unavailable, unchecked, None: not checked
VERIFY_META = ":verify"  # verify() tags its intent `<key>:verify`
VOID_SUFFIX = "-void"  # the engine voids under `<authorization key>-void` (engine/service.py, batch.py)
CAPTURE_SUFFIX = "-cap"  # and captures under `<authorization key>-cap` (engine/capture.py)
PARCEL_KEY = re.compile(r"^(?P<base>.+)-cap(?P<n>[0-9]+)$")  # a parcel's: `<authorization key>-capN`
PARCEL_META = "d400_cap"
"""A parcel's capture writes `metadata[d400_capN] = cents` on its intent: a multicaptured intent
keeps no object per capture, so status(`…-capN`) reads whether parcel N was taken from there."""
VERIFY_AMOUNT_CENTS = 100  # above Stripe's minimum charge in EUR (0.50)
TOKEN_SEP = "/"  # a token is `<customer id>/<payment method id>` (or a bare payment method id, made before)
# Stripe: "Under normal operating conditions, data is searchable in less than a minute. Occasionally,
# propagation of new or updated data can be up to an hour behind during outages." Plus clock skew.
SEARCH_LAG_S = 3600 + 300


def _join_token(customer: str | None, pm: str) -> str:
    """The token the engine keeps: `cus_…/pm_…`, or the bare payment method id without a customer."""
    return f"{customer}{TOKEN_SEP}{pm}" if customer else pm


@cache
def stripe_codes() -> dict[str, str]:
    """Stripe decline_code / error code → our field-39 code (data/stripe_codes.csv)."""
    with open(data_path("stripe_codes.csv"), newline="", encoding="utf-8") as f:
        return {r["stripe_code"]: r["code"] for r in csv.DictReader(f)}


def field39(error: dict[str, Any] | None) -> str:
    """decline_code first (the issuer's reason), then the error code; unknown → '05'."""
    if not error:
        return "05"
    codes = stripe_codes()
    for name in (error.get("decline_code"), error.get("code")):
        if name and name in codes:
            return codes[name]
    return "05"


def _malformed_is_unavailable(method):  # type: ignore[no-untyped-def]
    """An answer missing a field or of the wrong shape is no answer: UNKNOWN, never a crash."""

    @functools.wraps(method)
    async def checked(self, *args):  # type: ignore[no-untyped-def]
        try:
            return await method(self, *args)
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError):
            raise AcquirerUnavailable("stripe: malformed answer") from None

    return checked


class StripeAcquirer:
    """Adapter to the Stripe API (or a server speaking it, such as localstripe in the tests)."""

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.stripe.com",
        brands: frozenset[Brand] | None = None,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 3.0,
        validity_days: dict[str, int] | None = None,
        currency: str = "eur",
        dedupe: bool = False,
        retries: int = 1,
        max_connections: int = 64,
        clock: Callable[[], float] = time.time,
        search_lag_s: float = SEARCH_LAG_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.brands = brands or DEFAULT_BRANDS
        self.validity_days = {"MAESTRO": 30, **(validity_days or {})}
        self.currency = currency
        self.dedupe = dedupe
        self.clock = clock
        self.search_lag_s = search_lag_s
        self._search = True  # cleared if the server has no search endpoint (localstripe)
        self._setup_future_usage = True  # cleared if the server does not know the parameter (localstripe)
        self._expand = True
        self._capture_meta = True  # cleared if the server refuses metadata on a capture (localstripe)
        self.capabilities = OPERATIONS | {MULTICAPTURE}  # multicapture dropped if the server has none
        self._http = HttpTransport(
            self.name,
            base_url,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            retries=retries,
            max_connections=max_connections,
            auth=(api_key, ""),
            busy_statuses=frozenset({429}),  # rate limited: nothing was done
            transport=transport,
        )
        self.base_url = self._http.base_url

    def __repr__(self) -> str:  # the secret key stays out of reprs and tracebacks
        return f"StripeAcquirer({self.base_url!r})"

    # -- transport ---------------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        path: str,
        data: dict[str, Any] | None = None,
        key: str | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        status, body = await self._http.send(method, path, key, data=data, params=params)
        if not isinstance(body, dict):
            raise AcquirerUnavailable("stripe: malformed answer")
        return status, body

    # -- mapping -----------------------------------------------------------------------------
    @staticmethod
    def _network_and_cvv(pi: dict[str, Any]) -> tuple[str | None, CvvResult]:
        """The network the charge went on and its CVC check, else the network the intent asked."""
        charge = pi.get("latest_charge")
        details = (charge.get("payment_method_details") or {}).get("card") or {} if isinstance(charge, dict) else {}
        asked = ((pi.get("payment_method_options") or {}).get("card") or {}).get("network")
        name = details.get("network") or asked
        network = _OUR_NETWORKS.get(name) if isinstance(name, str) else None
        network = network or (pi.get("metadata") or {}).get(NETWORK_META) or None
        check = (details.get("checks") or {}).get("cvc_check")
        return network, (CVC_CHECKS.get(check) if isinstance(check, str) else None) or CvvResult.NOT_CHECKED

    def _from_intent(self, pi: dict[str, Any], token: str | None = None) -> AcquirerResponse:
        resp = self._intent_answer(pi, token)
        network, cvv = self._network_and_cvv(pi)
        return AcquirerResponse(
            resp.outcome, resp.code, resp.reference, resp.auth_code, resp.token, resp.amount, resp.message, network, cvv
        )

    def _intent_answer(self, pi: dict[str, Any], token: str | None = None) -> AcquirerResponse:
        status = pi.get("status")
        ref = pi.get("id")
        amount = from_cents(int(pi.get("amount") or 0))
        charge = pi.get("latest_charge")
        charge_id = charge.get("id") if isinstance(charge, dict) else charge
        auth_code = charge_id[-6:].upper() if isinstance(charge_id, str) else None
        if status == "requires_capture":
            capturable = pi.get("amount_capturable")
            held = from_cents(int(capturable)) if capturable is not None else amount
            return AcquirerResponse(Outcome.APPROVED, "00", ref, auth_code, token, held)
        if status == "succeeded":
            received = pi.get("amount_received")
            if received is None and isinstance(charge, dict):
                # a server without amount_received (localstripe, which refunds what was not captured)
                received = int(charge.get("amount") or 0) - int(charge.get("amount_refunded") or 0)
            got = from_cents(int(received)) if received else amount
            return AcquirerResponse(Outcome.CAPTURED, "00", ref, auth_code, token, got)
        if status == "canceled":
            return AcquirerResponse(Outcome.VOIDED, "00", ref, auth_code, token, amount)
        err = pi.get("last_payment_error")
        message = (err or {}).get("message") or f"payment intent {status}"
        return AcquirerResponse(Outcome.DECLINED, field39(err), ref, token=token, message=message)

    @staticmethod
    def _token(pi: dict[str, Any]) -> str | None:
        """The token for the card an intent used: `cus_…/pm_…`, or the bare payment method id."""
        pm, customer = pi.get("payment_method"), pi.get("customer")
        pm = pm.get("id") if isinstance(pm, dict) else pm
        customer = customer.get("id") if isinstance(customer, dict) else customer
        return _join_token(customer, pm) if pm else None

    @staticmethod
    def _declined(body: dict[str, Any], token: str | None = None) -> AcquirerResponse:
        err = body.get("error") or {}
        pi = err.get("payment_intent") or {}
        code = field39(err) if err.get("type") == "card_error" or err.get("code") else "12"
        if err.get("type") == "idempotency_error":  # the key was first used with other parameters
            code = KEY_REUSED
        message = str(err.get("message") or "refused")[:200]
        return AcquirerResponse(Outcome.DECLINED, code, pi.get("id"), token=token, message=message)

    # -- operations --------------------------------------------------------------------------
    async def _payment_method(
        self, source: PaymentSource, key: str
    ) -> tuple[str | None, str | None, AcquirerResponse | None]:
        """(customer, payment method, refusal): split from the token, or made from the card."""
        if source.token is not None:
            customer, _, pm = source.token.rpartition(TOKEN_SEP)
            return customer or None, pm, None
        assert source.card is not None
        card = source.card
        data = {
            "type": "card",
            "card[number]": card.pan,
            "card[exp_month]": str(card.expiry.month),
            "card[exp_year]": str(card.expiry.year),
        }
        if card.cvv:
            data["card[cvc]"] = card.cvv
        status, body = await self._request("POST", "/v1/payment_methods", data, f"{key}:pm")
        if status != 200:
            return None, None, self._declined(body)
        pm = body["id"]
        # Creating the customer with payment_method attaches it (one call instead of a customer,
        # then /v1/payment_methods/{pm}/attach); Stripe may check the card at attachment.
        status, body = await self._request(
            "POST", "/v1/customers", {"payment_method": pm, f"metadata[{KEY_META}]": key}, f"{key}:customer"
        )
        if status != 200:
            return None, None, self._declined(body)
        return body["id"], pm, None

    @staticmethod
    def _unknown_parameter(status: int, body: dict[str, Any], name: str) -> bool:
        """The server refused a parameter it does not know (not a value it finds wrong)."""
        message = str((body.get("error") or {}).get("message") or "")
        return status == 400 and name in message and ("Unexpected" in message or "unknown parameter" in message)

    async def _hold(self, source: PaymentSource, cents: int, key: str, meta_key: str) -> AcquirerResponse:
        customer, pm, refused = await self._payment_method(source, key)
        if refused is not None:
            return refused
        assert pm is not None  # no refusal: a payment method
        token = _join_token(customer, pm)
        data = {
            "amount": str(cents),
            "currency": self.currency,
            "payment_method": pm,
            "payment_method_types[]": "card",
            "capture_method": "manual",
            "confirm": "true",
            f"metadata[{KEY_META}]": meta_key,
        }
        if MULTICAPTURE in self.capabilities and meta_key == key:  # a hold that may ship in parcels
            data["payment_method_options[card][request_multicapture]"] = "if_available"
        if customer:
            data["customer"] = customer
            if source.card is None:
                data["off_session"] = "true"  # a re-authorization from the token: merchant-initiated
            elif self._setup_future_usage:
                data["setup_future_usage"] = "off_session"  # the card is kept for such later payments
        if source.card is not None:
            data[f"metadata[{BRAND_META}]"] = source.card.brand.value
        if source.network in STRIPE_NETWORKS:
            assert source.network is not None
            data["payment_method_options[card][network]"] = STRIPE_NETWORKS[source.network]
            data[f"metadata[{NETWORK_META}]"] = source.network.value
        if self._expand:
            data["expand[]"] = "latest_charge"  # the charge says the network used and the CVC check
        status, body = await self._request("POST", "/v1/payment_intents", data, key)
        if "setup_future_usage" in data and self._unknown_parameter(status, body, "setup_future_usage"):
            # localstripe (1.15) refuses the parameter ("Unexpected setup_future_usage") before it
            # creates anything; real Stripe needs it to set the card up for off-session use. Sent
            # until a server says it does not know it, then dropped for this adapter's lifetime.
            self._setup_future_usage = False
            del data["setup_future_usage"]
            status, body = await self._request("POST", "/v1/payment_intents", data, key)
        if status != 200:
            return self._declined(body, token=token)
        return self._from_intent(body, token=token)

    @_malformed_is_unavailable
    async def authorize(self, source: PaymentSource, amount: Decimal, key: str) -> AcquirerResponse:
        if self.dedupe:
            found = await self._find([key, key + VERIFY_META])
            pi = found.get(key)
            if key + VERIFY_META in found or (pi is not None and not await self._same_request(pi, source, amount)):
                return self._key_reused()
            if pi is not None:
                return self._from_intent(pi, token=self._token(pi))
        return await self._hold(source, to_cents(amount), key, key)

    @staticmethod
    def _key_reused() -> AcquirerResponse:
        return AcquirerResponse(Outcome.DECLINED, KEY_REUSED, message="idempotency key reused with other parameters")

    async def _same_request(self, pi: dict[str, Any], source: PaymentSource, amount: Decimal) -> bool:
        """Whether the intent made under a key answers this request: same amount and currency, and
        the same token, or a payment method with the card's last 4 digits and expiry."""
        if int(pi.get("amount") or 0) != to_cents(amount) or str(pi.get("currency", "")).lower() != self.currency:
            return False
        if source.token is not None:
            return self._token(pi) == source.token or (pi.get("payment_method") == source.token)
        assert source.card is not None
        pm = pi.get("payment_method")
        if not isinstance(pm, dict):
            status, pm = await self._request("GET", f"/v1/payment_methods/{pm}")
            if status != 200:
                return False
        got = pm.get("card") or {}
        exp = source.card.expiry
        return (
            str(got.get("last4")) == source.card.pan[-4:]
            and int(got.get("exp_month") or 0) == exp.month
            and int(got.get("exp_year") or 0) == exp.year
        )

    @_malformed_is_unavailable
    async def verify(self, source: PaymentSource, key: str) -> AcquirerResponse:
        """A small hold released at once: the answer says whether the card would be authorized."""
        if self.dedupe and key in await self._find([key]):  # the key made an authorization
            return self._key_reused()
        resp = await self._hold(source, VERIFY_AMOUNT_CENTS, key, key + VERIFY_META)
        if resp.outcome is Outcome.APPROVED and resp.reference:
            await self._request("POST", f"/v1/payment_intents/{resp.reference}/cancel", {}, f"{key}:release")
            return AcquirerResponse(
                Outcome.APPROVED,
                "00",
                None,
                resp.auth_code,
                resp.token,
                Decimal("0.00"),
                network=resp.network,
                cvv=resp.cvv,
            )
        return resp

    async def _intent(self, reference: str) -> dict[str, Any] | None:
        status, body = await self._request("GET", f"/v1/payment_intents/{reference}")
        return body if status == 200 else None

    @_malformed_is_unavailable
    async def void(self, reference: str, key: str) -> AcquirerResponse:
        pi = await self._intent(reference)
        if pi is None:
            return AcquirerResponse(Outcome.DECLINED, "12", reference, message="unknown authorization")
        if pi.get("status") == "canceled":  # voided before (a retry whose answer was lost)
            return self._from_intent(pi)
        if pi.get("status") == "succeeded":
            return AcquirerResponse(Outcome.DECLINED, "12", reference, message="captured: no void")
        status, body = await self._request("POST", f"/v1/payment_intents/{reference}/cancel", {}, key)
        if status != 200:
            return self._declined(body)
        return self._from_intent(body)

    def _expired(self, pi: dict[str, Any]) -> bool:
        brand = (pi.get("metadata") or {}).get(BRAND_META, "")
        days = self.validity_days.get(brand, 7)
        return self.clock() - float(pi.get("created") or 0) > days * 86400

    async def _check_capture(self, reference: str, cents: int) -> AcquirerResponse | None:
        """The refusal a capture of `cents` gets before anything is sent (None: it may be sent)."""
        pi = await self._intent(reference)
        if pi is None:
            return AcquirerResponse(Outcome.DECLINED, "12", reference, message="unknown authorization")
        state = pi.get("status")
        if state != "requires_capture":
            word = {"canceled": "voided", "succeeded": "already captured"}.get(str(state), str(state))
            return AcquirerResponse(Outcome.DECLINED, "12", reference, message=f"authorization {word}")
        if self._expired(pi):
            return AcquirerResponse(Outcome.DECLINED, "12", reference, message="authorization expired")
        capturable = int(pi.get("amount_capturable") or pi.get("amount") or 0)
        if cents <= 0 or cents > capturable:
            return AcquirerResponse(Outcome.DECLINED, "13", reference, message="above the authorized amount")
        return None

    @_malformed_is_unavailable
    async def capture(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        cents = to_cents(amount)
        refused = await self._check_capture(reference, cents)
        if refused is not None:
            return refused
        status, body = await self._capture_call(reference, {"amount_to_capture": str(cents)}, key)
        if status != 200:
            return self._declined(body)
        resp = self._from_intent(body)
        if resp.outcome is Outcome.CAPTURED:
            return AcquirerResponse(Outcome.CAPTURED, "00", reference, resp.auth_code, amount=from_cents(cents))
        return resp

    async def _capture_call(self, reference: str, data: dict[str, str], key: str) -> tuple[int, dict[str, Any]]:
        """POST …/capture; a parcel's (`…-capN`) also marks its intent `metadata[d400_capN]` with
        the cents it takes, which status() reads after a lost answer. A server that refuses
        metadata there is asked without, for this adapter's lifetime."""
        path = f"/v1/payment_intents/{reference}/capture"
        parcel = PARCEL_KEY.match(key)
        if parcel and self._capture_meta:
            marked = {**data, f"metadata[{PARCEL_META}{parcel['n']}]": data["amount_to_capture"]}
            status, body = await self._request("POST", path, marked, key)
            if not self._unknown_parameter(status, body, "metadata"):
                return status, body
            self._capture_meta = False
        return await self._request("POST", path, data, key)

    @_malformed_is_unavailable
    async def capture_partial(self, reference: str, amount: Decimal, key: str) -> AcquirerResponse:
        """One parcel: amount_to_capture with final_capture=false, the rest stays capturable."""
        if MULTICAPTURE not in self.capabilities:
            raise Unsupported("stripe: this server has no multicapture")
        cents = to_cents(amount)
        refused = await self._check_capture(reference, cents)
        if refused is not None:
            return refused
        data = {"amount_to_capture": str(cents), "final_capture": "false"}
        status, body = await self._capture_call(reference, data, key)
        if self._unknown_parameter(status, body, "final_capture"):
            self.capabilities = self.capabilities - {MULTICAPTURE}
            raise Unsupported("stripe: this server has no multicapture")
        if status == 400 and "multicapture" in str((body.get("error") or {}).get("message") or ""):
            raise Unsupported("stripe: multicapture not available for this authorization")  # nothing captured
        if status != 200:
            return self._declined(body)
        if body.get("status") not in ("requires_capture", "succeeded"):
            return self._from_intent(body)
        resp = self._from_intent(body)
        return AcquirerResponse(Outcome.CAPTURED, "00", reference, resp.auth_code, amount=from_cents(cents))

    @_malformed_is_unavailable
    async def status(self, key: str) -> AcquirerResponse:
        """What became of the request sent under `key`, read from the intent it concerns.

        - authorization key: the intent created under it, as it stands now (APPROVED while held,
          VOIDED or CAPTURED since, DECLINED with the issuer's code);
        - verify key: what verify() answered (APPROVED, nothing held, or DECLINED); a small hold
          whose release never went through is released now, under verify's own release key;
        - void key `<auth key>-void`: VOIDED once the intent is cancelled; DECLINED once it is
          captured (no void can happen any more, as void() itself answers); NOT_FOUND otherwise;
        - capture key `<auth key>-cap`: CAPTURED with the amount received once the intent has
          succeeded; DECLINED once it is cancelled (as capture() answers); NOT_FOUND otherwise;
        - NOT_FOUND when no intent carries the key: nothing was held under it (on Stripe, neither
          search nor a listing of the intents created over the search lag finds one).

        A search or listing that fails raises AcquirerUnavailable: the row stays UNKNOWN."""
        base, op = None, None
        for suffix in (VOID_SUFFIX, CAPTURE_SUFFIX):
            if key.endswith(suffix) and len(key) > len(suffix):
                base, op = key[: -len(suffix)], suffix
        if (parcel := PARCEL_KEY.match(key)) is not None:
            base, op = parcel["base"], parcel["n"]
        verify_key = key + VERIFY_META
        found = await self._find([key, verify_key, *([base] if base else [])])
        if key in found:  # an authorization key, even one that happens to end like an operation key
            pi = found[key]
            return self._from_intent(pi, token=self._token(pi))
        if verify_key in found:
            return await self._verify_status(found[verify_key], key)
        if base is not None and base in found:
            return self._operation_status(found[base], op)
        return AcquirerResponse(Outcome.NOT_FOUND, "25")

    async def _verify_status(self, pi: dict[str, Any], key: str) -> AcquirerResponse:
        token = self._token(pi)
        resp = self._from_intent(pi, token=token)
        if pi.get("status") == "requires_capture":  # approved, but the release was lost with the answer
            ref = pi.get("id")
            status, _ = await self._request("POST", f"/v1/payment_intents/{ref}/cancel", {}, f"{key}:release")
            if status != 200 and (await self._intent(str(ref)) or {}).get("status") != "canceled":
                raise AcquirerUnavailable("stripe: verification hold not released yet")
            resp = AcquirerResponse(Outcome.VOIDED, "00", ref, resp.auth_code, token)
        if resp.outcome is Outcome.VOIDED:  # released: the answer verify() gives
            return AcquirerResponse(Outcome.APPROVED, "00", None, resp.auth_code, token, Decimal("0.00"))
        return resp

    def _operation_status(self, pi: dict[str, Any], suffix: str | None) -> AcquirerResponse:
        state, ref = pi.get("status"), pi.get("id")
        if suffix is not None and suffix.isdigit():
            return self._parcel_status(pi, suffix)
        if suffix == VOID_SUFFIX:
            if state == "canceled":
                return self._from_intent(pi)
            if state == "succeeded":
                return AcquirerResponse(Outcome.DECLINED, "12", ref, message="captured: no void")
        else:
            if state == "succeeded":
                return self._from_intent(pi)
            if state == "canceled":
                return AcquirerResponse(Outcome.DECLINED, "12", ref, message="authorization voided")
        return AcquirerResponse(Outcome.NOT_FOUND, "25", ref)  # the operation has not happened

    @staticmethod
    def _parcel_status(pi: dict[str, Any], n: str) -> AcquirerResponse:
        """Parcel N's capture, from its intent: CAPTURED when the intent carries its mark; not
        happened (NOT_FOUND) when nothing was captured, or every cent received is accounted for by
        other parcels' marks; else it cannot be told (a server that took captures unmarked), and
        the row stays UNKNOWN — never read as "not sent", which would capture it again."""
        meta, ref = pi.get("metadata") or {}, pi.get("id")
        mine = meta.get(f"{PARCEL_META}{n}")
        if mine is not None:
            return AcquirerResponse(Outcome.CAPTURED, "00", ref, amount=from_cents(int(mine)))
        received = int(pi.get("amount_received") or 0)
        marked = sum(int(v) for k, v in meta.items() if k.startswith(PARCEL_META) and k[len(PARCEL_META) :].isdigit())
        if received <= marked:
            if pi.get("status") == "canceled":
                return AcquirerResponse(Outcome.DECLINED, "12", ref, message="authorization voided")
            return AcquirerResponse(Outcome.NOT_FOUND, "25", ref)
        raise AcquirerUnavailable("stripe: captures on this intent without the parcels' marks")

    async def _find(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Intents whose metadata key is one of `keys` (key → intent), as they stand now.

        Stripe's search is not read-after-write: a new intent, or a change to one, reaches it in
        under a minute normally and up to an hour late during an outage. So an intent search
        finds is read again by id (its state there may be stale: a capture or a cancel not seen
        yet), and when search finds nothing, the intents created over the last `search_lag_s`
        are listed (the list API shows what was just written) before answering that there is
        none: the reconciler takes an empty answer for "never reached the provider" and closes
        the row, which must not happen to a hold that exists. Without a search endpoint
        (localstripe) every intent is listed."""
        wanted = set(keys)
        if self._search:
            escaped = [k.replace("\\", "\\\\").replace("'", "\\'") for k in keys]
            query = " OR ".join(f"metadata['{KEY_META}']:'{k}'" for k in escaped)
            status, body = await self._request(
                "GET", "/v1/payment_intents/search", params={"query": query, "limit": "100"}
            )
            if status == 200:
                found = self._collect(body.get("data") or [], wanted, {})
                if not found:  # maybe not indexed yet
                    return await self._list(wanted, since=int(self.clock() - self.search_lag_s))
                return {k: await self._intent(str(pi.get("id"))) or pi for k, pi in found.items()}
            self._search = False  # no search endpoint: list and filter instead
        return await self._list(wanted)

    @staticmethod
    def _collect(
        data: list[dict[str, Any]], wanted: set[str], found: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        for pi in data:
            meta = (pi.get("metadata") or {}).get(KEY_META)
            if meta in wanted and meta not in found:
                found[meta] = pi
        return found

    async def _list(self, wanted: set[str], since: int | None = None) -> dict[str, dict[str, Any]]:
        """Page through the intents (created at `since` or later) up to the first page with a hit:
        the keys of one status() call never belong to two intents the engine made."""
        found: dict[str, dict[str, Any]] = {}
        after: str | None = None
        while True:
            params = {"limit": "100"}
            if since is not None:
                params["created[gte]"] = str(since)
            if after:
                params["starting_after"] = after
            status, body = await self._request("GET", "/v1/payment_intents", params=params)
            if status != 200:
                raise AcquirerUnavailable(f"stripe: cannot list payment intents ({status})")
            data = body.get("data") or []
            self._collect(data, wanted, found)
            if found or not body.get("has_more") or not data:
                return found
            after = data[-1]["id"]

    async def ping(self) -> str:
        """For `d400 acquirer check`: a cheap authenticated read."""
        status, _ = await self._request("GET", "/v1/payment_intents", params={"limit": "1"})
        if status != 200:
            raise AcquirerUnavailable(f"stripe: answered {status}")
        return "authenticated read 200"

    async def close(self) -> None:
        await self._http.close()
