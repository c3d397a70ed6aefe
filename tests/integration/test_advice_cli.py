"""The four-eyes release and the retry refusal at the command line (issue 13.1, 13.4): d400 order
decide … release files a request for a stolen card, approve-release / refuse-release are for a
supervisor other than the asker, bad input is one clear line."""

from __future__ import annotations

import json
import subprocess

from tests.support import cli


def d400(*args: str, stdin: str = "", operator: str = "SUPER1") -> subprocess.CompletedProcess[str]:
    return cli.run(list(args), stdin, cli.signed_on(operator))


def _stolen(operator: str = "OPER1") -> str:
    r = d400(
        "order", "new", "--customer", "100001", "--line", "BON0001:1", "--expiry", "12/30", "--json",
        stdin="4970100000000048\n", operator=operator,
    )  # fmt: skip
    assert r.returncode == 3, r.stderr
    return str(json.loads(r.stdout)["order"])


def test_release_request_then_approval_from_the_cli(settings) -> None:  # type: ignore[no-untyped-def]
    r = d400(
        "order", "new", "--customer", "100001", "--line", "BON0001:1", "--expiry", "12/30",
        stdin="4970100000000048\n", operator="OPER1",
    )  # fmt: skip
    assert "  » Carte déclarée volée : ne pas représenter ; proposer un autre paiement" in r.stdout
    assert r.returncode == 3, r.stderr
    # that order, not a second one: the card refused 43 is refused at once on the next (issuer branch)
    n = r.stdout.split()[1]
    assert r.stdout.startswith(f"order {n} VALIDATED")
    again = d400(
        "order", "new", "--customer", "100002", "--line", "BON0001:1", "--expiry", "12/30",
        stdin="4970100000000048\n", operator="OPER1",
    )  # fmt: skip
    assert again.returncode == 2 and "qui interdit de la représenter" in again.stderr
    r = d400("order", "decide", n, "retry", operator="OPER1")
    assert r.returncode == 2 and "R refusé : le code 43 interdit de représenter" in r.stderr
    r = d400("order", "decide", n, "release", operator="OPER1")
    assert r.returncode == 0 and "hold=BLOCKED" in r.stdout and "soumise à un superviseur" in r.stdout
    r = d400("order", "approve-release", n, operator="OPER1")
    assert r.returncode == 2 and "superviseurs" in r.stderr
    r = d400("order", "approve-release", n, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["hold"] == "RELEASED"
    trail = d400("audit").stdout
    assert "RELEASE_ASKED" in trail and "RELEASE_APPROVED" in trail and '"asked_by": "OPER1"' in trail


def test_refusal_and_the_asker_cannot_approve(settings) -> None:  # type: ignore[no-untyped-def]
    n = _stolen("SUPER1")
    assert d400("order", "decide", n, "release").returncode == 0
    r = d400("order", "approve-release", n)
    assert r.returncode == 2 and "un autre superviseur que le demandeur" in r.stderr
    r = d400("order", "refuse-release", n, "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["hold"] == "BLOCKED"
    r = d400("order", "refuse-release", n)
    assert r.returncode == 2 and "aucune demande de libération" in r.stderr
    for bad in (["order", "approve-release", "x"], ["order", "approve-release", "99999999"]):
        r = d400(*bad)
        assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
