"""data/response_codes.csv carries the advice (issue 13.1): every code has a retry class, its Visa
category and Mastercard advice where they exist, and a sentence for the operator in both languages
that fits the decision panel; Stripe's decline codes map to codes with the same retry rule."""

from __future__ import annotations

import csv
import tomllib

import pytest

from d400tui.data import data_path
from d400tui.data.codes import codes_of, counted_codes, response_codes, retry_limits
from d400tui.domain.model import Category, RetryClass
from d400tui.engine.retry_rules import is_service_failure, limit_for, never_retry
from d400tui.i18n.render import code_advice

PANEL = 74  # the decision panel's advice line at 80 columns: "» " and the sentence
MASTERCARD_ADVICE = {"", "01", "02", "03", "04", "21", "24", "25", "26", "27", "28", "29", "30"}


def rows() -> list[dict[str, str]]:
    with open(data_path("response_codes.csv"), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_code_has_a_retry_class_and_both_sentences() -> None:
    got = rows()
    assert len(got) == len(response_codes()) and len({r["code"] for r in got}) == len(got)
    for r in got:
        assert r["retry_class"] in RetryClass.__members__, r
        assert (r["retry_class"] == "NONE") == (r["category"] == "APPROVED"), r
        for lang in ("fr", "en"):
            text = r[f"advice_{lang}"]
            assert text.strip() and len(text) <= PANEL, (r["code"], lang, len(text))
            assert code_advice(r["code"], lang) == text
        assert r["advice_fr"] != r["advice_en"], r
        assert r["visa_category"] in ("", "1", "2", "3", "4"), r
        assert r["mc_advice"] in MASTERCARD_ADVICE, r


def test_the_schemes_never_retry_codes_and_the_service_failures() -> None:
    assert {"04", "07", "41", "43", "57"} <= set(codes_of(RetryClass.NEVER))
    assert all(never_retry(c) for c in ("41", "43", "57"))
    assert not any(never_retry(c) for c in ("51", "05", "91", None))
    for code in ("91", "96", "68", "A0", None):
        assert is_service_failure(code), code  # the "service unavailable" panel, never a refusal one
    for code, rc in response_codes().items():
        # a Visa category 1 answer is never retried as it is: never, or corrected first (14 re-keyed)
        if rc.visa_category == "1":
            assert rc.retry_class in (RetryClass.NEVER, RetryClass.CORRECT), code
        if rc.mc_advice == "03":
            assert rc.retry_class is RetryClass.NEVER, code
        assert (rc.category is Category.UNAVAILABLE) == (rc.retry_class is RetryClass.SERVICE), code
    assert "A0" not in counted_codes() and "00" not in counted_codes() and "51" in counted_codes()
    assert code_advice("XY", "fr").startswith("Refus de la banque (code XY)")
    assert code_advice("XY", "en").startswith("Refused by the bank (code XY)")


def test_retry_limits_from_data() -> None:
    visa = retry_limits()["VISA"]
    assert (visa.max_reattempts, visa.window_days) == (15, 30) and "Visa" in visa.source
    assert limit_for("CB") == retry_limits()["*"]


@pytest.mark.parametrize(
    ("rule", "stripe"),
    [
        (RetryClass.NEVER, ("lost_card", "stolen_card", "pickup_card", "do_not_try_again", "stop_payment_order")),
        (RetryClass.NEVER, ("revocation_of_authorization", "revocation_of_all_authorizations", "restricted_card")),
        (RetryClass.NEVER, ("merchant_blacklist", "not_permitted", "transaction_not_allowed")),
        (RetryClass.SERVICE, ("issuer_not_available", "processing_error", "try_again_later", "reenter_transaction")),
        (RetryClass.LATER, ("insufficient_funds", "card_velocity_exceeded", "do_not_honor", "generic_decline")),
        (RetryClass.CORRECT, ("incorrect_number", "incorrect_cvc", "invalid_expiry_year", "expired_card")),
    ],
)
def test_stripe_decline_codes_keep_the_retry_rule(rule: RetryClass, stripe: tuple[str, ...]) -> None:
    with open(data_path("stripe_codes.csv"), newline="", encoding="utf-8") as f:
        mapped = {r["stripe_code"]: r["code"] for r in csv.DictReader(f)}
    for name in stripe:
        assert response_codes()[mapped[name]].retry_class is rule, (name, mapped[name])


def test_the_decision_help_lives_in_the_csv_only() -> None:
    for lang in ("fr", "en"):
        with open(data_path("../i18n/" + lang + ".toml"), "rb") as f:
            help_keys = tomllib.load(f)["help"]
        assert not [k for k in help_keys if k.startswith("decision_")], lang
