"""The adapters reach the simulated issuer only over a socket: importing every adapter but the
in-process `simulator` one loads nothing of `d400tui.simulator` (issue 10, point 4)."""

from __future__ import annotations

import json
import subprocess
import sys

NETWORK_ADAPTERS = [
    "d400tui.acquirers",
    "d400tui.acquirers.breaker",
    "d400tui.acquirers.http",
    "d400tui.acquirers.iso8583",
    "d400tui.acquirers.stripe",
    "d400tui.acquirers.transport",
]
PROBE = """
import importlib, json, sys
def simulator(): return [m for m in sys.modules if m.split('.')[:2] == ['d400tui', 'simulator']]
seen = {}
for name in sys.argv[1:]:
    importlib.import_module(name)
    seen[name] = simulator()
print(json.dumps(seen))
"""


def test_only_the_in_process_adapter_loads_the_simulator() -> None:
    names = [*NETWORK_ADAPTERS, "d400tui.acquirers.simulator"]  # in a fresh interpreter, in this order
    out = subprocess.run([sys.executable, "-c", PROBE, *names], capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout)
    assert {name: seen[name] for name in NETWORK_ADAPTERS} == dict.fromkeys(NETWORK_ADAPTERS, [])
    assert "d400tui.simulator.issuer" in seen["d400tui.acquirers.simulator"]
