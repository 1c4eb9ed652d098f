"""The transaction journal: every request is written down before it is sent.

An embedded SQLite file. `begin` records the request as `pending` and commits before the
caller sends anything; `finish` records what came back. So after any crash the journal says
which bills went out, and a bill whose outcome is `unknown` is queried, not blindly resent
(a resend could settle it twice).

Status transitions (anything else raises `JournalError`):

    pending --> ok        return_code 1
            --> rejected  negative return_code: the province answered no
            --> failed    certainly not processed (connect refused, refused before sending)
            --> unknown   sent, no answer (read timeout, connection dropped after sending)
    unknown --> ok | rejected | failed   resolved later by a query (`resolve`, adapter/ops/recovery.py)

The journal holds the full request (it is the record to resend or reconcile from), so the file
is created owner-only (0600). The one thing it never holds is the sys0001 password: `begin`
and `finish` pass the XML through `masking.redact_password` first.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

from adapter.errors import JournalError
from adapter.wire.deviations import Deviation, DeviationKind
from adapter.wire.masking import redact_password

__all__ = ["KINDS", "Entry", "Journal", "JournalError", "Status"]


class Status(StrEnum):
    PENDING = "pending"
    OK = "ok"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"


KINDS: frozenset[str] = frozenset({"query", "state_changing", "login"})

_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.OK, Status.REJECTED, Status.FAILED, Status.UNKNOWN}),
    Status.UNKNOWN: frozenset({Status.OK, Status.REJECTED, Status.FAILED}),
}

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    function_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('query', 'state_changing', 'login')),
    akb020 TEXT,
    aaz218 TEXT,
    his_ref TEXT,
    request_xml TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('pending', 'ok', 'rejected', 'failed', 'unknown')),
    response_xml TEXT,
    return_code TEXT,
    message TEXT,
    duration_ms REAL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_created_at ON entries (created_at);
CREATE INDEX IF NOT EXISTS entries_function_id ON entries (function_id);
CREATE INDEX IF NOT EXISTS entries_status ON entries (status);
CREATE INDEX IF NOT EXISTS entries_aaz218 ON entries (aaz218);
CREATE TABLE IF NOT EXISTS deviations (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES entries (id),
    seen_at TEXT NOT NULL,
    function_id TEXT NOT NULL,
    path TEXT NOT NULL,
    code TEXT NOT NULL,
    kind TEXT NOT NULL,
    sample TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deviations_seen_at ON deviations (seen_at);
"""


@dataclass(frozen=True)
class Entry:
    """One journal row. Times are timezone-aware UTC."""

    id: int
    created_at: datetime
    function_id: str
    kind: str
    akb020: str | None
    aaz218: str | None
    his_ref: str | None
    request_xml: str
    status: Status
    response_xml: str | None
    return_code: str | None
    message: str | None
    duration_ms: float | None
    updated_at: datetime


_COLUMNS = ", ".join(field.name for field in fields(Entry))


def _entry(row: tuple[Any, ...]) -> Entry:
    values = dict(zip((field.name for field in fields(Entry)), row, strict=True))
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    values["updated_at"] = datetime.fromisoformat(values["updated_at"])
    values["status"] = Status(values["status"])
    return Entry(**values)


def _iso(moment: datetime) -> str:
    # One fixed format (UTC, microseconds, +00:00) so that text order is time order and the
    # created_at index serves range queries.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _local_day_bounds(day: date) -> tuple[str, str]:
    """[start, end) of `day` in this machine's local time zone, as stored UTC text.

    A hospital asks for "the 5th" in its own time (sessions also end at local midnight); a
    UTC day would move the first eight hours of a Guangdong day to the day before.
    """
    start = datetime.combine(day, time.min).astimezone()
    end = datetime.combine(day + timedelta(days=1), time.min).astimezone()
    return _iso(start), _iso(end)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _create_owner_only(path: Path) -> None:
    """Create `path` as 0600 before SQLite opens it; tighten it if it already exists.

    SQLite creates its -wal and -shm files with the database file's permissions, so they are
    owner-only as well.
    """
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(descriptor)
    os.chmod(path, 0o600)  # an existing file, or a umask that was not applied as expected


