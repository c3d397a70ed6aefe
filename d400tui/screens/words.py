"""The words an operator reads instead of codes: channel, payment method, plan, statuses and
authorization states, in the session's language (the catalogues hold them, not code)."""

from __future__ import annotations

from datetime import date

from d400tui.i18n import t

from .fmt import day


def channel(code: str) -> str:
    return t(f"channel.{code}") if code else ""


def method(code: str) -> str:
    return t(f"method.{code}") if code else ""


def status(code: str) -> str:
    return t(f"status.{code}") if code else ""


def hold(code: str) -> str:
    return t(f"hold.{code}") if code else ""


def auth_state(code: str) -> str:
    return t(f"auth.{code}") if code else ""


def auth_kind(code: str) -> str:
    return t(f"auth.kind_{code}") if code else ""


def plan(text: str) -> str:
    """`immediate` → Immédiat, `deferred:2026-12-24` → Différé au 24/12/2026, `instalments:3` → En 3 fois."""
    kind, _, arg = (text or "immediate").partition(":")
    if kind == "deferred":
        try:
            return t("plan.deferred", date=day(date.fromisoformat(arg)))
        except ValueError:
            return t("plan.deferred", date=arg)
    if kind == "instalments":
        return t("plan.instalments", n=arg)
    return t("plan.immediate")
