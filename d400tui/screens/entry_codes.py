"""What the operator types in the entry panels' code fields (payment method, plan, quantity), read
into domain values, and the word shown beside each field: ORDENT, ORDMOD and CHGPAY read them alike."""

from __future__ import annotations

from d400tui.domain import model as m
from d400tui.i18n import t

from .fmt import day, parse_day

METHODS = {
    "CARD": m.PaymentMethod.CARD,
    "CARTE": m.PaymentMethod.CARD,
    "CB": m.PaymentMethod.CARD,
    "C": m.PaymentMethod.CARD,
    "CHEQUE": m.PaymentMethod.CHEQUE,
    "CHQ": m.PaymentMethod.CHEQUE,
    "CHÈQUE": m.PaymentMethod.CHEQUE,
    "Q": m.PaymentMethod.CHEQUE,
    "TRANSFER": m.PaymentMethod.TRANSFER,
    "VIREMENT": m.PaymentMethod.TRANSFER,
    "VIR": m.PaymentMethod.TRANSFER,
    "V": m.PaymentMethod.TRANSFER,
    "COD": m.PaymentMethod.COD,
    "CR": m.PaymentMethod.COD,
    "R": m.PaymentMethod.COD,
}
# what the method field shows for an existing order (a word the operator types, never an English code)
METHOD_TEXT = {
    m.PaymentMethod.CARD: "CARTE",
    m.PaymentMethod.CHEQUE: "CHEQUE",
    m.PaymentMethod.TRANSFER: "VIREMENT",
    m.PaymentMethod.COD: "CR",
}


def parse_method(text: str) -> m.PaymentMethod:
    method = METHODS.get(text.strip().upper())
    if method is None:
        raise ValueError(text)
    return method


def parse_qty(text: str) -> int:
    """Ascii digits only (no sign, no other scripts' digits), 1 to 9999."""
    if not text:
        return 1
    if not (text.isascii() and text.isdigit()) or len(text) > 4 or not 1 <= int(text) <= 9999:
        raise ValueError(text)
    return int(text)


def parse_plan(text: str, today: object) -> m.Plan:
    """The plan field: I, D:JJ/MM/AAAA (or D:AAAA-MM-JJ), N:3; raises what Plan.parse raises."""
    text = text.replace(" ", "")
    kind, sep, arg = text.partition(":")
    if sep and kind.upper() in ("D", "DEFERRED") and "/" in arg:
        try:
            text = f"D:{parse_day(arg).isoformat()}"
        except ValueError:
            text = "D:?"
    return m.Plan.parse(text, today)  # type: ignore[arg-type]


def plan_word(plan: m.Plan) -> str:
    """Immédiat / Différé au JJ/MM/AAAA / En 3 fois."""
    if plan.kind is m.PlanKind.DEFERRED:
        return t("entry.plan_deferred", date=day(plan.deferred_to))
    if plan.kind is m.PlanKind.INSTALMENTS:
        return t("entry.plan_instalments", count=plan.count)
    return t("entry.plan_immediate")


def method_word(text: str) -> str:
    """The word for what was typed in the payment-method field (Carte, Chèque, ...), or "" if unknown."""
    method = METHODS.get(text.strip().upper())
    return t(f"method.{method.value}") if method else ""