class Journal:
    """The write-ahead journal in one SQLite file. Safe to share between threads.

    Several processes may open the same file (the adapter writing, `gdwi journal` reading).
    `clock` returns the current time; tests pass a fixed one.
    """

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        try:
            _create_owner_only(self.path)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0)
            self._configure()
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc}") from exc

    def _configure(self) -> None:
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":  # e.g. a network file system; WAL needs shared memory
            raise JournalError(f"journal {self.path}: WAL mode unavailable (got {mode!r})")
        # Outcomes are written with synchronous=NORMAL (durable against a crash of this
        # process); `begin` switches to FULL for its own commit, see there.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._conn:
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    # --- writing ------------------------------------------------------------------------

    def begin(
        self,
        function_id: str,
        kind: str,
        request_xml: str,
        *,
        akb020: str | None = None,
        aaz218: str | None = None,
        his_ref: str | None = None,
    ) -> int:
        """Record a request as `pending`; returns the entry id. Call before sending.

        Committed before it returns: this is the write-ahead step. The password is redacted.
        """
        if kind not in KINDS:
            raise JournalError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)}")
        now = _iso(self._clock())
        row = (now, function_id, kind, akb020, aaz218, his_ref, redact_password(request_xml))
        with self._lock:
            # The pending entry must survive even a power cut between here and the province
            # committing a settlement: this commit alone is fsynced (synchronous=FULL). A lost
            # outcome record later is safe: the entry stays pending and recovery asks the
            # province.
            self._conn.execute("PRAGMA synchronous=FULL")
            try:
                with self._conn:
                    cursor = self._conn.execute(
                        "INSERT INTO entries (created_at, function_id, kind, akb020, aaz218, his_ref,"
                        " request_xml, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                        (*row, now),
                    )
            finally:
                self._conn.execute("PRAGMA synchronous=NORMAL")
        entry_id = cursor.lastrowid
        assert entry_id is not None  # set by every INSERT
        return entry_id

    def finish(
        self,
        entry_id: int,
        status: Status | str,
        *,
        response_xml: str | None = None,
        return_code: str | None = None,
        message: str | None = None,
        duration_ms: float | None = None,
        aaz218: str | None = None,
    ) -> None:
        """Record the outcome of entry `entry_id` (see the transitions in the module doc).

        `aaz218` is the business key the answer assigned (a registration or admission): it is
        stored when the request had none, so the entry that opened a visit or stay can be found
        by its key later (recovery tells "ours" from "someone else's" that way).
        """
        target = Status(status)
        response = redact_password(response_xml) if response_xml is not None else None
        with self._lock, self._conn:
            self._check_transition(entry_id, target)
            self._conn.execute(
                "UPDATE entries SET status = ?, response_xml = ?, return_code = ?, message = ?,"
                " duration_ms = ?, aaz218 = COALESCE(aaz218, ?), updated_at = ? WHERE id = ?",
                (target, response, return_code, message, duration_ms, aaz218, _iso(self._clock()),
                 entry_id),
            )

    def resolve(
        self, entry_id: int, status: Status | str, how: str, *, aaz218: str | None = None
    ) -> None:
        """Record how an `unknown` entry was settled afterwards (ok, rejected or failed).

        Unlike `finish`, this keeps what the exchange itself recorded (response, return code,
        duration) and keeps the old message after the new one: the entry then tells both what
        happened on the wire and how its outcome was decided. `aaz218` as in `finish`.
        """
        target = Status(status)
        with self._lock, self._conn:
            row = self._conn.execute("SELECT status FROM entries WHERE id = ?", (entry_id,)).fetchone()
            if row is not None and row[0] != Status.UNKNOWN:
                raise JournalError(f"journal entry {entry_id}: {row[0]}, only an unknown entry is resolved")
            self._check_transition(entry_id, target)
            self._conn.execute(
                "UPDATE entries SET status = ?, message = ? || COALESCE(' | before: ' || message, ''),"
                " aaz218 = COALESCE(aaz218, ?), updated_at = ? WHERE id = ?",
                (target, how, aaz218, _iso(self._clock()), entry_id),
            )

    def record_deviations(self, entry_id: int, deviations: builtins.list[Deviation]) -> None:
        """Keep where an entry's answer differed from the spec (samples must come masked)."""
        if not deviations:
            return
        now = _iso(self._clock())
        rows = [(entry_id, now, d.function_id, d.path, d.code, str(d.kind), d.sample, d.detail)
                for d in deviations]
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT INTO deviations (entry_id, seen_at, function_id, path, code, kind, sample,"
                " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def deviations(
        self, *, since: datetime | None = None, entry_id: int | None = None
    ) -> builtins.list[tuple[datetime, int, Deviation]]:
        """Recorded deviations, oldest first, as (seen_at, entry_id, deviation)."""
        clauses, params = [], []
        if since is not None:
            clauses.append("seen_at >= ?")
            params.append(_iso(since))
        if entry_id is not None:
            clauses.append("entry_id = ?")
            params.append(str(entry_id))
        where = "WHERE " + " AND ".join(clauses) if clauses else ""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seen_at, entry_id, function_id, path, code, kind, sample, detail"
                f" FROM deviations {where} ORDER BY id",
                params,
            ).fetchall()
        return [
            (datetime.fromisoformat(seen), entry,
             Deviation(function_id, path, code, DeviationKind(kind), sample, detail))
            for seen, entry, function_id, path, code, kind, sample, detail in rows
        ]

    def _check_transition(self, entry_id: int, target: Status) -> None:
        row = self._conn.execute("SELECT status FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise JournalError(f"journal entry {entry_id} does not exist")
        current = Status(row[0])
        if target not in _ALLOWED.get(current, frozenset()):
            raise JournalError(f"journal entry {entry_id}: {current} -> {target} is not allowed")

    def expire_pending(self, older_than: timedelta) -> int:
        """Mark `pending` entries older than `older_than` as `unknown`; returns how many.

        A `pending` entry that old belongs to a process that died between sending and
        recording the answer, so its outcome is unknown. Call at start-up, with a margin longer
        than any request can take, so in-flight requests of other processes are left alone.
        """
        now = self._clock()
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "UPDATE entries SET status = 'unknown', updated_at = ?,"
                " message = 'process ended before the outcome was recorded'"
                " WHERE status = 'pending' AND created_at < ?",
                (_iso(now), _iso(now - older_than)),
            )
        return cursor.rowcount

    # --- reading ------------------------------------------------------------------------

    def get(self, entry_id: int) -> Entry | None:
        rows = self._select("WHERE id = ?", (entry_id,))
        return rows[0] if rows else None

    def list(
        self,
        *,
        day: date | None = None,
        function_id: str | None = None,
        status: Status | str | None = None,
        aaz218: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Entry]:
        """Entries matching every given filter, newest first. `day` is a local calendar day."""
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        if day is not None:
            clauses.append("created_at >= ? AND created_at < ?")
            params.extend(_local_day_bounds(day))
        for column, value in (("function_id", function_id), ("status", status), ("aaz218", aaz218)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(str(value))
        where = "WHERE " + " AND ".join(clauses) if clauses else ""
        return self._select(f"{where} ORDER BY created_at DESC, id DESC LIMIT ?", (*params, limit))

    def unknown_entries(self) -> builtins.list[Entry]:
        """Entries whose outcome is unknown, oldest first (the order to resolve them in)."""
        return self._select("WHERE status = 'unknown' ORDER BY created_at, id", ())

    def stale_pending(self, older_than: timedelta) -> builtins.list[Entry]:
        """`pending` entries older than `older_than`, oldest first: what `expire_pending` takes."""
        cutoff = _iso(self._clock() - older_than)
        return self._select("WHERE status = 'pending' AND created_at < ? ORDER BY created_at, id", (cutoff,))

    def history(self, aaz218: str) -> builtins.list[Entry]:
        """Every entry on one visit or stay, in the order they were written (id order)."""
        return self._select("WHERE aaz218 = ? ORDER BY id", (aaz218,))

    def _select(self, tail: str, params: tuple[Any, ...]) -> builtins.list[Entry]:
        with self._lock:
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM entries {tail}", params).fetchall()
        return [_entry(row) for row in rows]

    # --- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
