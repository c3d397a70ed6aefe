"""Drafts: the order being typed survives a dropped terminal. What is saved is the entry screen's
fields, never the card number nor the CVV: a number typed in a free field is masked here."""

from __future__ import annotations

import json
from datetime import datetime

from d400tui.domain import model as m
from d400tui.domain.cards import scrub
from d400tui.store import drafts as store

from . import steps as s
from .errors import EngineError

MAX_DRAFT = 64 * 1024


def save_draft(ctx: s.Context, actor: m.Actor, content: dict[str, object]) -> None:
    """Save the entry screen's fields (never the card number nor the CVV: refused here)."""
    text = json.dumps(content, ensure_ascii=False, default=str)
    if len(text) > MAX_DRAFT:
        raise EngineError("engine.draft_too_big")
    text = scrub(text)  # a card number typed in a free field is masked, never stored
    with ctx.unit() as uow:
        store.save(uow.session, actor.name, ctx.clock(), text)
        uow.commit()


def load_draft(ctx: s.Context, actor: m.Actor) -> tuple[datetime, dict[str, object]] | None:
    with ctx.unit() as uow:
        row = store.load(uow.session, actor.name)
    if row is None:
        return None
    try:
        return row[0], json.loads(row[1])
    except ValueError:
        return None


def discard_draft(ctx: s.Context, actor: m.Actor) -> None:
    with ctx.unit() as uow:
        store.discard(uow.session, actor.name)
        uow.commit()
