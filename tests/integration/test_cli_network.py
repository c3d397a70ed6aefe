"""`d400 order new --network` (issue 13.2): the customer's network on a co-badged card reaches the
issuer and is printed with the CVV check; a network the card does not carry is one clear line."""

from __future__ import annotations

import json

from tests.integration.test_cli import d400

ORDER = ("order", "new", "--customer", "100001", "--line", "BON0001:1", "--expiry", "12/30")


def test_order_new_on_visa_at_the_customers_request(settings) -> None:  # type: ignore[no-untyped-def]
    r = d400(settings, *ORDER, "--network", "VISA", stdin="4970100000000014\n999\n", operator="OPER1")
    assert r.returncode == 0, r.stderr
    assert "network VISA cvv NO_MATCH" in r.stdout and "WARNING: CVV does not match" in r.stdout
    assert "4970100000000014" not in r.stdout + r.stderr and "999" not in r.stdout.replace("71.99", "")
    data = json.loads(
        d400(settings, *ORDER, "--network", "cb", "--json", stdin="4970100000000014\n123\n", operator="OPER1").stdout
    )
    assert (data["answers"][0]["network"], data["answers"][0]["security_check"]) == ("CB", "MATCH")


def test_a_network_the_card_does_not_carry_is_one_line(settings) -> None:  # type: ignore[no-untyped-def]
    r = d400(settings, *ORDER, "--network", "CB", stdin="4111111111111111\n", operator="OPER1")
    assert r.returncode != 0
    assert "réseau CB non proposé pour cette carte" in r.stderr
    assert "Traceback" not in r.stderr and "4111111111111111" not in r.stderr
    bad = d400(settings, *ORDER, "--network", "AMEX", stdin="4970100000000014\n", operator="OPER1")
    assert bad.returncode != 0 and "--network: CB, VISA or MASTERCARD" in bad.stderr
    nonsense = d400(settings, *ORDER, "--network", "diners", stdin="4970100000000014\n", operator="OPER1")
    assert nonsense.returncode == 2 and "Traceback" not in nonsense.stderr
