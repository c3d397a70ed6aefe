"""`d400 order ship` as an operator runs it (signed on): a parcel recorded and what it will capture,
the last one closing the shipping; bad input and refusals in one line, never a traceback."""

from __future__ import annotations

import json

from tests.support import cli


def d400(*args: str, stdin: str = "", operator: str = "OPER1"):  # type: ignore[no-untyped-def]
    return cli.run(list(args), stdin, cli.signed_on(operator))


def _order() -> int:
    args = ["order", "new", "--customer", "100001", "--expiry", "12/30", "--json"]
    for line in ("BON0001:2", "GRI0002:1", "RID0003:1"):
        args += ["--line", line]
    r = d400(*args, stdin="4970100000000014\n")
    assert r.returncode == 0, r.stderr
    return int(json.loads(r.stdout)["order"])


def test_ship_two_parcels_from_the_command_line(settings) -> None:  # type: ignore[no-untyped-def]
    oid = _order()
    r = d400("order", "ship", str(oid), "--line", "BON0001:2", "--line", "gri0002:1", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["amount"] == "203.92" and data["final"] is False and data["to_capture"] == {"1": "203.92"}
    r = d400("order", "ship", str(oid), "--line", "RID0003:1")
    assert r.returncode == 0, r.stderr
    assert f"commande {oid} : dernière expédition" in r.stdout and "299.91 EUR à capturer" in r.stdout
    again = d400("order", "ship", str(oid), "--line", "RID0003:1")
    assert again.returncode == 2 and "dernière expédition déjà faite" in again.stderr


def test_ship_refusals_are_one_clear_line(settings) -> None:  # type: ignore[no-untyped-def]
    oid = _order()
    cases = [
        (["--line", "BON0001:3"], "BON0001 : 3 demandé(s), 2 commandé(s) dont 0 déjà expédié(s)"),
        (["--line", "NOPE:1"], "l'article NOPE n'est pas sur la commande"),
        (["--line", "BON0001:x"], "quantity of 'BON0001'"),
        (["--line", "BON0001"], "--line ARTICLE:QTY expected"),
        ([], "say what ships"),
    ]
    for extra, words in cases:
        r = d400("order", "ship", str(oid), *extra)
        assert r.returncode == 2, (extra, r.stdout, r.stderr)
        assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1, (extra, r.stderr)
        assert "Traceback" not in r.stderr and "Error" not in r.stderr
    pan = "4970100000000014"
    r = d400("order", "ship", str(oid), "--line", f"{pan}:1", "--line", f"BON0001{pan}:1")
    assert r.returncode == 2 and pan not in r.stdout + r.stderr
    unknown = d400("order", "ship", "999999", "--line", "BON0001:1")
    assert unknown.returncode == 2 and "999999" in unknown.stderr


def test_ship_needs_a_sign_on(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    oid = _order()
    r = cli.run(
        ["order", "ship", str(oid), "--line", "BON0001:1"], "", {"D400_OPERATOR": "OPER1", "D400_PASSWORD": "x"}
    )
    assert r.returncode == 2 and "BON0001" not in r.stdout
