"""Refusals an operator can act on, at the keyboard (issue 13.1, 13.4): the decision panel's advice
line and F1, R refused in place on a never-retry code, the service-unavailable heading from the
code's retry class, L on a stolen card sent to the supervisors, and the queue's four-eyes approval."""

from __future__ import annotations

import pytest

from d400tui.domain import model as m
from tests.support.tui import message, screen_text, type_text, wait_for

from .test_blocked import open_queue, shown_ids
from .test_flows import SIZE, enter_order, open_entry, screen_name, wait_decision, wait_idle
from .test_snapshots_entry import SIZES, entry, snap
from .test_supervision import orders
from .test_typeahead import order_keys

OPER = m.Actor("OPER1")
SUPER = m.Actor("SUPER1", True)
STOLEN, LOST, FUNDS, ISSUER_DOWN = "4970100000000048", "4970100000000030", "4970100000000055", "4970100000000071"


async def decision_panel_for(pilot, pan: str) -> str:
    await open_entry(pilot)
    await enter_order(pilot, pan)
    await wait_decision(pilot)
    return screen_text(pilot.app)


def choice_in_error(pilot) -> bool:
    return pilot.app.screen.query_one("#choice").has_class("error")


async def test_r_on_a_stolen_card_is_refused_in_place_then_l_asks_a_supervisor(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel = await decision_panel_for(pilot, STOLEN)
        assert "» Carte déclarée volée : ne pas représenter ; proposer un autre paiement" in panel
        assert "L=Demander la libération à un superviseur" in panel
        await pilot.press("f1")
        await pilot.pause()
        assert message(pilot).startswith("Carte déclarée volée : ne pas représenter")
        await type_text(pilot, "R")
        await pilot.press("enter")
        await wait_idle(pilot)
        assert screen_name(pilot) == "DecisionScreen"  # the operator chooses again
        assert message(pilot) == "R refusé : le code 43 interdit de représenter cette carte (B, L ou M)"
        assert choice_in_error(pilot)
        await type_text(pilot, "L")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "OrderEntryScreen")
        await wait_idle(pilot)
        assert "reste bloquée : libération soumise à un superviseur" in message(pilot)
    (row,) = engine.list_orders()
    order = engine.get_order(row.id)
    assert order.hold is m.PaymentHold.BLOCKED and len(order.authorizations) == 1
    assert engine.release_request(SUPER, row.id).asked_by == "OPER1"


async def test_a_retry_later_code_keeps_r_and_a_service_failure_reads_as_unavailable(make_app, engine):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        panel = await decision_panel_for(pilot, ISSUER_DOWN)
        assert "Service indisponible — commande" in panel and "Autorisation refusée" not in panel
        assert "» Émetteur injoignable : relancer plus tard (R)" in panel
        assert "L=Libérer" in panel and "superviseur" not in panel  # one key: not a lost or stolen card
        await type_text(pilot, "R")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_name(pilot) == "DecisionScreen" and app.screen.is_mounted)
        await wait_idle(pilot)
        assert not choice_in_error(pilot)
    (row,) = engine.list_orders()
    assert len(engine.get_order(row.id).authorizations) == 2  # R went to the acquirer


async def test_past_the_re_attempt_limit_r_is_refused_on_screen(make_app, engine):
    (first,) = await orders(engine, FUNDS)
    for _ in range(14):  # with the order below: 16 declines of this card today
        await engine.decide(OPER, first, m.DecisionKind.RETRY)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await decision_panel_for(pilot, FUNDS)
        await type_text(pilot, "R")
        await pilot.press("enter")
        await wait_idle(pilot)
        assert screen_name(pilot) == "DecisionScreen" and choice_in_error(pilot)
        assert message(pilot) == "R refusé : 16 refus de cette carte en 30 jours, le réseau en admet 15"


async def _asked(engine, asker: m.Actor = OPER) -> list[int]:
    ids = await orders(engine, STOLEN, FUNDS, LOST)
    await engine.decide(asker, ids[0], m.DecisionKind.RELEASE)  # a request: stays blocked
    await engine.decide(OPER, ids[1], m.DecisionKind.BLOCK)
    await engine.decide(asker, ids[2], m.DecisionKind.RELEASE)
    return ids


async def test_the_queue_approves_and_refuses_requests_with_both_names(make_app, engine):
    ids = await _asked(engine)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        assert shown_ids(screen) == ids[:2]
        text = str(screen.query_one("#sfl-text").render())
        assert "OPER1    02/06 10:30 L?" in text
        assert message(pilot).startswith("L? = libération demandée")
        await type_text(pilot, "L")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.busy)
        await pilot.pause()
        assert message(pilot) == f"Commande {ids[0]} libérée (demandée par OPER1)"
        assert shown_ids(screen) == ids[1:]
        await pilot.press("tab")  # to the second row: the 41 request
        await type_text(pilot, "B")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.busy)
        await pilot.pause()
        assert message(pilot) == f"Commande {ids[2]} laissée bloquée : demande de OPER1 refusée"
    assert engine.get_order(ids[0]).hold is m.PaymentHold.RELEASED
    assert engine.get_order(ids[2]).hold is m.PaymentHold.BLOCKED
    actions = {(r["action"], r["order_id"], r["actor"]) for r in engine.audit_trail(SUPER, limit=100)}
    assert {("RELEASE_APPROVED", ids[0], "SUPER1"), ("RELEASE_REFUSED", ids[2], "SUPER1")} <= actions


async def test_the_supervisor_who_asked_cannot_approve_in_the_queue(make_app, engine):
    ids = await _asked(engine, SUPER)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_queue(pilot)
        await type_text(pilot, "L")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.busy)
        await pilot.pause()
        assert message(pilot) == f"Commande {ids[0]} : un autre superviseur que le demandeur doit la libérer"
        assert shown_ids(screen)[0] == ids[0]
    assert engine.get_order(ids[0]).hold is m.PaymentHold.BLOCKED


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_blocked_with_requests(snap_compare, make_app, engine, size):
    async def run_before(pilot):
        await _asked(engine)
        await open_queue(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_decision_service_unavailable(snap_compare, make_app, size):
    async def run_before(pilot):
        await entry(pilot, *order_keys(qty="1", pan=ISSUER_DOWN))

    assert snap(snap_compare, make_app, size, run_before)
