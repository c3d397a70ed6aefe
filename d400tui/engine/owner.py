"""Which process sent a call: a REQUESTED row whose owner died (killed terminal, crashed batch)
can be settled at once on the same machine; elsewhere only once no live caller can still wait."""

from __future__ import annotations

import os
import socket
from functools import cache


def _start_time(pid: int) -> str:
    """Process start time from /proc (tells a reused pid apart); empty where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


@cache
def me() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{_start_time(os.getpid())}"


def is_dead(owner: str | None) -> bool:
    """True only when sure: same host, and that process is gone (or the pid now belongs to another)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname()[:40] or not pid_text.isdigit() or owner == me():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return bool(start) and _start_time(pid) not in ("", start)
