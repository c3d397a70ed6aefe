"""Messages stored as key and parameters (audit detail, reason and label columns) read back in the
reader's language; records written as French text before keep reading as stored; the audit hash
chain verifies both (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select

from d400tui.domain.message import Message
from d400tui.engine.audit_view import AuditFilter, page
from d400tui.i18n.render import render_detail, tx
from d400tui.store import tables as t
from tests.support.demo import SUPER


def test_audit_keeps_keys_and_reads_them_in_each_language_and_the_chain_holds(engine) -> None:  # type: ignore[no-untyped-def]
    reason = Message("engine.capture_state", state="VOIDED")
    with engine.db.uow() as uow:
        uow.audit(
            "SUPER1", "CAPTURE_REFUSED", None, authorization=7, reason="capture impossible : autorisation VOIDED"
        )  # as written before keys
        uow.audit("SUPER1", "CAPTURE_REFUSED", None, authorization=8, reason=reason)
        uow.commit()
    new, old = page(engine, SUPER, AuditFilter(action="CAPTURE_REFUSED"), limit=2)
    assert '"key": "engine.capture_state"' in new["detail"], "stored as key and parameters"
    assert "capture impossible" not in new["detail"]
    assert render_detail(new["detail"], "fr") == (
        '{"authorization": 8, "reason": "capture impossible : autorisation VOIDED"}'
    )
    assert (
        render_detail(new["detail"], "en")
        == '{"authorization": 8, "reason": "capture impossible: authorization VOIDED"}'
    )
    assert (
        render_detail(old["detail"], "en")
        == old["detail"]
        == ('{"authorization": 7, "reason": "capture impossible : autorisation VOIDED"}')
    )
    check = engine.verify_audit(SUPER)
    assert check.ok, check.reason


def test_a_reason_column_holds_a_message_or_text(engine) -> None:  # type: ignore[no-untyped-def]
    from d400tui.i18n import set_lang

    with engine.db.uow() as uow:
        run = uow.session.execute(
            insert(t.precheck_runs)
            .values(
                kind="PRECHECK",
                run_date=engine.today(),
                started_at=datetime.now(),
                operator="SUPER1",
                concurrency=1,
                selected=0,
                approved=0,
                refused=0,
                unavailable=0,
                skipped=0,
            )
            .returning(t.precheck_runs.c.id)
        ).scalar_one()
        for reason in (Message("engine.skip_expired"), "motif de l'opérateur"):
            uow.session.execute(
                insert(t.run_results).values(
                    run_id=run,
                    order_id=0,
                    instalment_seq=1,
                    outcome="SKIPPED",
                    amount=0,
                    code="",
                    category="",
                    reason=reason,
                )
            )
        uow.commit()
        got = list(
            uow.session.scalars(
                select(t.run_results.c.reason).where(t.run_results.c.run_id == run).order_by(t.run_results.c.id)
            )
        )
    assert got == [Message("engine.skip_expired"), "motif de l'opérateur"]
    try:
        set_lang("en")
        assert [tx(r) for r in got] == ["authorization expired: run the pre-check again", "motif de l'opérateur"]
    finally:
        set_lang("fr")
