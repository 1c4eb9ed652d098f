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
and `finish` pass the XML through `masking.redact_password` first. An answer is kept whole up
to BODY_LIMIT characters; a longer one is kept as its first BODY_LIMIT characters with its full
size and SHA-256 (an oversized answer must not grow the journal without bound). XML over 2 KB
(a fee upload) is stored zlib-compressed and read back as text. Only a state-changing entry's
commit is fsynced before it returns (decisions D14, D41): a query or login changes nothing at
the province, so its entry is committed without the fsync.

Exactly-once guards (issue 11):
- Every entry records its owner: pid, process start time (from /proc, with the boot id) and
  host. Recovery takes a `pending` entry as soon as its owner is gone (`owner_alive`), never one
  whose owner still runs; an entry of this very process is alive while it is in flight.
- `begin(..., exclusive=True)` refuses a state-changing call on a business (its aaz218, or the
  person aac001 for a call that opens one) while another state-changing entry on it is pending
  or unknown: it may have been committed, so sending again could duplicate it.
- A `finish` on an entry recovery has settled meanwhile reconciles the two instead of failing.
- The file is checked at open (`PRAGMA quick_check`); an existing empty file is refused.
"""

from __future__ import annotations

import builtins
import hashlib
import logging
import os
import socket
import sqlite3
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

from adapter.errors import JournalError, JournalIntegrityError, UnresolvedEntryError
from adapter.wire.deviations import Deviation, DeviationKind
from adapter.wire.masking import redact_password

__all__ = ["BODY_LIMIT", "KINDS", "Entry", "Journal", "JournalError", "Owner", "Status", "integrity_problems"]

log = logging.getLogger("gdwi.journal")
# Characters of an answer kept in the journal; the largest legitimate answers (a long stay's
# fee list) stay well below it.
BODY_LIMIT = 1024 * 1024


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

_SCHEMA_VERSION = 2
# Columns version 2 added (ALTER TABLE for a version 1 file; all NULL on its old rows).
_ADDED_COLUMNS = (
    ("aac001", "TEXT"),
    ("owner_pid", "INTEGER"),
    ("owner_started", "TEXT"),
    ("owner_host", "TEXT"),
    ("answer_window_s", "REAL"),
    ("response_bytes", "INTEGER"),
    ("response_sha256", "TEXT"),
    ("settled_by", "TEXT"),
)
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
    updated_at TEXT NOT NULL,
    aac001 TEXT,
    owner_pid INTEGER,
    owner_started TEXT,
    owner_host TEXT,
    answer_window_s REAL,
    response_bytes INTEGER,
    response_sha256 TEXT,
    settled_by TEXT
);
CREATE INDEX IF NOT EXISTS entries_created_at ON entries (created_at);
-- Filter and order in one index walk: `journal list --status/--function` stays fast at 1M entries
-- (a status-only index made SQLite sort every match of a common status).
DROP INDEX IF EXISTS entries_function_id;
DROP INDEX IF EXISTS entries_status;
CREATE INDEX IF NOT EXISTS entries_status_created ON entries (status, created_at);
CREATE INDEX IF NOT EXISTS entries_function_created ON entries (function_id, created_at);
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
    aac001: str | None = None
    owner_pid: int | None = None
    owner_started: str | None = None
    owner_host: str | None = None
    answer_window_s: float | None = None  # how long the sender waited for an answer
    response_bytes: int | None = None  # size of the whole answer (response_xml may be a prefix)
    response_sha256: str | None = None  # of the whole answer, when response_xml is a prefix
    settled_by: str | None = None  # "recovery" once `resolve` decided the outcome

    @property
    def business(self) -> str | None:
        """The business a state-changing entry acts on: its aaz218, or the person for an opener."""
        if self.aaz218:
            return f"aaz218 {self.aaz218}"
        return f"aac001 {self.aac001}" if self.aac001 else None


@dataclass(frozen=True)
class Owner:
    """The process that wrote an entry. `started` tells a reused pid from the original."""

    pid: int
    started: str | None  # "<boot id>:<start time in clock ticks>"; None without /proc
    host: str

    @classmethod
    def current(cls) -> Owner:
        pid = os.getpid()
        return cls(pid, process_started(pid), socket.gethostname())


def process_started(pid: int) -> str | None:
    """When process `pid` started, as "<boot id>:<ticks since boot>"; None if unknown or gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    # Field 22 (starttime); the command name in field 2 may hold spaces or parentheses.
    return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


