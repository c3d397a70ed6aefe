"""Errors whose message is meant for the operator (message line, CLI line): a catalogue key and
its parameters (`EngineError("engine.order_unknown", order=201)`), rendered where they are shown."""

from __future__ import annotations

from d400tui.domain.cards import CardError
from d400tui.domain.message import MessageError
from d400tui.domain.model import DomainError
from d400tui.domain.money import MoneyError


class EngineError(MessageError):
    """A refused request; `field` names the entry field to put the cursor on, when there is one."""


class PermissionDenied(EngineError):
    """Supervisor-only, whatever the caller: screen, CLI or script."""


class SignOnError(EngineError):
    pass


class NotFound(EngineError):
    pass


class ConcurrentChange(EngineError):
    """Optimistic version check failed: another terminal changed the order meanwhile."""


USER_ERRORS: tuple[type[Exception], ...] = (EngineError, DomainError, CardError, MoneyError)
