"""The README's test cards and the demo operators as actors, shared by the tests that place orders."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.domain.cards import CardData, parse_expiry

TEST_CARDS = {
    # pan: (expiry, expected code, expected category)
    "4970100000000014": ("12/30", "00", "APPROVED"),
    "4970100000000022": ("12/30", "00", "APPROVED"),
    "4970100000000030": ("12/30", "41", "BLOCKED"),
    "4970100000000048": ("12/30", "43", "BLOCKED"),
    "4970100000000055": ("12/30", "51", "CEILING"),
    "4970100000000063": ("12/30", "05", "OTHER"),
    "4970100000000071": ("12/30", "91", "UNAVAILABLE"),
    "4970100000000089": ("12/30", "A0", "UNAVAILABLE"),
    "4970100000000097": ("12/30", "57", "OTHER"),
    "4970100000000105": ("12/30", "00", "APPROVED"),
    "5130100000000018": ("06/31", "00", "APPROVED"),
    "374010000000015": ("09/30", "A1", "NOT_ACCEPTED"),
}

SUPER = m.Actor("SUPER1", True)
OPER = m.Actor("OPER1", False)


def card(pan: str, expiry: str | None = None) -> CardData:
    return CardData(pan, parse_expiry(expiry or TEST_CARDS[pan][0]), None)