# Entries in flight (begun, not finished) per journal file, in this process.
_IN_FLIGHT: dict[str, set[int]] = {}
_IN_FLIGHT_LOCK = threading.Lock()


_COLUMNS = ", ".join(field.name for field in fields(Entry))


def integrity_problems(path: str | Path, *, quick: bool = False) -> builtins.list[str]:
    """What SQLite's integrity check finds wrong with a journal file ([] when sound).

    Opened read-only: checking never changes or creates the file.
    """
    target = Path(path)
    if not target.is_file():
        return [f"{target}: no such file"]
    if target.stat().st_size == 0:
        return [f"{target}: empty file (0 bytes), not a journal"]
    try:
        conn = sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            pragma = "quick_check" if quick else "integrity_check"
            rows = [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}(20)")]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [f"{target}: {exc}"]
    return [] if rows == ["ok"] else rows


# XML longer than this is stored zlib-compressed (a BLOB; shorter XML stays TEXT). A 300-row fee
# upload is ~64 KB of XML and ~2-8 KB compressed: the journal of a busy year stays a few GB,
# and the fsync before sending writes less. Compression runs after the password is redacted.
_COMPRESS_OVER = 2048


def _stored_xml(text: str) -> str | bytes:
    if len(text) <= _COMPRESS_OVER:
        return text
    return zlib.compress(text.encode("utf-8", "surrogateescape"), 1)


def _read_xml(stored: str | bytes | None) -> str | None:
    if isinstance(stored, bytes):
        return zlib.decompress(stored).decode("utf-8", "surrogateescape")
    return stored


