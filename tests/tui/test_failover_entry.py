"""The failover at entry (issue 13.5): the first acquirer refuses connections, the decision panel
offers S (the secondary acquirer), S sends the card there; the panel never offers S after a
refusal that is not a definite outage. Pilot, plus the panel's snapshot at 80×24."""

from __future__ import annotations

import pytest

from bench._servers import free_port
from d400tui.config import Settings
from d400tui.domain import model as m
from d400tui.engine.views import OrderFilter
from tests.support.tui import message

from .test_flows import SIZE, enter_order, open_entry, screen_name, wait_decision, wait_idle
from .test_snapshots_entry import entry, snap
from .test_typeahead import order_keys


@pytest.fixture
def settings(monkeypatch) -> Settings:
    monkeypatch.setenv("D400_ACQUIRER", "http")
    monkeypatch.setenv("D400_ACQUIRER_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("D400_SECONDARY_ACQUIRER", "simulator")
    return Settings()


@pytest.fixture
def engine(settings, sqlite_template):  # type: ignore[no-untyped-def]
    from pathlib import Path

    from d400tui.engine import open_engine
    from tests.support.tui import FIXED

    sqlite_template.copy_to(Path(settings.database_url.removeprefix("sqlite:///")))
    eng = open_engine(settings, clock=lambda: FIXED)
    yield eng
    eng.secondary.issuer.close()
    eng.db.dispose()


async def test_s_sends_the_authorization_to_the_secondary(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_entry(pilot)
        await enter_order(pilot, "4970100000000014")
        await wait_decision(pilot)
        assert "S=Envoyer au prestataire de secours simulator" in message(pilot)
        await pilot.press("S", "enter")
        await wait_idle(pilot)
        assert screen_name(pilot) == "OrderEntryScreen"
        assert "validée" in message(pilot)
    order = engine.get_order(engine.list_orders(OrderFilter())[0].id)
    assert [a.acquirer for a in order.authorizations] == ["http", "simulator"]
    assert order.authorizations[-1].state is m.AuthState.APPROVED
    assert order.decisions[-1].kind is m.DecisionKind.FAILOVER
    assert len(engine.secondary.issuer.live_holds()) == 1


def test_decision_snapshot_failover_offered(snap_compare, make_app):
    async def run_before(pilot):
        await entry(pilot, *order_keys(qty="1"))

    assert snap(snap_compare, make_app, (80, 24), run_before)
