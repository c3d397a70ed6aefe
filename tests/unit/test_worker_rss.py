"""A worker's reported peak memory is its own: on Linux ru_maxrss keeps across exec the peak of the
process that forked it (a bench holding a million orders reported its 178 MB for every worker)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHILD = "from d400tui.engine.workers import _rss_kb; print(_rss_kb())"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the inherited peak is Linux's")
def test_a_worker_reports_its_own_peak_not_its_parents() -> None:
    held = bytearray(200 * 1024 * 1024)
    held[::4096] = b"\1" * len(held[::4096])  # resident, not just reserved
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=ROOT, check=True)
    del held
    assert 10_000 < int(out.stdout) < 150_000  # kB: the child's own imports, not the parent's 200 MB
