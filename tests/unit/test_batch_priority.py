"""The pre-check and capture runs lower their CPU priority (D400_BATCH_NICE, default 10) so the
terminals validating orders on the same machine keep the processor first; never raised back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from d400tui.config import Settings

pytestmark = pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no POSIX priorities here")

PROBE = """
import os, sys
from d400tui.cli.runs import batch_priority
for n in map(int, sys.argv[1:]):
    batch_priority(n)
    print(os.getpriority(os.PRIO_PROCESS, 0))
"""


def _nice_after(*calls: int) -> list[int]:
    r = subprocess.run([sys.executable, "-c", PROBE, *map(str, calls)], capture_output=True, text=True, check=True)
    return [int(x) for x in r.stdout.split()]


def test_a_run_lowers_itself_and_never_climbs_back() -> None:
    start = os.getpriority(os.PRIO_PROCESS, 0)
    assert _nice_after(max(start, 7), 3, 0) == [max(start, 7)] * 3


def test_the_default_is_below_the_terminals_and_bounded() -> None:
    assert Settings.model_fields["batch_nice"].default == 10  # (tests run with D400_BATCH_NICE=0)
    with pytest.raises(ValueError):
        Settings(batch_nice=20)
