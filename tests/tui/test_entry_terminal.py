"""Type-ahead in a real terminal: the app runs in tmux and the whole sign-on and order is sent with
ONE `tmux send-keys` (the terminal delivers it as fast as it can be read). The order in the
database has the customer, article, quantity and card typed. Skipped only when tmux is absent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from d400tui.config import Settings
from d400tui.engine.views import OrderFilter

# skipped on a developer machine without tmux; under CI (.ci/run installs it) a missing tmux fails
pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None and os.environ.get("CI") != "true", reason="tmux is not installed"
)
ROOT = Path(__file__).resolve().parents[2]


def _pane(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def _until(cond, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_whole_order_in_one_send_keys(tmp_path, monkeypatch):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "D400_HOME": str(tmp_path),
        "D400_CONFIG": str(tmp_path / "none.toml"),
        "D400_ACQUIRER_TIMEOUT": "5",
        "TERM": "xterm-256color",
    }
    env.pop("D400_DB_URL", None)
    env.pop("D400_LANG", None)
    session = f"d400typeahead{os.getpid()}"
    cmd = f"{sys.executable} -m d400tui; sleep 30"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", cmd], env=env, check=True)
    try:
        assert _until(lambda: "SIGNON" in _pane(session), 60), _pane(session)
        keys = [
            "OPER1",
            "Tab",
            "oper1-demo",
            "Enter",
            "1",
            "Enter",
            "100001BON0001",
            "Enter",
            "2",
            "Enter",
            "Enter",
            "4970100000000014",
            "1230",
            "123",
            "F10",
        ]
        subprocess.run(["tmux", "send-keys", "-t", session, *keys], check=True)  # one burst
        assert _until(lambda: "validée" in _pane(session), 60), _pane(session)
        screen = _pane(session)
        assert "4970100000000014" not in screen
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    monkeypatch.setenv("D400_HOME", str(tmp_path))
    from d400tui.engine import open_engine

    engine = open_engine(Settings())
    try:
        # newest first: the one typed in tmux (the demo seed, done before the sign-on is checked, comes first)
        rows = engine.list_orders(OrderFilter(), limit=1)
        o = engine.get_order(rows[0].id)
        assert o.customer_id == 100001
        assert [(ln.article_code, ln.quantity) for ln in o.lines] == [("BON0001", 2)]
        assert str(o.card) == "497010…0014" and o.status.value == "VALIDATED"
    finally:
        engine.db.dispose()
