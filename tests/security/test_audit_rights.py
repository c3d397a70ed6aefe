"""The audit trail names every operator's actions and reasons: reading it is for supervisors, in the
engine, whoever calls (an outside attack listed it with `d400 audit --json` as a plain operator)."""

from __future__ import annotations

import pytest

from d400tui.domain import model as m
from d400tui.engine import PermissionDenied


def test_an_operator_cannot_read_the_audit_trail(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        engine.audit_trail(m.Actor("OPER1"))
    assert engine.audit_trail(m.Actor("SUPER1", True), limit=5)  # the sign-ons of the seed at least


def test_cli_audit_refused_to_an_operator(settings) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    env = {**os.environ, "D400_OPERATOR": "OPER1", "D400_PASSWORD": "oper1-demo"}
    r = subprocess.run(
        [sys.executable, "-m", "d400tui", "audit", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2 and "superviseurs" in r.stderr and r.stdout == ""
    env.update(D400_OPERATOR="SUPER1", D400_PASSWORD="super1-demo")
    r = subprocess.run(
        [sys.executable, "-m", "d400tui", "audit", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and "SIGNON" in r.stdout
