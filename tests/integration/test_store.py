"""Store-level guarantees on both databases: migrations, append-only audit, no card column."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from d400tui.domain import model as m
from d400tui.store import tables as t
from d400tui.store.db import HEAD


def test_head_constant_matches_alembic(engine) -> None:  # type: ignore[no-untyped-def]
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(engine.db.alembic_config()).get_current_head() == HEAD
    assert engine.db.current_revision() == HEAD


def test_audit_trail_is_append_only(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.db.uow() as uow:
        uow.audit("TEST", "PING", None, note="x")
        uow.commit()
    for sql in ("UPDATE audit SET actor='X'", "DELETE FROM audit"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.db.engine.begin() as conn:
                conn.execute(text(sql))
    with engine.db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit WHERE action='PING'")).scalar() == 1


def test_no_column_can_hold_a_full_card_number_or_cvv() -> None:
    for table in t.metadata.sorted_tables:
        for col in table.columns:
            assert "cvv" not in col.name and col.name not in ("pan", "card_number")
            sizes = {"card_first6": 6, "card_last4": 4, "card_expiry": 5}
            if col.name in sizes:
                assert col.type.length == sizes[col.name], col  # too short for any card number


def test_audit_scrubs_card_numbers(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.db.uow() as uow:
        uow.audit("TEST", "NOTE", None, text="client dit 4970 1000 0000 0014")
        uow.commit()
    rows = engine.audit_trail(m.Actor("SUPER1", True))
    assert "0000 0014" not in rows[0]["detail"] and "4970 10** **** 0014" in rows[0]["detail"]
