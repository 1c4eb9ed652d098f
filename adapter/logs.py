"""One log format for the CLI, the mock and the gateway: time, level, logger, request id, message.

    2026-11-30 09:12:03,512 INFO gdwi.client [3f9a1c2e] answer bizh120002 in 84 ms

`configure(level)` sets it up once (and masks citizen IDs and passwords in every record);
`request_id` is a context variable: set it per command run or per HTTP request, and every
record logged in that context carries it ("-" outside one).
"""

from __future__ import annotations

import logging
import secrets
import sys
from contextvars import ContextVar

__all__ = ["FORMAT", "LEVELS", "configure", "new_request_id", "request_id"]

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
LEVELS = ("debug", "info", "warning", "error")
request_id: ContextVar[str] = ContextVar("gdwi_request_id", default="-")


def new_request_id() -> str:
    """A short random id, set as the current context's request id and returned."""
    value = secrets.token_hex(4)
    request_id.set(value)
    return value


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is now (a test runner swaps it between runs)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure(level: str = "warning") -> None:
    """Log to stderr in FORMAT at `level` (debug, info, warning, error); idempotent."""
    from adapter.wire.masking import install_log_masking

    if level.lower() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "gdwi", False)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.gdwi = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.addFilter(_RequestIdFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))  # one line per call: noise
    install_log_masking()
