"""`Idempotency-Key`: a HIS that is not sure its call arrived sends it again with the same key.

    POST /inpatient/{stay}/settle   Idempotency-Key: 7f3c…   (any 1–255 printable ASCII characters)

The same key with the same call (method, path and JSON body, compared as canonical JSON) replays
the saved answer, status and body, with `Idempotent-Replayed: true`, and sends nothing. The same
key with a different call is a 409 `idempotency_conflict`; a key whose first call is still running
(or was cut off by a crash) is a 409 `idempotency_in_progress`. Answers after which nothing reached
the province (input errors, not sent, the gateway's own login failing) are not kept: the key is
released and the corrected call may use it again.

Keys live in the journal's database (its SQLite file, or its PostgreSQL database, which every
gateway node then shares), in a table of their own (`gateway_idempotency`), written through a
connection of this module's: they survive a restart and are backed up with the journal. A key is
claimed by one atomic insert, so two nodes given the same key at once run the call once.
Keys older than RETENTION are dropped when the gateway starts.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from adapter.errors import JournalError
from adapter.wire.database import connect

__all__ = ["HEADER", "REPLAYED_HEADER", "RETENTION_SECONDS", "Claim", "IdempotencyStore", "fingerprint",
           "valid_key"]

HEADER = "idempotency-key"
REPLAYED_HEADER = "Idempotent-Replayed"
RETENTION_SECONDS = 7 * 24 * 3600
_SCHEMA = """
CREATE TABLE IF NOT EXISTS gateway_idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'done')),
    status INTEGER,
    answer {blob},
    created_at {real} NOT NULL
)"""
_TYPES = {"sqlite": {"blob": "BLOB", "real": "REAL"},
          "postgresql": {"blob": "BYTEA", "real": "DOUBLE PRECISION"}}


def valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and key.isascii() and key.isprintable()


def fingerprint(method: str, path: str, data: object) -> str:
    """The call as one hash: method, path and the body as canonical JSON (key order and spacing
    do not matter; numbers compare by their exact decimal text)."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_exact)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode("utf-8", "backslashreplace")).hexdigest()


def _exact(value: object) -> str:
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise TypeError(f"{type(value).__name__} is not JSON")


@dataclass(frozen=True)
class Claim:
    """What a key allows now: `run` it (claimed for this call), `replay` a saved answer, or a
    `conflict` ("different_call" or "in_progress")."""

    run: bool = False
    status: int | None = None
    answer: bytes | None = None
    conflict: str | None = None


class IdempotencyStore:
    """Keys and their answers in the journal's database (`target`: its file path or its
    postgresql:// URL). Thread-safe."""

    def __init__(self, target: str | Path) -> None:
        self._db = connect(target)
        # What a failing store raises: the driver's errors, and JournalError for a connection that
        # cannot be opened again (the gateway answers 503, nothing sent).
        self.errors: tuple[type[BaseException], ...] = (*self._db.errors, JournalError)
        self._lock = threading.Lock()
        with self._lock, self._db.transaction():
            self._db.lock_schema()  # several nodes may start at once
            self._db.execute(_SCHEMA.format(**_TYPES[self._db.dialect]))
            self._db.execute("DELETE FROM gateway_idempotency WHERE created_at < ?",
                             (time.time() - RETENTION_SECONDS,))

    def claim(self, key: str, call: str) -> Claim:
        with self._lock, self._db.transaction():
            # One statement claims the key or finds it taken: atomic across threads and nodes.
            won = self._db.execute(
                "INSERT INTO gateway_idempotency (key, fingerprint, state, created_at) "
                "VALUES (?, ?, 'running', ?) ON CONFLICT (key) DO NOTHING RETURNING key",
                (key, call, time.time())).fetchone()
            if won is not None:
                return Claim(run=True)
            row = self._db.execute(
                "SELECT fingerprint, state, status, answer FROM gateway_idempotency WHERE key = ?", (key,)
            ).fetchone()
        if row is None:  # released by its caller between the two statements: claim it afresh
            return self.claim(key, call)
        saved_call, state, status, answer = row
        if saved_call != call:
            return Claim(conflict="different_call")
        if state != "done":
            return Claim(conflict="in_progress")
        return Claim(status=int(status), answer=bytes(answer))

    def finish(self, key: str, status: int, answer: bytes) -> None:
        with self._lock, self._db.transaction():
            self._db.execute(
                "UPDATE gateway_idempotency SET state = 'done', status = ?, answer = ? WHERE key = ?",
                (status, answer, key))

    def release(self, key: str) -> None:
        """Forget a key whose call reached nothing at the province (it may be used again)."""
        with self._lock, self._db.transaction():
            self._db.execute("DELETE FROM gateway_idempotency WHERE key = ?", (key,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
