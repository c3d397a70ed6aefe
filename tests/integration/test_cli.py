"""The `d400` command as a user runs it, settings from D400_* variables: in the test process (its
output and exit code), and once as a real `python -m d400tui` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import cli
from tests.support.demo import TEST_CARDS


def d400(settings, *args: str, stdin: str = "", operator: str = "SUPER1") -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """`d400 ARGS` signed on as `operator`, in this process (the command's output and exit code)."""
    return cli.run(list(args), stdin, cli.signed_on(operator))


def d400_process(settings, *args: str, stdin: str = "", operator: str = "SUPER1") -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """`d400 ARGS` as a real `python -m d400tui` process, settings from the D400_* variables."""
    env = dict(os.environ, **cli.signed_on(operator))
    return subprocess.run(
        [sys.executable, "-m", "d400tui", *args], input=stdin, text=True, capture_output=True, env=env, timeout=60
    )


@pytest.mark.parametrize("pan", sorted(TEST_CARDS))
def test_order_new_gives_each_test_card_its_code(settings, pan: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    expiry, code, category = TEST_CARDS[pan]
    if pan.endswith("0105"):
        monkeypatch.setenv("D400_ACQUIRER_TIMEOUT", "3")
    r = d400(
        settings,
        "order",
        "new",
        "--customer",
        "100001",
        "--line",
        "BON0001:1",
        "--expiry",
        expiry,
        "--json",
        stdin=pan + "\n",
        operator="OPER1",
    )
    assert pan not in r.stdout + r.stderr
    if category == "NOT_ACCEPTED":
        assert r.returncode == 2 and "non acceptée par le prestataire" in r.stderr
        return
    data = json.loads(r.stdout)
    answer = data["answers"][0]
    assert (answer["code"], answer["category"]) == (code, category)
    assert r.returncode == (0 if category == "APPROVED" else 3)
    assert data["hold"] == "NONE"


def test_bad_input_is_one_clear_line(settings) -> None:  # type: ignore[no-untyped-def]
    cases = [
        (
            ["order", "new", "--customer", "100001", "--line", "BON0001:abc", "--expiry", "12/30"],
            "4970100000000014",
            "quantity",
        ),
        (
            ["order", "new", "--customer", "100001", "--line", "NOPE:1", "--expiry", "12/30"],
            "4970100000000014",
            "article NOPE inconnu",
        ),
        (
            ["order", "new", "--customer", "100001", "--line", "BON0001:1", "--expiry", "01/20"],
            "4970100000000014",
            "expirée",
        ),
        (
            ["order", "new", "--customer", "100001", "--line", "BON0001:1", "--expiry", "12/30"],
            "4970100000000015",
            "clé de contrôle",
        ),
        (
            ["order", "new", "--customer", "100001", "--line", "BON0001:1", "--expiry", "12/30"],
            "x" * 10_000_000,
            "trop long",
        ),
        (
            ["order", "new", "--customer", "100001", "--line", "BON0001:1", "--expiry", "12/30", "--plan", "weekly"],
            "4970100000000014",
            "plan",
        ),
        (["order", "show", "999999"], "", "commande 999999 inconnue"),
        (["precheck", "--date", "demain"], "", "YYYY-MM-DD"),
    ]
    for args, stdin, message in cases:
        r = d400(settings, *args, stdin=stdin)
        assert r.returncode != 0, (args, r.stdout)
        assert message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert d400(settings, "order", "list", "--json").stdout.strip() == "[]"  # nothing was saved


def test_operator_cannot_run_supervisor_commands(settings) -> None:  # type: ignore[no-untyped-def]
    """A real process: the entry point, its exit codes and its stderr, not only `main`."""
    r = d400_process(settings, "precheck", operator="OPER1")
    assert r.returncode == 2 and "superviseurs" in r.stderr
    r = d400_process(settings, "capture", operator="NOBODY")
    assert r.returncode == 2 and "incorrect" in r.stderr


def test_engine_errors_and_outcomes_in_english(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The engine writes French; under D400_LANG=en the CLI prints its errors and outcomes in English."""
    monkeypatch.setenv("D400_LANG", "en")
    cases = [
        (["order", "show", "999999"], "", "OPER1", "d400: order 999999 unknown"),
        (["precheck"], "", "OPER1", "d400: invoicing pre-check: supervisors only"),
        (["capture"], "", "NOBODY", "d400: incorrect operator or password"),
        (
            ["order", "new", "--customer", "100001", "--line", "BON0001:1", "--expiry", "12/30"],
            "4970100000000015",
            "OPER1",
            "d400: card number not valid (check digit)",
        ),
        (
            ["order", "new", "--customer", "100001", "--line", "NOPE:1", "--expiry", "12/30"],
            "4970100000000014",
            "OPER1",
            "d400: article NOPE unknown",
        ),
        (
            [
                "order",
                "new",
                "--customer",
                "100001",
                "--line",
                "BON0001:1",
                "--expiry",
                "12/30",
                "--plan",
                "instalments:20",
            ],
            "4970100000000014",
            "OPER1",
            "d400: payment in N instalments: N between 2 and 12",
        ),
    ]
    for args, stdin, operator, line in cases:
        r = d400(settings, *args, stdin=stdin, operator=operator)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.strip().splitlines()[-1] == line, (args, r.stderr)  # after a progress bar, if any
    r = d400(
        settings,
        "order",
        "new",
        "--customer",
        "100001",
        "--line",
        "BON0001:1",
        "--channel",
        "MAIL",
        "--method",
        "cheque",
        operator="OPER1",
    )
    assert r.returncode == 0, r.stderr
    assert "channel MAIL: no real-time authorization" in r.stdout and "canal" not in r.stdout
    r = d400(
        settings,
        "order",
        "new",
        "--customer",
        "100001",
        "--line",
        "BON0001:1",
        "--expiry",
        "12/30",
        stdin="4970100000000048\n",
        operator="OPER1",
    )
    assert r.returncode == 3, r.stderr
    assert "Card blocked (lost, stolen) — code 43 Stolen card" in r.stdout
    oid = int(r.stdout.split()[1])
    r = d400(settings, "order", "delete", str(oid), operator="OPER1")
    assert r.returncode == 0, r.stderr
    r = d400(settings, "order", "cancel", str(oid), "--reason", "client parti", operator="OPER1")
    assert (r.returncode, r.stderr.strip()) == (2, f"d400: order {oid} unknown")


def test_full_cli_cycle(settings) -> None:  # type: ignore[no-untyped-def]
    r = d400(
        settings,
        "order",
        "new",
        "--customer",
        "100001",
        "--line",
        "BON0001:1",
        "--line",
        "GRI0002:2",
        "--expiry",
        "12/30",
        "--plan",
        "instalments:3",
        stdin="4970100000000014\n123\n",
        operator="OPER1",
    )
    assert r.returncode == 0, r.stderr
    assert "APPROVED" in r.stdout and "verify" in r.stdout
    listed = json.loads(d400(settings, "order", "list", "--json").stdout)
    assert len(listed) == 1 and listed[0]["card"] == "497010…0014"
    n = str(listed[0]["id"])
    shown = d400(settings, "order", "show", n, "--json").stdout
    assert "card_token" not in shown and "4970100000000014" not in shown
    r = d400(settings, "order", "cancel-deferred", n, "--instalment", "3", "--drop")
    assert r.returncode == 0, r.stderr
    r = d400(settings, "capture", "--json")
    assert json.loads(r.stdout)["run"]["approved"] == 1
    r = d400(settings, "customer", "list", "--search", "paris", "--json")
    assert all(c["city"] == "PARIS" or "PARIS" in c["name"] for c in json.loads(r.stdout))
    assert "BON0001" in d400(settings, "article", "list", "--search", "bonnet").stdout
    assert "ORDER_CREATE" in d400(settings, "audit").stdout
    assert d400(settings, "reconcile").stdout.strip() == "nothing to reconcile"


def test_timeout_card_then_reconcile(settings, issuer) -> None:  # type: ignore[no-untyped-def]
    r = d400(
        settings,
        "order",
        "new",
        "--customer",
        "100001",
        "--line",
        "BON0001:1",
        "--expiry",
        "12/30",
        stdin="4970100000000089\n",
        operator="OPER1",
    )
    assert r.returncode == 3 and "UNKNOWN" in r.stdout
    r = d400(settings, "reconcile")
    assert r.returncode == 0 and "APPROVED" in r.stdout, r.stdout + r.stderr
    assert len(issuer.holds()) == 1


def test_no_card_number_in_the_database_file_after_a_demo_run(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("reads the SQLite file's bytes")
    assert d400(settings, "db", "demo", "--orders", "300").returncode == 0
    for pan, (expiry, _, _) in TEST_CARDS.items():
        d400(
            settings,
            "order",
            "new",
            "--customer",
            "100002",
            "--line",
            "BON0001:1",
            "--expiry",
            expiry,
            stdin=f"{pan}\n999\n",
            operator="OPER1",
        )
    for args in (["precheck"], ["capture"], ["reconcile"], ["order", "cancel", "301", "--reason", "test"]):
        d400(settings, *args)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "d400.db" for p in files)
    for p in files:
        blob = p.read_bytes()
        for pan in TEST_CARDS:
            assert pan.encode() not in blob, f"{pan[:6]}… found in {p.name}"