def _entry(row: tuple[Any, ...]) -> Entry:
    values = dict(zip((field.name for field in fields(Entry)), row, strict=True))
    values["request_xml"] = _read_xml(values["request_xml"])
    values["response_xml"] = _read_xml(values["response_xml"])
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
        self._key = str(self.path.resolve())
        self._mine: set[int] = set()  # entries this object began and has not finished
        self.owner = Owner.current()
        existed = self.path.exists()
        if existed and self.path.is_file() and self.path.stat().st_size == 0:
            # A journal is never empty once created (the schema is written at once): an empty
            # file is a truncated or wrongly restored one, and starting afresh would forget
            # every unresolved entry.
            raise JournalIntegrityError(str(self.path), "the file exists but is empty (0 bytes)")
        try:
            _create_owner_only(self.path)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc}") from exc
        try:
            if existed:
                self._verify()
            self._configure()
        except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed", ...
            self._conn.close()
            raise JournalIntegrityError(str(self.path), str(exc)) from exc
        except (OSError, sqlite3.Error, JournalError):
            self._conn.close()
            raise

    def _verify(self) -> None:
        problems = [str(row[0]) for row in self._conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            self._conn.close()
            raise JournalIntegrityError(str(self.path), "; ".join(problems))

    def _configure(self) -> None:
        mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":  # e.g. a network file system; WAL needs shared memory
            raise JournalError(f"journal {self.path}: WAL mode unavailable (got {mode!r})")
        # Outcomes are written with synchronous=NORMAL (durable against a crash of this
        # process); `begin` switches to FULL for its own commit, see there.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._conn:
            self._conn.executescript(_SCHEMA)
            present = {row[1] for row in self._conn.execute("PRAGMA table_info(entries)")}
            for name, declaration in _ADDED_COLUMNS:
                if name not in present:
                    self._conn.execute(f"ALTER TABLE entries ADD COLUMN {name} {declaration}")
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
        aac001: str | None = None,
        exclusive: bool = False,
        answer_window_s: float | None = None,
    ) -> int:
        """Record a request as `pending`; returns the entry id. Call before sending.

        Committed before it returns: this is the write-ahead step. The password is redacted.
        `exclusive` (state-changing calls from the client): refuse with UnresolvedEntryError,
        writing nothing, while a state-changing entry on the same business is pending or
        unknown; the check and the insert are one transaction, across processes too.
        `answer_window_s`: how long the sender will wait for the answer (recovery concludes
        "not committed" only after it).
        """
        if kind not in KINDS:
            raise JournalError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)}")
        now = _iso(self._clock())
        owner = self.owner
        stored = _stored_xml(redact_password(request_xml))
        row = (now, function_id, kind, akb020, aaz218, his_ref, stored, now, aac001,
               owner.pid, owner.started, owner.host, answer_window_s)
        guard = exclusive and kind == "state_changing"
        with self._lock:
            try:
                entry_id = self._insert(row, function_id, aaz218, aac001, guard,
                                        durable=kind == "state_changing")
            except sqlite3.Error as exc:  # e.g. disk full: nothing was sent
                raise JournalError(f"journal {self.path}: cannot record {function_id} before sending "
                                   f"it, nothing sent: {exc}") from exc
            self._mine.add(entry_id)
            with _IN_FLIGHT_LOCK:
                _IN_FLIGHT.setdefault(self._key, set()).add(entry_id)
        return entry_id

    def _insert(self, row: tuple[Any, ...], function_id: str, aaz218: str | None, aac001: str | None,
                guard: bool, *, durable: bool) -> int:
        # The pending entry of a state change must survive even a power cut between here and the
        # province committing it: this commit alone is fsynced (synchronous=FULL). A lost outcome
        # record later is safe: the entry stays pending and recovery asks the province. A query's
        # or login's entry changes nothing at the province: not worth an fsync (D14, D41).
        if durable:
            self._conn.execute("PRAGMA synchronous=FULL")
        try:
            self._conn.execute("BEGIN IMMEDIATE")  # the guard's read and the insert, atomically
            try:
                if guard:
                    self._refuse_if_unresolved(function_id, aaz218, aac001)
                cursor = self._conn.execute(
                    "INSERT INTO entries (created_at, function_id, kind, akb020, aaz218, his_ref,"
                    " request_xml, status, updated_at, aac001, owner_pid, owner_started, owner_host,"
                    " answer_window_s) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
                    row,
                )
                self._conn.commit()
            except BaseException:
                self._conn.rollback()
                raise
        finally:
            if durable:
                self._conn.execute("PRAGMA synchronous=NORMAL")
        assert cursor.lastrowid is not None  # set by every INSERT
        return cursor.lastrowid

    def _refuse_if_unresolved(self, function_id: str, aaz218: str | None, aac001: str | None) -> None:
        if aaz218:
            business, where, value = f"aaz218 {aaz218}", "aaz218 = ?", aaz218
        elif aac001:
            # An opener (registration, admission) names no aaz218 yet: one per person at a time.
            business, where, value = f"aac001 {aac001}", "aac001 = ? AND aaz218 IS NULL", aac001
        else:
            return
        found = self._conn.execute(
            "SELECT id, function_id, status FROM entries WHERE status IN ('pending', 'unknown')"
            f" AND kind = 'state_changing' AND {where} ORDER BY id LIMIT 1",
            (value,),
        ).fetchone()
        if found is not None:
            raise UnresolvedEntryError(function_id, business, found[0], found[1], found[2])

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

        If recovery has settled the entry meanwhile (possible only when it was told to take a
        foreign host's entries after --stale-after), the live outcome is reconciled with its
        verdict: agreement is noted; disagreement is logged as an error and recorded, the
        answer the province gave this call winning over recovery's inference.
        A write that fails (e.g. disk full) raises JournalError; the entry stays pending.
        """
        target = Status(status)
        response = redact_password(response_xml) if response_xml is not None else None
        size = None if response is None else len(response.encode("utf-8", "surrogateescape"))
        digest = None
        if response is not None and len(response) > BODY_LIMIT:
            digest = hashlib.sha256(response.encode("utf-8", "surrogateescape")).hexdigest()
            response = response[:BODY_LIMIT]
        stored = None if response is None else _stored_xml(response)
        try:
            with self._lock, self._conn:
                current, settled_by = self._status_of(entry_id)
                if settled_by == "recovery" and current != Status.UNKNOWN:
                    self._reconcile(entry_id, current, target, message)
                    return
                self._check_transition(entry_id, target)
                self._conn.execute(
                    "UPDATE entries SET status = ?, response_xml = ?, return_code = ?, message = ?,"
                    " duration_ms = ?, aaz218 = COALESCE(aaz218, ?), response_bytes = ?,"
                    " response_sha256 = ?, updated_at = ? WHERE id = ?",
                    (target, stored, return_code, message, duration_ms, aaz218, size, digest,
                     _iso(self._clock()), entry_id),
                )
        except sqlite3.Error as exc:
            raise JournalError(f"journal {self.path}: cannot record the outcome of entry {entry_id}: "
                               f"{exc}") from exc
        finally:
            self._release(entry_id)

    def _release(self, entry_id: int) -> None:
        self._mine.discard(entry_id)
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT.get(self._key, set()).discard(entry_id)

    def _status_of(self, entry_id: int) -> tuple[Status, str | None]:
        row = self._conn.execute("SELECT status, settled_by FROM entries WHERE id = ?",
                                 (entry_id,)).fetchone()
        if row is None:
            raise JournalError(f"journal entry {entry_id} does not exist")
        return Status(row[0]), row[1]

    def _reconcile(self, entry_id: int, settled: Status, live: Status, message: str | None) -> None:
        """A live outcome arriving for an entry recovery already settled (see `finish`)."""
        if live == Status.UNKNOWN or (live == Status.OK) == (settled == Status.OK):
            note = f"live outcome {live} agrees with recovery's {settled}"
            self._conn.execute(
                "UPDATE entries SET message = COALESCE(message, '') || ' | ' || ? WHERE id = ?",
                (note, entry_id))
            return
        if live == Status.FAILED:  # no answer from the province to set against recovery's query
            log.error("journal entry %s: the live call was not sent, but recovery concluded %s",
                      entry_id, settled)
            self._conn.execute(
                "UPDATE entries SET message = COALESCE(message, '') || ' | CONFLICT: the live call ended "
                "failed (not sent)' WHERE id = ?", (entry_id,))
            return
        log.error("journal entry %s: the province answered %s after recovery had settled it as %s; "
                  "recorded the answer, check this business", entry_id, live, settled)
        note = f"CONFLICT: the live call ended {live} ({message or 'no message'}) after recovery had " \
               f"concluded {settled}"
        self._conn.execute(
            "UPDATE entries SET status = ?, message = ? || ' | before: ' || COALESCE(message, ''),"
            " updated_at = ? WHERE id = ?",
            (live, note, _iso(self._clock()), entry_id))


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
                " aaz218 = COALESCE(aaz218, ?), settled_by = 'recovery', updated_at = ? WHERE id = ?",
                (target, how, aaz218, _iso(self._clock()), entry_id),
            )

    def record_deviations(self, entry_id: int, deviations: builtins.list[Deviation]) -> None:
        """Keep where an entry's answer differed from the spec (samples must come masked)."""
        if not deviations:
            return
        now = _iso(self._clock())
        rows = [(entry_id, now, d.function_id, d.path, d.code, str(d.kind), d.sample, d.detail)
                for d in deviations]
        try:
            self._insert_deviations(rows)
        except sqlite3.Error as exc:  # advisory: the outcome itself is already recorded
            log.warning("journal entry %s: %d deviation(s) not recorded: %s", entry_id, len(rows), exc)

    def _insert_deviations(self, rows: builtins.list[tuple[Any, ...]]) -> None:
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

    def owner_alive(self, entry: Entry) -> bool | None:
        """Whether the process that wrote `entry` still runs: for this very process, whether the
        entry is still in flight here. None when it cannot be told: another host, or an entry
        written before owners were recorded."""
        if entry.owner_pid is None or entry.owner_host != self.owner.host:
            return None
        if entry.owner_pid == self.owner.pid and entry.owner_started == self.owner.started:
            with _IN_FLIGHT_LOCK:
                return entry.id in _IN_FLIGHT.get(self._key, set())
        if entry.owner_started is None:  # no /proc where it was written: the pid is all we have
            return _pid_exists(entry.owner_pid)
        return process_started(entry.owner_pid) == entry.owner_started

    def orphaned_pending(self, foreign_older_than: timedelta) -> builtins.list[Entry]:
        """`pending` entries nobody will finish, oldest first: their owner is gone, or it cannot
        be told (another host) and they are older than `foreign_older_than`."""
        cutoff = self._clock() - foreign_older_than
        pending = self._select("WHERE status = 'pending' ORDER BY created_at, id", ())
        return [entry for entry in pending if (alive := self.owner_alive(entry)) is False
                or (alive is None and entry.created_at < cutoff)]

    def take_over(self, entry_id: int, why: str) -> bool:
        """Mark an orphaned `pending` entry `unknown` for recovery; False if it is no longer pending."""
        with self._lock, self._conn:
            cursor = self._conn.execute(
                "UPDATE entries SET status = 'unknown', message = ?, updated_at = ?"
                " WHERE id = ? AND status = 'pending'",
                (why, _iso(self._clock()), entry_id))
        return cursor.rowcount == 1

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
            for entry_id in list(self._mine):  # never finished here: nobody will finish them now
                self._release(entry_id)
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
