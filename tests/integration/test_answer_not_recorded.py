"""The call went and its answer cannot be written (the database busy past its wait): the operator
is told the order exists and the authorization was sent — never only "database locked", after
which an order typed again is a second hold — and the reconciler completes the order."""

from __future__ import annotations

import sqlite3

import pytest

from d400tui.domain import model as m
from d400tui.engine.errors import EngineError
from d400tui.i18n.render import tx
from d400tui.store import sqlite_wait
from tests.support.demo import OPER, SUPER, card


async def test_an_answer_not_recorded_says_the_order_and_is_reconciled(engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    if engine.db.dialect != "sqlite":
        pytest.skip("the write lock held past the wait is SQLite's")
    monkeypatch.setattr(sqlite_wait, "WAIT_S", 0.05)
    path = engine.db.engine.url.database
    holder = sqlite3.connect(path, isolation_level=None)
    authorize = engine.acquirer.authorize

    async def answer_then_lock(*args, **kw):  # type: ignore[no-untyped-def]
        resp = await authorize(*args, **kw)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the database while the answer comes
        return resp

    monkeypatch.setattr(engine.acquirer, "authorize", answer_then_lock)
    before = len(engine.acquirer.issuer.holds())
    with pytest.raises(EngineError) as err:
        await engine.place_order(OPER, 100001, [("BON0001", 1)], card("4970100000000014"))
    holder.execute("ROLLBACK")
    holder.close()
    text = tx(err.value)
    order_id = int(err.value.params["order"])
    assert err.value.key == "engine.answer_not_recorded" and f"commande {order_id} enregistrée" in text, text
    assert "autorisation envoyée" in text and "ne pas ressaisir" in text, text
    monkeypatch.setattr(engine.acquirer, "authorize", authorize)
    assert len(engine.acquirer.issuer.holds()) == before + 1  # sent once
    await engine.reconcile(SUPER, grace_s=0)
    order = engine.get_order(order_id)
    assert [a.state for a in order.authorizations] == [m.AuthState.APPROVED]
    assert len(engine.acquirer.issuer.holds()) == before + 1  # and never again
