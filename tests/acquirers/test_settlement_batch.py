"""ISO 8583 batch total (0500/0510) over the real TCP transport, on SQLite and PostgreSQL: the
engine's captures not yet settled against the host's open batch — in balance closes both sides,
out of balance changes neither, an answer that never came is asked again under the same key."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from d400tui.acquirers.base import PaymentSource
from d400tui.acquirers.iso8583 import Iso8583Acquirer
from d400tui.config import Settings
from d400tui.engine import EngineError, PermissionDenied, open_engine
from d400tui.engine import settlement as settle
from d400tui.simulator.iso8583_server import Iso8583Host
from d400tui.simulator.issuer import Issuer
from tests.support.acquirers import LoopThread
from tests.support.demo import OPER, SUPER, card

A = ("BON0001", 1)


@pytest.fixture
def host(tmp_path) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    issuer = Issuer(tmp_path / "iso-issuer.db")
    iso = Iso8583Host(issuer)
    loop = LoopThread()
    port = loop.run(iso.start("127.0.0.1", 0))
    yield {"issuer": issuer, "host": iso, "loop": loop, "port": port}
    loop.run(iso.stop())
    loop.stop()
    issuer.close()


@pytest.fixture
def iso_engine(settings: Settings, host: dict[str, Any], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("D400_ACQUIRER", "iso8583")
    monkeypatch.setenv("D400_ACQUIRER_PORT", str(host["port"]))
    monkeypatch.setenv("D400_ACQUIRER_TIMEOUT", "3")
    e = open_engine(Settings())
    yield e
    e.db.dispose()


async def _captured(engine, n: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        r = await engine.place_order(OPER, 100001, [A], card("4970100000000014"))
        assert r.order.authorizations[-1].state.value == "APPROVED"
    run = await engine.capture(SUPER, engine.today())
    assert run.approved == n


async def test_batch_total_in_balance_then_out_of_balance(iso_engine, host) -> None:  # type: ignore[no-untyped-def]
    sent: list[dict[str, Any]] = []
    iso_engine.acquirer.inner.trace = lambda way, doc: sent.append(doc) if doc["t"] in ("0500", "0510") else None
    await _captured(iso_engine, 3)
    amount = host["issuer"].open_batch()[1]

    first = await settle.batch_total(iso_engine, SUPER)
    assert first.run.in_balance is True
    assert (first.run.our_count, first.run.host_count) == (3, 3)
    assert first.run.our_amount == first.run.host_amount == Decimal(amount) / 100
    assert host["issuer"].open_batch() == (0, 0)  # the host closed its batch
    out, back = sent
    assert out["t"] == "0500" and out["76"] == "0000000003" and out["88"] == f"{amount:016d}"
    assert out["97"] == f"D{amount:016d}" and back["t"] == "0510" and back["66"] == "1" and back["39"] == "00"

    # one capture of ours, and one the host made for another system: out of balance, nothing closed
    await _captured(iso_engine, 1)
    other = Iso8583Acquirer("127.0.0.1", host["port"], timeout_s=3)
    try:
        auth = await other.authorize(PaymentSource(card=card("5130100000000018")), Decimal("10.00"), "other-auth")
        assert (await other.capture(auth.reference or "", Decimal("10.00"), "other-cap")).code == "00"
    finally:
        await other.close()
    second = await settle.batch_total(iso_engine, SUPER)
    assert second.run.in_balance is False
    assert (second.run.our_count, second.run.host_count) == (1, 2)
    assert second.run.host_amount == second.run.our_amount + Decimal("10.00")
    assert host["issuer"].open_batch()[0] == 2  # nothing closed on the host
    assert sent[-1]["66"] == "2" and sent[-1]["39"] == "95"
    # nor here: our capture is counted again by the next batch
    third = await settle.batch_total(iso_engine, SUPER)
    assert third.run.our_count == 1 and third.run.in_balance is False
    shown = settle.runs(iso_engine, SUPER)
    assert [r.in_balance for r in shown[:3]] == [False, False, True]


async def test_no_answer_is_asked_again_under_the_same_key(iso_engine, host) -> None:  # type: ignore[no-untyped-def]
    await _captured(iso_engine, 2)
    port = host["port"]
    host["loop"].run(host["host"].stop())
    lost = await settle.batch_total(iso_engine, SUPER)
    assert lost.run.in_balance is None and lost.run.our_count == 2
    # a capture made while the batch waits for its answer is not in it
    host["loop"].run(host["host"].start("127.0.0.1", port))
    await _captured(iso_engine, 1)
    again = await settle.batch_total(iso_engine, SUPER)
    assert again.run.id == lost.run.id and again.run.batch_key == lost.run.batch_key
    # the host saw 3 captures, the batch holds 2: out of balance, the batch released
    assert again.run.in_balance is False and (again.run.our_count, again.run.host_count) == (2, 3)
    final = await settle.batch_total(iso_engine, SUPER)
    assert final.run.in_balance is True and final.run.our_count == 3


async def test_batch_total_is_for_supervisors_and_iso_hosts(engine, iso_engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        await settle.batch_total(iso_engine, OPER)
    with pytest.raises(EngineError) as refused:
        await settle.batch_total(engine, SUPER)  # the in-process simulator takes no 0500
    assert refused.value.message.key == "engine.settle_batch_unsupported"


async def test_cli_batch_exit_status_says_in_out_or_no_answer(iso_engine, host) -> None:  # type: ignore[no-untyped-def]
    from tests.support import cli

    await _captured(iso_engine, 1)
    env = {"D400_LANG": "en", **cli.signed_on("SUPER1")}
    ok = cli.run(["settle", "batch"], env=env)
    assert ok.returncode == 0 and "in balance" in ok.stdout and "ours: 1 captures" in ok.stdout, ok
    other = Iso8583Acquirer("127.0.0.1", host["port"], timeout_s=3)
    try:
        auth = await other.authorize(PaymentSource(card=card("5130100000000018")), Decimal("5.00"), "cli-auth")
        await other.capture(auth.reference or "", Decimal("5.00"), "cli-cap")
    finally:
        await other.close()
    out = cli.run(["settle", "batch", "--json"], env=env)
    assert out.returncode == 3 and '"in_balance": false' in out.stdout, out
    host["loop"].run(host["host"].stop())
    lost = cli.run(["settle", "batch"], env=env)
    assert lost.returncode == 4 and "no answer yet" in lost.stdout and not lost.stderr, lost
