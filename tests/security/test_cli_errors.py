"""The CLI half of issue 9, point 10: every failure is one clear line — no exception class name,
no traceback, no pydantic dump, no raw argv echoed (card numbers masked, terminal escapes and
control characters removed, long values cut) — and unexpected failures go to the log file.

Each case failed on the code before this change: `unexpected error: OverflowError` for a 20-digit
order number, a five-line pydantic dump for D400_LANG=xx, `'4970100000000014' is not one of …` in
a usage panel, the escape sequences of `--line` printed raw, `unexpected error: AttributeError: …`
and `database error (IntegrityError)`."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.test_cli import d400
from tests.resilience.test_fuzz import _cli_in_process

PAN = "4970100000000014"
CLASS_NAME = re.compile(r"\b\w*(Error|Exception)\b|Traceback|pydantic|validation error")


def sqlite_only(settings) -> None:  # type: ignore[no-untyped-def]
    if not settings.database_url.startswith("sqlite"):
        pytest.skip("the database is not involved: the same code runs on PostgreSQL")


def one_line(r, *needles: str) -> str:  # type: ignore[no-untyped-def]
    assert r.returncode == 2, (r.args, r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("d400: "), r.stderr
    line = lines[0]
    assert not CLASS_NAME.search(line), line
    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", line), repr(line)
    for n in needles:
        assert n in line, line
    return line


@pytest.mark.parametrize(
    "args",
    [
        ["order", "show", "99999999999999999999"],
        ["order", "cancel", "-5", "--reason", "x"],
        ["order", "list", "--customer", "99999999999999999999"],
        [
            "order",
            "new",
            "--customer",
            "99999999999999999999",
            "--line",
            "BON0001:1",
            "--method",
            "cheque",
            "--channel",
            "MAIL",
        ],
        ["order", "list", "--after", "3000000000"],
    ],
)
def test_numbers_out_of_range_are_refused_at_the_edge(settings, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    one_line(d400(settings, *args), "(see --help)")


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("D400_LANG", "xx", "'fr' or 'en'"),
        ("D400_ACQUIRER_TIMEOUT", "soon", "number"),
        ("D400_ACQUIRER_PORT", "s3cr3t-value", "integer"),
        ("D400_ACQUIRER_BRANDS", "not json", "list"),
        ("D400_BREAKER_FAILURES", "-3", "greater than or equal to 1"),
    ],
)
def test_a_bad_setting_names_the_variable(settings, monkeypatch, variable: str, value: str, named: str) -> None:  # type: ignore[no-untyped-def]
    sqlite_only(settings)
    monkeypatch.setenv(variable, value)
    line = one_line(d400(settings, "order", "list"), variable, named)
    assert value not in line  # a setting's value may be a secret: never echoed


@pytest.mark.parametrize(
    ("args", "hidden"),
    [
        (["order", "list", "--status", PAN], [PAN]),
        (
            ["order", "new", "--customer", "100001", "--line", f"{PAN}:1", "--method", "cheque", "--channel", "MAIL"],
            [PAN],
        ),
        (
            [
                "order",
                "new",
                "--customer",
                "100001",
                "--line",
                "4970 1000 0000 0014:1",
                "--method",
                "cheque",
                "--channel",
                "MAIL",
            ],
            ["4970 1000 0000 0014"],
        ),
        (
            [
                "order",
                "new",
                "--customer",
                "100001",
                "--line",
                "\x1b[2J\x1b]0;pwned\x07BON0001\x1b[31m:1x",
                "--method",
                "cheque",
                "--channel",
                "MAIL",
            ],
            ["pwned", "[2J"],
        ),
        (["precheck", "--date", "4970-1000-0000-0014"], ["4970-1000-0000-0014"]),
        (["order", "show", "1", f"--x{PAN}"], [PAN]),
        (["order", "list", "--status", "z" * 20_000], ["z" * 400]),
    ],
)
def test_argv_is_never_echoed_raw(settings, args: list[str], hidden: list[str]) -> None:  # type: ignore[no-untyped-def]
    sqlite_only(settings)
    line = one_line(d400(settings, *args))
    assert len(line) <= 310, len(line)
    for h in hidden:
        assert h not in line, line


@pytest.mark.parametrize("kind", ["unexpected", "database"])
def test_an_unexpected_failure_is_one_line_and_logged(settings, monkeypatch, kind: str) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import IntegrityError

    from d400tui.engine import Engine

    def broken(self, *a, **k):  # type: ignore[no-untyped-def]
        if kind == "database":
            raise IntegrityError(f"INSERT … {PAN}", {}, Exception(f"duplicate {PAN}"))
        return None.rows  # type: ignore[attr-defined]  # an AttributeError, as a real bug would give

    monkeypatch.setattr(Engine, "list_orders", broken)
    monkeypatch.setenv("D400_OPERATOR", "OPER1")
    monkeypatch.setenv("D400_PASSWORD", "oper1-demo")
    code, err = _cli_in_process(["order", "list"], "")
    assert code in (1, 2), (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("d400: "), err
    assert not CLASS_NAME.search(lines[0]) and PAN not in lines[0], lines[0]
    assert "d400.log" in lines[0]
    logged = [json.loads(x) for x in settings.log_file.read_text(encoding="utf-8").splitlines()]
    failure = logged[-1]
    assert failure["level"] == "ERROR"
    assert ("IntegrityError" if kind == "database" else "AttributeError") in failure["exception"]
    assert PAN not in settings.log_file.read_text(encoding="utf-8")


def test_help_and_usage(settings) -> None:  # type: ignore[no-untyped-def]
    sqlite_only(settings)
    r = d400(settings, "order", "show", "--help")
    assert r.returncode == 0 and "Usage" in r.stdout
    one_line(d400(settings, "order", "show"), "Missing argument")
    one_line(d400(settings, "no-such-command"), "No such command")
