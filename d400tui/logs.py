"""Structured logging: one JSON object per line in `d400.log` next to the database, every
message, argument and traceback passed through the card-number scrubber first; the file is 0600."""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
from datetime import datetime
from pathlib import Path

from d400tui.domain.cards import scrub


def private_file(path: Path | str) -> None:
    """Create `path` empty and readable by its owner only (0600), or take group and others' rights
    off it if it exists: data files (database, simulator state, secret, log) are nobody else's
    business on a shared host. SQLite gives its -wal and -shm files the database file's mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        with contextlib.suppress(OSError):  # not ours to change: leave it as it is
            mode = os.stat(path).st_mode & 0o777
            if mode & 0o077:
                os.chmod(path, mode & 0o700)


class _PrivateRotatingHandler(logging.handlers.RotatingFileHandler):
    """The log file and each rotated file are created 0600."""

    def _open(self):  # type: ignore[no-untyped-def]
        private_file(Path(self.baseFilename))
        return super()._open()


class ScrubFilter(logging.Filter):
    """Renders the message with its arguments, then masks any Luhn-valid digit run in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the line
            text = str(record.msg)
        record.msg, record.args = scrub(text), None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure(log_file: Path, level: str = "INFO") -> logging.Handler:
    """Attach the scrubbed JSON file handler to the `d400` loggers (idempotent)."""
    root = logging.getLogger("d400")
    for h in list(root.handlers):
        if getattr(h, "_d400", False):
            if getattr(h, "baseFilename", None) == str(Path(log_file).absolute()):
                return h
            root.removeHandler(h)  # another file asked for (tests, a second configuration)
            h.close()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = _PrivateRotatingHandler(log_file, maxBytes=10_000_000, backupCount=3, encoding="utf-8")
    handler.addFilter(ScrubFilter())
    handler.setFormatter(JsonFormatter())
    handler._d400 = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = True
    return handler
