"""The service layer: screens and CLI call this package only."""

from .bootstrap import open_database, open_engine
from .errors import USER_ERRORS, ConcurrentChange, EngineError, NotFound, PermissionDenied, SignOnError
from .results import AuthAnswer, ReconcileReport, ValidationResult, VoidOutcome
from .service import Engine

__all__ = [
    "USER_ERRORS",
    "AuthAnswer",
    "ConcurrentChange",
    "Engine",
    "EngineError",
    "NotFound",
    "PermissionDenied",
    "ReconcileReport",
    "SignOnError",
    "ValidationResult",
    "VoidOutcome",
    "open_database",
    "open_engine",
]
