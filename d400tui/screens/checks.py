"""What an answer says beyond its code (network branch, issue 13): the network it went on and the
issuer's CVV check, in the operator's words, for the decision panel and the entry message."""

from __future__ import annotations

from typing import Protocol

from d400tui.i18n import t


class Checked(Protocol):
    @property
    def network(self) -> str | None: ...

    @property
    def security_check(self) -> str | None: ...


def check_words(a: Checked) -> str:
    """`  réseau CB  crypto concordant`, or "" when the acquirer said neither."""
    parts = [t("network.on", network=t(f"network.{a.network}"))] if a.network else []
    if a.security_check:
        parts.append(t("network.cvv", result=t(f"network.cvv_{a.security_check}")))
    return "".join("  " + p for p in parts)
