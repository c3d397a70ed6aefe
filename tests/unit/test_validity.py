"""The validity model: the shipped table gives the windows of issue 12 (a test per row), the most
specific row wins, overrides per acquirer beat the table, and bad rows or settings are refused."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest

from d400tui.config import Settings
from d400tui.data import data_path
from d400tui.domain import validity as v
from d400tui.engine import validity as ev

D = timedelta(days=1)
H = timedelta(hours=1)

with open(data_path("validity.csv"), newline="", encoding="utf-8") as _f:
    ROWS = list(csv.DictReader(_f))

# What each row of data/validity.csv must say, asked as the engine asks it: (acquirer, brand,
# initiator, type) → window. One entry per row, in the table's order; a row added without its
# expectation here fails `test_every_row_has_its_test`.
EXPECTED = [
    (("http", "DISCOVER", "CIT", "FINAL"), 7 * D),  # * * * *: the safe default
    (("simulator", "CB", "CIT", "FINAL"), 7 * D),  # CB network, CB
    (("iso8583", "VISA", "CIT", "FINAL"), 7 * D),  # CB network, Visa (Visa's own 10 days not used)
    (("http", "MASTERCARD", "CIT", "FINAL"), 7 * D),  # CB network, Mastercard
    (("simulator", "MAESTRO", "CIT", "FINAL"), 30 * D),  # CB network, Maestro
    (("simulator", "VISA", "MIT", "FINAL"), 5 * D),  # Visa merchant-initiated (pre-check)
    (("iso8583", "MASTERCARD", "MIT", "FINAL"), 7 * D),  # Mastercard final, merchant-initiated
    (("simulator", "MASTERCARD", "CIT", "PRE"), 30 * D),  # Mastercard pre-authorization
    (("http", "AMEX", "MIT", "FINAL"), 7 * D),  # American Express
    (("stripe", "MAESTRO", "CIT", "FINAL"), 7 * D),  # Stripe applies 7 days to a CIT
    (("stripe", "VISA", "MIT", "FINAL"), 4 * D + 18 * H),  # Stripe Visa MIT: 4 days 18 hours
    (("stripe", "MASTERCARD", "MIT", "FINAL"), 7 * D),  # Stripe other MIT
    (("stripe", "MASTERCARD", "CIT", "PRE"), 7 * D),  # Stripe: no extended authorization requested
]


def shipped() -> v.ValidityModel:
    return v.ValidityModel(ev.shipped())


def test_every_row_has_its_test_and_a_source() -> None:
    assert len(EXPECTED) == len(ROWS) == len(ev.shipped())
    for row in ROWS:
        assert len(row["source"]) > 20, row  # where the figure comes from, in words


@pytest.mark.parametrize("n", range(len(EXPECTED)), ids=[f"row{n + 2}" for n in range(len(EXPECTED))])
def test_each_row_is_the_rule_of_its_case(n: int) -> None:
    asked, window = EXPECTED[n]
    model = shipped()
    found = model.rule_for(*asked)
    assert found == ev.shipped()[n], (asked, found)  # that row decides, not a broader one
    assert model.window(*asked) == window
    assert found.window == v.parse_window(ROWS[n]["window"])


def test_the_windows_of_the_issue() -> None:
    model = shipped()
    for brand in ("CB", "VISA", "MASTERCARD"):
        assert model.window("simulator", brand) == 7 * D  # CIT final on the CB network
    assert model.window("simulator", "MAESTRO") == 30 * D
    assert model.window("stripe", "VISA", v.Initiator.CIT) == 7 * D  # Visa allows 10, Stripe applies 7
    assert model.window("simulator", "VISA", v.Initiator.MIT) == 5 * D
    assert model.window("stripe", "VISA", v.Initiator.MIT) == timedelta(days=4, hours=18)
    assert model.window("http", "MASTERCARD", auth_type=v.AuthType.PRE) == 30 * D
    assert model.window("http", "MASTERCARD", auth_type=v.AuthType.FINAL) == 7 * D


def test_nothing_known_is_the_safe_default() -> None:
    assert v.ValidityModel(()).window("any", "JCB") == v.SAFE_DEFAULT == 7 * D


def test_an_override_beats_the_table_and_stays_on_its_acquirer() -> None:
    settings = Settings(_env_file=None, validity_windows={"http": {"VISA:CIT:FINAL": "10d"}})  # type: ignore[call-arg]
    model = ev.model(settings)
    assert model.window("http", "VISA") == 10 * D
    assert model.window("http", "VISA", v.Initiator.MIT) == 5 * D  # not overridden
    assert model.window("iso8583", "VISA") == 7 * D  # another acquirer keeps the table
    assert model.rule_for("http", "VISA", "CIT", "FINAL").source == "settings: validity_windows"  # type: ignore[union-attr]


def test_a_broad_override_of_one_acquirer_beats_the_table_s_brand_rows() -> None:
    model = ev.model(Settings(_env_file=None, validity_windows={"iso8583": {"*:*:*": "3d"}}))  # type: ignore[call-arg]
    assert model.window("iso8583", "MAESTRO") == 3 * D  # an acquirer's own figure comes first
    assert model.window("simulator", "MAESTRO") == 30 * D


def test_an_override_for_every_acquirer_beats_a_shipped_row_of_the_same_shape() -> None:
    model = ev.model(Settings(_env_file=None, validity_windows={"*": {"VISA:MIT:FINAL": "4d"}}))  # type: ignore[call-arg]
    assert model.window("simulator", "VISA", v.Initiator.MIT) == 4 * D
    assert model.window("stripe", "VISA", v.Initiator.MIT) == timedelta(days=4, hours=18)  # stripe's own row


@pytest.mark.parametrize(
    ("windows", "said"),
    [
        ({"http": {"VISA:CIT": "7d"}}, "BRAND:INITIATOR:TYPE"),
        ({"http": {"VISA:XIT:FINAL": "7d"}}, "initiator"),
        ({"http": {"VISA:CIT:LATE": "7d"}}, "type"),
        ({"http": {"VISA:CIT:FINAL": "seven"}}, "days, hours"),
        ({"http": {"VISA:CIT:FINAL": "90d"}}, "between 1h and 31d"),
        ({"http": {"VISA:CIT:FINAL": "0h"}}, "between 1h and 31d"),
    ],
)
def test_a_bad_override_is_refused_in_one_line(windows: dict[str, dict[str, str]], said: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=said):
        Settings(_env_file=None, validity_windows=windows)  # type: ignore[call-arg]


def test_a_bad_table_row_names_its_line() -> None:
    rows = [dict(acquirer="*", brand="VISA", initiator="CIT", type="FINAL", window="7d", source="x")] * 2
    rows = [*rows, dict(acquirer="*", brand="VISA", initiator="CIT", type="FINAL", window="8w", source="x")]
    with pytest.raises(v.ValidityError, match="line 4"):
        v.table(rows)


@pytest.mark.parametrize(
    ("text", "window"), [("7d", 7 * D), ("4d18h", 4 * D + 18 * H), ("36h", 36 * H), ("5m", timedelta(minutes=5))]
)
def test_durations(text: str, window: timedelta) -> None:
    assert v.parse_duration(text) == window
    assert window < H or v.parse_duration(v.format_window(window)) == window


def test_bad_backoff_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="void_retry_after"):
        Settings(_env_file=None, void_retry_after=["5m", "soon"])  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Settings(_env_file=None, void_retry_after=[])  # type: ignore[call-arg]
