"""What the engine and the domain say to the operator: a catalogue key and its parameters.

The text is chosen where it is shown (screens, CLI, audit reader), in the reader's language, from the
fr/en catalogues of `d400tui.i18n`; the domain only names the message. `str()` gives the reference
(French) text through the renderer `d400tui.i18n` installs at start-up, for logs and tracebacks. A
first argument that is not key-shaped is text already in the reader's language (a screen's own
words, an acquirer's decline text) and is shown as it is."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

_KEY = re.compile(r"[a-z][a-z0-9_]*(?:\.[A-Za-z0-9_]+)+")

Renderer = Callable[["Message"], str]


def _unrendered(msg: Message) -> str:
    return msg.key if msg.is_text else f"{msg.key} {dict(msg.params)}"


_render: Renderer = _unrendered


def set_renderer(render: Renderer) -> None:
    """Install how `str(message)` reads (the i18n package does, with the reference language)."""
    global _render
    _render = render


class Message:
    """A catalogue key and its parameters; a parameter may itself be a Message (a status word, the
    reason inside a reconcile line)."""

    __slots__ = ("key", "params")

    def __init__(self, key: str, /, **params: Any) -> None:
        self.key = key
        self.params: Mapping[str, Any] = params

    @property
    def is_text(self) -> bool:
        """Free text (no catalogue key): shown unchanged in every language."""
        return _KEY.fullmatch(self.key) is None

    def to_data(self) -> dict[str, Any]:
        """A JSON-ready form, for the audit trail and run results: {"key": ..., "params": {...}}."""
        return {"key": self.key, "params": {k: _plain(v) for k, v in self.params.items()}}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Message:
        params = {k: cls.from_data(v) if is_message_data(v) else v for k, v in data.get("params", {}).items()}
        return cls(str(data["key"]), **params)

    def __eq__(self, other: object) -> bool:
        """Equal to the same key and parameters only: a message is never equal to a text (compare
        `str(message)` for the reference wording, `.key` for what was meant)."""
        if not isinstance(other, Message):
            return NotImplemented
        return (self.key, dict(self.params)) == (other.key, dict(other.params))

    def __hash__(self) -> int:
        return hash((self.key, tuple(sorted((k, repr(v)) for k, v in self.params.items()))))

    def __contains__(self, words: str) -> bool:
        """`"rapprochement" in message`: searched in the reference text."""
        return words in str(self)

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"Message({self.key!r}{args})"

    def __str__(self) -> str:
        return _render(self)


def is_message_data(value: object) -> bool:
    return isinstance(value, Mapping) and set(value) == {"key", "params"} and isinstance(value["key"], str)


def _plain(value: Any) -> Any:
    if isinstance(value, Message):
        return value.to_data()
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)  # Decimal amounts, dates: as the text shows them


def json_default(value: object) -> object:
    """`json.dumps(default=...)` for records that hold messages: {"key", "params"}, else the text."""
    return value.to_data() if isinstance(value, Message) else str(value)


class MessageError(Exception):
    """An error for the operator: a key and parameters (or text already shown as it is), and the
    entry field to put the cursor on when there is one."""

    default_field: str | None = None

    def __init__(self, key: str | Message, /, *, field: str | None = None, **params: Any) -> None:
        self.message = key if isinstance(key, Message) else Message(key, **params)
        self.field = field if field is not None else self.default_field
        super().__init__(self.message.key)

    @property
    def key(self) -> str:
        return self.message.key

    @property
    def params(self) -> Mapping[str, Any]:
        return self.message.params

    def __str__(self) -> str:
        return str(self.message)
