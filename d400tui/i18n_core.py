"""Headlines of the three checks, shared by CLI and screens (the screens' catalogue extends it)."""

from __future__ import annotations

from d400tui.domain.model import Category

HEADLINES = {
    "fr": {
        Category.APPROVED: "Autorisation accordée",
        Category.IDENTIFICATION: "Carte non identifiée",
        Category.BLOCKED: "Carte bloquée (perdue, volée)",
        Category.CEILING: "Plafond dépassé",
        Category.UNAVAILABLE: "Service d'autorisation indisponible",
        Category.OTHER: "Refus de l'émetteur",
        Category.NOT_ACCEPTED: "Carte non acceptée par le prestataire",
    },
    "en": {
        Category.APPROVED: "Authorization approved",
        Category.IDENTIFICATION: "Card not identified",
        Category.BLOCKED: "Card blocked (lost, stolen)",
        Category.CEILING: "Ceiling exceeded",
        Category.UNAVAILABLE: "Authorization service unavailable",
        Category.OTHER: "Declined by the issuer",
        Category.NOT_ACCEPTED: "Card not accepted by the acquirer",
    },
}


def headline(category: Category, lang: str = "fr") -> str:
    return HEADLINES.get(lang, HEADLINES["fr"])[category]
