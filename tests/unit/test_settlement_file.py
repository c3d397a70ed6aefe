"""The settlement file reader (domain/settlement.py) without a database: Stripe's names and its
older export's, the reference chosen, amounts and dates read exactly, hostile cells refused."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from d400tui.domain.cards import scrub
from d400tui.domain.settlement import SettlementFileError, parse_settlement
from d400tui.simulator.issuer import Issuer, hold_reference
from d400tui.simulator.settlement import fee_of

ITEMIZED = (
    "balance_transaction_id,created_utc,created,available_on_utc,currency,gross,fee,net,"
    "reporting_category,source_id,description,payment_intent_id\n"
    "txn_1MiN3gLkdIwHu7ix,2026-12-01 09:30:00,2026-12-01 10:30:00,2026-12-03,eur,59.99,1.15,58.84,"
    "charge,ch_3MiN3g,Order 201,pi_3MiN3gLk\n"
    "txn_1MiN3gLkdIwHu7iy,2026-12-01 09:31:00,2026-12-01 10:31:00,2026-12-03,eur,-10.00,0.00,-10.00,"
    "refund,re_3MiN3h,,\n"
)


def test_stripe_itemized_report_reads_exactly() -> None:
    f = parse_settlement(("\ufeff" + ITEMIZED).encode(), "balance.csv")  # Excel's byte-order mark too
    charge, refund = f.lines
    assert charge.key == "txn_1MiN3gLkdIwHu7ix" and charge.reference == "pi_3MiN3gLk"  # the PaymentIntent
    assert (charge.gross, charge.fee, charge.net, charge.currency) == (
        Decimal("59.99"),
        Decimal("1.15"),
        Decimal("58.84"),
        "EUR",
    )
    assert charge.created == datetime(2026, 12, 1, 9, 30) and charge.settles_capture
    assert refund.reference == "re_3MiN3h" and refund.gross == Decimal("-10.00") and not refund.settles_capture
    assert len(f.sha256) == 64


def test_older_dashboard_names_and_unix_times() -> None:
    body = "id,amount,fee,net,currency,created,reporting_category,source\n"
    body += "txn_9,10.00,0.40,9.60,EUR,1764581400,charge,S01\n"
    (line,) = parse_settlement(body.encode(), "x.csv").lines
    assert (line.key, line.gross, line.reference) == ("txn_9", Decimal("10.00"), "S01")
    assert line.created == datetime(2025, 12, 1, 9, 30)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b"\xff\xfe\x00", "engine.settle_not_text"),
        (b"id,amount\n", "engine.settle_columns"),
        (b"id,id,amount,fee,net,currency,created,reporting_category,source\n", "engine.settle_column_twice"),
        (ITEMIZED.replace("59.99", "59.999").encode(), "engine.settle_bad_amount"),
        (ITEMIZED.replace("59.99", "1e3").encode(), "engine.settle_bad_amount"),
        (ITEMIZED.replace("59.99", "99999999.00").encode(), "engine.settle_bad_amount"),
        (ITEMIZED.replace(",eur,59.99", ",@SUM,59.99").encode(), "engine.settle_formula"),
        (ITEMIZED.replace(",eur,59.99", ",euro,59.99").encode(), "engine.settle_bad_cell"),
        (ITEMIZED.replace("2026-12-01 09:30:00", "hier").encode(), "engine.settle_bad_date"),
        (ITEMIZED.replace("Order 201", "carte 5130 1000 0000 0018").encode(), "engine.settle_card_number"),
        (ITEMIZED.replace("Order 201", "Order\u202e201").encode(), "engine.settle_control"),
    ],
)
def test_hostile_cells_refuse_the_file(body: bytes, key: str) -> None:
    with pytest.raises(SettlementFileError) as refused:
        parse_settlement(body, "x.csv")
    assert refused.value.message.key == key
    assert "5130" not in str(refused.value.message.params)


def test_simulator_ids_never_read_as_card_numbers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert all(scrub(r) == r for r in (hold_reference() for _ in range(5000)))
    issuer = Issuer(tmp_path / "s.db")
    try:
        ids = {issuer.transaction_id(f"key-{i}") for i in range(2000)}
        assert len(ids) == 2000 and all(scrub(x) == x and not any(c.isdigit() for c in x) for x in ids)
        assert issuer.transaction_id("key-1") == issuer.transaction_id("key-1")
    finally:
        issuer.close()


def test_simulator_fee_is_the_price_list() -> None:
    assert fee_of(Decimal("100.00")) == Decimal("1.75") and fee_of(Decimal("71.99")) == Decimal("1.33")
    assert fee_of(Decimal("0.10")) == Decimal("0.10")  # never more than the capture


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_every_line_ending_numbers_the_lines_alike(newline: str) -> None:
    body = ITEMIZED.replace("\n", newline).replace("59.99", "5x.99")
    with pytest.raises(SettlementFileError) as refused:
        parse_settlement(body.encode(), "x.csv")
    assert refused.value.message.params == {"line": 2, "column": "gross"}
    long = ITEMIZED.replace("\n", newline) + "x" * 5000 + newline
    with pytest.raises(SettlementFileError) as too_long:
        parse_settlement(long.encode(), "x.csv")
    assert too_long.value.message.key == "engine.settle_line_too_long" and too_long.value.message.params["line"] == 4
