"""Column types that enforce a rule at the store boundary, so no caller can forget it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import String, Text, TypeDecorator, event
from sqlalchemy.orm import Mapper

from d400tui.domain.cards import scrub
from d400tui.domain.message import Message, is_message_data


class ScrubbedText(TypeDecorator[str]):
    """Free text as typed (a reason, a label, a draft, audit detail): every value written — row,
    update or query parameter — passes through the card-number scrubber first, whichever code
    path writes it. `ScrubbedText(200)` is a VARCHAR(200), `ScrubbedText()` a TEXT; the scrubber
    keeps the length, so a value that fits still fits."""

    impl = String
    cache_ok = True

    def __init__(self, length: int | None = None) -> None:
        super().__init__()
        self.length = length
        self.impl = String(length) if length else Text()  # type: ignore[assignment]

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else scrub(str(value))

    def process_literal_param(self, value: Any, dialect: Any) -> str:
        return scrub(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        return value


class MessageText(ScrubbedText):
    """A column that holds either free text or an engine message (a reason, a label): a Message is
    stored as its JSON {"key", "params"} and read back as a Message, rendered where it is shown in
    the reader's language; text (older rows, an operator's words) reads back as text."""

    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if isinstance(value, Message):
            return scrub(json.dumps(value.to_data(), ensure_ascii=False))
        return super().process_bind_param(value, dialect)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, str) and value.startswith('{"key"'):
            try:
                data = json.loads(value)
            except ValueError:
                return value
            if is_message_data(data):
                return Message.from_data(data)
        return value


def _scrub_on_set(target: Any, value: Any, oldvalue: Any, initiator: Any) -> Any:
    return scrub(value) if isinstance(value, str) else value


@event.listens_for(Mapper, "mapper_configured")
def _scrub_mapped_attributes(mapper: Mapper[Any], class_: type) -> None:
    """A mapped object holds what was stored, not what was typed: the engine hands loaded
    objects to screens as views, so a reason assigned in this session is masked at once too."""
    for prop in mapper.column_attrs:
        if any(isinstance(c.type, ScrubbedText) for c in prop.columns):
            event.listen(getattr(class_, prop.key), "set", _scrub_on_set, retval=True)
