"""The transaction journal: every request is written down before it is sent.

One SQLite file by default, or a PostgreSQL database when the journal setting is a
`postgresql://` URL (adapter/wire/database.py; the same logic, SQL and promises on both).
`begin` records the request as `pending` and commits before the caller sends anything;
`finish` records what came back. So after any crash the journal says which bills went out,
and a bill whose outcome is `unknown` is queried, not blindly resent (a resend could settle it
twice).

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
(a fee upload) is stored zlib-compressed in SQLite (PostgreSQL compresses large values itself)
and read back as text. Only a state-changing entry's
commit is fsynced before it returns (decisions D14, D41): a query or login changes nothing at
the province, so its entry is committed without the fsync.

Exactly-once guards (issue 11):
- Every entry records its owner: pid, process start time (from /proc, with the boot id) and
  host. Recovery takes a `pending` entry as soon as its owner is gone (`owner_alive`), never one
  whose owner still runs; an entry of this very process is alive while it is in flight.
- `begin(..., exclusive=True)` refuses a state-changing call on a business (its aaz218, or the
  person aac001 for a call that opens one) while another state-changing entry on it is pending
  or unknown: it may have been committed, so sending again could duplicate it. Unique partial
  indexes over the guarded, unresolved entries enforce it in the database itself, so two
  processes or nodes cannot both begin such a change, whatever their timing.
- A `finish` on an entry recovery has settled meanwhile reconciles the two instead of failing.
- The file is checked at open (`PRAGMA quick_check`) unless gdwi closed it last and it is unchanged
  since (size, mtime and inode as recorded in its `user.gdwi.closed` attribute at close): the
  check reads the whole file (over a second for a few hundred MB). An existing empty file is
  refused. `gdwi journal check` and `gdwi doctor` always run SQLite's full check.

Several nodes (issue 15): every entry records the node that wrote it and the institution it was
sent for. A node calls `heartbeat` regularly; `claim_orphans` hands the entries of a node that
stopped beating to exactly one other node, under a lease (`SELECT … FOR UPDATE SKIP LOCKED` on
PostgreSQL; the whole-file write lock on SQLite). A node that stops cleanly says `goodbye`, so
`gdwi journal nodes` tells a stopped node from a dead one. The schema is versioned (migrations.py).
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import logging
import os
import socket
import sqlite3
import threading
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

from adapter.errors import JournalError, JournalIntegrityError, UnresolvedEntryError
from adapter.wire.database import Database, PostgresDatabase, SqliteDatabase, is_postgres
from adapter.wire.deviations import Deviation, DeviationKind
from adapter.wire.journal.migrations import upgrade
from adapter.wire.masking import redact_password

__all__ = ["BODY_LIMIT", "KINDS", "Entry", "Journal", "JournalError", "NodeRow", "Owner", "Status",
           "integrity_problems", "open_journal"]

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
    institution: str | None = None  # the akb020 it was sent for (a login names none on the wire)
    guarded: bool = False  # begun under the unresolved-change guard
    owner_node: str | None = None  # the node (process) that wrote it: see Journal.heartbeat
    lease_node: str | None = None  # the node that claimed it last (claim_orphans) ...
    lease_until: datetime | None = None  # ... and until when

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

    def node_id(self) -> str:
        """A node id for a process that was given none: host, pid and a random part (a pid is
        reused; a node id must never name two processes)."""
        return f"{self.host}/{self.pid}/{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class NodeRow:
    """A node as the `nodes` table knows it."""

    node: str
    last_beat: datetime
    stopped_at: datetime | None  # when it said goodbye (a clean stop); None while it runs or if it died
    dead_after_s: float | None  # the silence after which the nodes take it for dead, as it said

    def state(self, now: datetime, dead_after: float) -> str:
        """alive, stopped (said goodbye) or dead (silent longer than its dead-after, else `dead_after`)."""
        if self.stopped_at is not None:
            return "stopped"
        limit = self.dead_after_s if self.dead_after_s is not None else dead_after
        return "alive" if (now - self.last_beat).total_seconds() <= limit else "dead"


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


def _postgres_text(text: str) -> str:
    """Text as PostgreSQL stores it: it holds no NUL and only valid UTF-8 (an answer decoded with
    errors="replace" may carry a NUL; a lone surrogate escape is written as its escape)."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def readable_xml(stored: str | bytes | None, *, postgres: bool) -> str | None:
    """Stored XML as text (decompressed), made fit for PostgreSQL when `postgres`."""
    text = _read_xml(stored)
    return _postgres_text(text) if postgres and text is not None else text


def entry_columns() -> tuple[str, ...]:
    """The entries table's columns, in Entry's order."""
    return tuple(field.name for field in fields(Entry))


def _moment(value: datetime | str | None) -> datetime | None:
    """A stored time (ISO text in SQLite, timestamptz in PostgreSQL) as an aware UTC datetime."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.astimezone(UTC)


def _entry(row: tuple[Any, ...]) -> Entry:
    values = dict(zip((field.name for field in fields(Entry)), row, strict=True))
    values["request_xml"] = _read_xml(values["request_xml"])
    values["response_xml"] = _read_xml(values["response_xml"])
    for name in ("created_at", "updated_at", "lease_until"):
        values[name] = _moment(values[name])
    values["status"] = Status(values["status"])
    values["guarded"] = bool(values["guarded"])
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


def _scoped(institution: str | None) -> tuple[str, tuple[str, ...]]:
    """The SQL condition (and its parameter) that keeps one institution's entries, if one is named."""
    return (" AND institution = ?", (institution,)) if institution is not None else ("", ())


def _utc_now() -> datetime:
    return datetime.now(UTC)


_CLOSED_MARK = "user.gdwi.closed"  # extended attribute: the file as gdwi's last close left it


def _fingerprint(path: Path) -> bytes:
    found = path.stat()
    return f"{found.st_size}:{found.st_mtime_ns}:{found.st_ino}".encode()


def _unchanged_since_closed(path: Path) -> bool:
    """True when the file is as gdwi's last close left it: anything else (a crash, a copy, a
    restore, a write by another program) changes its size, mtime or inode, and is checked."""
    try:
        return os.getxattr(path, _CLOSED_MARK) == _fingerprint(path)
    except (OSError, AttributeError):  # no mark, or no extended attributes here: check
        return False


def _mark_closed(path: Path) -> None:
    # Without user attributes (some file systems) every open checks, as before.
    with contextlib.suppress(OSError, AttributeError):
        os.setxattr(path, _CLOSED_MARK, _fingerprint(path))  # changes ctime, not mtime


def _create_owner_only(path: Path) -> None:
    """Create `path` as 0600 before SQLite opens it; tighten it if it already exists.

    SQLite creates its -wal and -shm files with the database file's permissions, so they are
    owner-only as well.
    """
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(descriptor)
    os.chmod(path, 0o600)  # an existing file, or a umask that was not applied as expected


class Journal:
    """The write-ahead journal in one SQLite file or one PostgreSQL database. Thread-safe.

    Several processes may open the same journal (the adapter writing, `gdwi journal` reading;
    several gateway nodes on PostgreSQL). `target` is a file path or a `postgresql://` URL;
    `clock` returns the current time (tests pass a fixed one); `node` names this process in the
    `nodes` table (default: host, pid and a random part).
    """

    def __init__(self, target: str | Path, *, clock: Callable[[], datetime] = _utc_now,
                 node: str | None = None) -> None:
        self.target = str(target)  # as set (a URL may hold a password: show `location` instead)
        self._clock = clock
        self._lock = threading.Lock()
        self._mine: set[int] = set()  # entries this object began and has not finished
        self.owner = Owner.current()
        self.node = node or self.owner.node_id()
        self._db: Database = self._open_postgres(str(target)) if is_postgres(target) \
            else self._open_sqlite(Path(target))
        self.location = self._db.location  # for messages: the file, or the URL without password
        self._key = self.location if self.postgres else str(Path(target).resolve())
        self._errors = self._db.errors

    # --- opening ------------------------------------------------------------------------

    def _open_sqlite(self, path: Path) -> Database:
        existed = path.exists()
        if existed and path.is_file() and path.stat().st_size == 0:
            # A journal is never empty once created (the schema is written at once): an empty
            # file is a truncated or wrongly restored one, and starting afresh would forget
            # every unresolved entry.
            raise JournalIntegrityError(str(path), "the file exists but is empty (0 bytes)")
        try:
            _create_owner_only(path)
            db = SqliteDatabase(path)
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open journal {path}: {exc}") from exc
        try:
            if existed and not _unchanged_since_closed(path):
                problems = [str(row[0]) for row in db.execute("PRAGMA quick_check(5)").fetchall()]
                if problems != ["ok"]:
                    raise JournalIntegrityError(str(path), "; ".join(problems))
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":  # e.g. a network file system; WAL needs shared memory
                raise JournalError(f"journal {path}: WAL mode unavailable (got {mode!r})")
            db.execute("PRAGMA synchronous=NORMAL")  # `begin` switches to FULL for its commit
            upgrade(db)
        except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed", ...
            db.close()
            raise JournalIntegrityError(str(path), str(exc)) from exc
        except (OSError, sqlite3.Error, JournalError):
            db.close()
            raise
        return db

    def _open_postgres(self, url: str) -> Database:
        db = PostgresDatabase(url)
        try:
            upgrade(db)
        except db.errors as exc:
            db.close()
            raise JournalError(f"journal {db.location}: cannot prepare the schema: {exc}") from exc
        except JournalError:
            db.close()
            raise
        return db

    @property
    def postgres(self) -> bool:
        return self._db.dialect == "postgresql"

    @property
    def path(self) -> Path:
        """The journal file (a SQLite journal only)."""
        if isinstance(self._db, SqliteDatabase):
            return self._db.path
        raise JournalError(f"journal {self.location} is a PostgreSQL database, not a file")

    @property
    def database(self) -> Database:
        """The connection (for the stores that share the journal's database, and for tests)."""
        return self._db

    def _text(self, text: str | None) -> str | bytes | None:
        """XML as stored: compressed in SQLite when long; PostgreSQL's TOAST compresses itself."""
        if text is None:
            return None
        return _postgres_text(text) if self.postgres else _stored_xml(text)

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """A database error while writing, as a JournalError naming what could not be written."""
        try:
            yield
        except self._errors as exc:
            raise JournalError(f"journal {self.location}: {what}: {exc}") from exc

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
        institution: str | None = None,
    ) -> int:
        """Record a request as `pending`; returns the entry id. Call before sending.

        Committed before it returns: this is the write-ahead step. The password is redacted.
        `exclusive` (state-changing calls from the client): refuse with UnresolvedEntryError,
        writing nothing, while a state-changing entry on the same business is pending or
        unknown; the check and the insert are one transaction, and unique indexes refuse a
        second guarded entry across processes and nodes too.
        `answer_window_s`: how long the sender will wait for the answer (recovery concludes
        "not committed" only after it). `institution`: the akb020 it is sent for (default: the
        request's akb020).
        """
        if kind not in KINDS:
            raise JournalError(f"unknown kind {kind!r}; expected one of {sorted(KINDS)}")
        now = _iso(self._clock())
        owner = self.owner
        guard = exclusive and kind == "state_changing"
        row = (now, function_id, kind, akb020, aaz218, his_ref, self._text(redact_password(request_xml)),
               now, aac001, owner.pid, owner.started, owner.host, answer_window_s,
               institution or akb020, int(guard), self.node)
        with self._lock:
            try:
                entry_id = self._insert(row, function_id, aaz218, aac001, guard,
                                        durable=kind == "state_changing")
            except self._errors as exc:  # e.g. disk full: nothing was sent
                raise JournalError(f"journal {self.location}: cannot record {function_id} before sending "
                                   f"it, nothing sent: {exc}") from exc
            self._mine.add(entry_id)
            with _IN_FLIGHT_LOCK:
                _IN_FLIGHT.setdefault(self._key, set()).add(entry_id)
        return entry_id

    def _insert(self, row: tuple[Any, ...], function_id: str, aaz218: str | None, aac001: str | None,
                guard: bool, *, durable: bool) -> int:
        # The pending entry of a state change must survive even a power cut between here and the
        # province committing it: this commit alone waits for the disk (SQLite synchronous=FULL,
        # PostgreSQL synchronous_commit). A lost outcome record later is safe: the entry stays
        # pending and recovery asks the province. A query's or login's entry changes nothing at
        # the province: not worth the wait (D14, D41).
        try:
            with self._db.transaction(immediate=True, durable=durable):  # the guard's read and the insert
                if guard:
                    self._refuse_if_unresolved(function_id, aaz218, aac001)
                found = self._db.execute(
                    "INSERT INTO entries (created_at, function_id, kind, akb020, aaz218, his_ref,"
                    " request_xml, status, updated_at, aac001, owner_pid, owner_started, owner_host,"
                    " answer_window_s, institution, guarded, owner_node)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    row,
                ).fetchone()
        except self._db.unique_violation:
            if not guard:
                raise
            # Another process or node began a guarded change on this business after our check
            # read the table: the unique index refused ours. Name the entry it wrote.
            self._refuse_if_unresolved(function_id, aaz218, aac001)
            raise
        return int(found[0])

    def _refuse_if_unresolved(self, function_id: str, aaz218: str | None, aac001: str | None) -> None:
        if aaz218:
            business, where, value = f"aaz218 {aaz218}", "aaz218 = ?", aaz218
        elif aac001:
            # An opener (registration, admission) names no aaz218 yet: one per person at a time.
            business, where, value = f"aac001 {aac001}", "aac001 = ? AND aaz218 IS NULL", aac001
        else:
            return
        found = self._db.execute(
            "SELECT id, function_id, status FROM entries WHERE status IN ('pending', 'unknown')"
            f" AND kind = 'state_changing' AND {where} ORDER BY id LIMIT 1",
            (value,),
        ).fetchone()
        if found is not None:
            raise UnresolvedEntryError(function_id, business, int(found[0]), found[1], found[2])

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
        stored = self._text(response)
        try:
            with self._lock, self._writing(f"cannot record the outcome of entry {entry_id}"), \
                    self._db.transaction():
                current, settled_by = self._status_of(entry_id)
                if settled_by == "recovery" and current != Status.UNKNOWN:
                    self._reconcile(entry_id, current, target, message)
                    return
                self._check_transition(entry_id, target)
                self._db.execute(
                    "UPDATE entries SET status = ?, response_xml = ?, return_code = ?, message = ?,"
                    " duration_ms = ?, aaz218 = COALESCE(aaz218, ?), response_bytes = ?,"
                    " response_sha256 = ?, updated_at = ? WHERE id = ?",
                    (target, stored, return_code, message, duration_ms, aaz218, size, digest,
                     _iso(self._clock()), entry_id),
                )
        finally:
            self._release(entry_id)

    def _release(self, entry_id: int) -> None:
        self._mine.discard(entry_id)
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT.get(self._key, set()).discard(entry_id)

    def _status_of(self, entry_id: int) -> tuple[Status, str | None]:
        row = self._db.execute("SELECT status, settled_by FROM entries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise JournalError(f"journal entry {entry_id} does not exist")
        return Status(row[0]), row[1]

    def _reconcile(self, entry_id: int, settled: Status, live: Status, message: str | None) -> None:
        """A live outcome arriving for an entry recovery already settled (see `finish`)."""
        if live == Status.UNKNOWN or (live == Status.OK) == (settled == Status.OK):
            note = f"live outcome {live} agrees with recovery's {settled}"
            self._db.execute(
                "UPDATE entries SET message = COALESCE(message, '') || ' | ' || ? WHERE id = ?",
                (note, entry_id))
            return
        if live == Status.FAILED:  # no answer from the province to set against recovery's query
            log.error("journal entry %s: the live call was not sent, but recovery concluded %s",
                      entry_id, settled)
            self._db.execute(
                "UPDATE entries SET message = COALESCE(message, '') || ' | CONFLICT: the live call ended "
                "failed (not sent)' WHERE id = ?", (entry_id,))
            return
        log.error("journal entry %s: the province answered %s after recovery had settled it as %s; "
                  "recorded the answer, check this business", entry_id, live, settled)
        note = f"CONFLICT: the live call ended {live} ({message or 'no message'}) after recovery had " \
               f"concluded {settled}"
        self._db.execute(
            "UPDATE entries SET status = ?,"
            " message = CAST(? AS TEXT) || ' | before: ' || COALESCE(message, ''),"
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
        with self._lock, self._writing(f"cannot resolve entry {entry_id}"), self._db.transaction():
            row = self._db.execute("SELECT status FROM entries WHERE id = ?", (entry_id,)).fetchone()
            if row is not None and row[0] != Status.UNKNOWN:
                raise JournalError(f"journal entry {entry_id}: {row[0]}, only an unknown entry is resolved")
            self._check_transition(entry_id, target)
            self._db.execute(
                "UPDATE entries SET status = ?,"
                " message = CAST(? AS TEXT) || COALESCE(' | before: ' || message, ''),"
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
        except self._errors as exc:  # advisory: the outcome itself is already recorded
            log.warning("journal entry %s: %d deviation(s) not recorded: %s", entry_id, len(rows), exc)

    def _insert_deviations(self, rows: builtins.list[tuple[Any, ...]]) -> None:
        with self._lock, self._db.transaction():
            self._db.executemany(
                "INSERT INTO deviations (entry_id, seen_at, function_id, path, code, kind, sample,"
                " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def deviations(
        self, *, since: datetime | None = None, entry_id: int | None = None
    ) -> builtins.list[tuple[datetime, int, Deviation]]:
        """Recorded deviations, oldest first, as (seen_at, entry_id, deviation)."""
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        if since is not None:
            clauses.append("seen_at >= ?")
            params.append(_iso(since))
        if entry_id is not None:
            clauses.append("entry_id = ?")
            params.append(entry_id)
        where = "WHERE " + " AND ".join(clauses) if clauses else ""
        with self._lock:
            rows = self._db.execute(
                "SELECT seen_at, entry_id, function_id, path, code, kind, sample, detail"
                f" FROM deviations {where} ORDER BY id",
                params,
            ).fetchall()
        return [
            (_moment(seen) or datetime.min, int(entry),
             Deviation(function_id, path, code, DeviationKind(kind), sample, detail))
            for seen, entry, function_id, path, code, kind, sample, detail in rows
        ]

    def _check_transition(self, entry_id: int, target: Status) -> None:
        row = self._db.execute("SELECT status FROM entries WHERE id = ?", (entry_id,)).fetchone()
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

    def orphaned_pending(self, foreign_older_than: timedelta, *,
                         institution: str | None = None) -> builtins.list[Entry]:
        """`pending` entries nobody will finish, oldest first: their owner is gone, or it cannot
        be told (another host) and they are older than `foreign_older_than`. `institution`: only
        that akb020's (recovery asks the province with that institution's login)."""
        cutoff = self._clock() - foreign_older_than
        scope, params = _scoped(institution)
        pending = self._select(f"WHERE status = 'pending'{scope} ORDER BY created_at, id", params)
        return [entry for entry in pending if (alive := self.owner_alive(entry)) is False
                or (alive is None and entry.created_at < cutoff)]

    def take_over(self, entry_id: int, why: str) -> bool:
        """Mark an orphaned `pending` entry `unknown` for recovery; False if it is no longer pending."""
        with self._lock, self._writing(f"cannot take over entry {entry_id}"), self._db.transaction():
            cursor = self._db.execute(
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
        with self._lock, self._writing("cannot expire pending entries"), self._db.transaction():
            cursor = self._db.execute(
                "UPDATE entries SET status = 'unknown', updated_at = ?,"
                " message = 'process ended before the outcome was recorded'"
                " WHERE status = 'pending' AND created_at < ?",
                (_iso(now), _iso(now - older_than)),
            )
            return cursor.rowcount

    # --- nodes and leases ----------------------------------------------------------------

    def heartbeat(self, node: str | None = None, *, dead_after: float | None = None) -> None:
        """Record that `node` (default: this journal's node) is alive now; `dead_after`: the
        seconds of silence after which the nodes take it for dead (kept for `gdwi journal nodes`)."""
        with self._lock, self._writing("cannot record a heartbeat"), self._db.transaction():
            self._db.execute(
                "INSERT INTO nodes (node, last_beat, dead_after_s) VALUES (?, ?, ?)"
                " ON CONFLICT (node) DO UPDATE SET last_beat = excluded.last_beat, stopped_at = NULL,"
                " dead_after_s = COALESCE(excluded.dead_after_s, nodes.dead_after_s)",
                (node or self.node, _iso(self._clock()), dead_after))

    def goodbye(self, node: str | None = None) -> None:
        """Record that `node` stopped cleanly (its last beat stays as it was)."""
        with self._lock, self._writing("cannot record a goodbye"), self._db.transaction():
            self._db.execute("UPDATE nodes SET stopped_at = ? WHERE node = ?",
                             (_iso(self._clock()), node or self.node))

    def nodes(self) -> dict[str, datetime]:
        """Every node that ever beat, with its last beat."""
        return {row.node: row.last_beat for row in self.node_rows()}

    def node_rows(self) -> builtins.list[NodeRow]:
        """Every node that ever beat: its last beat, its goodbye and its dead-after, by name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT node, last_beat, stopped_at, dead_after_s FROM nodes ORDER BY node").fetchall()
        return [NodeRow(name, _moment(beat) or datetime.min, _moment(stopped),
                        None if dead_after is None else float(dead_after))
                for name, beat, stopped, dead_after in rows]

    def claim_orphans(self, node: str | None = None, *, lease: timedelta, dead_after: timedelta,
                      limit: int = 100, institution: str | None = None) -> builtins.list[Entry]:
        """Claim, for `node` and for `lease`, the entries it should settle; returns them (unknown).

        Claimed: pending or unknown entries whose owner node stopped beating (its last beat is
        older than `dead_after`), `node`'s own unknown entries, and unknown entries of processes
        that never beat (a `gdwi call`, an entry from before nodes); never one whose lease another
        node holds. A pending entry of a process that never beat is left to the pid-based
        `orphaned_pending` (its owner may still be sending). A claimed pending entry becomes
        unknown (its sender is gone). Each entry goes to exactly one claimer per lease: PostgreSQL
        locks the rows it picks and skips rows other claimers hold (FOR UPDATE SKIP LOCKED),
        SQLite takes the file's write lock. An entry still unsettled when its lease runs out can
        be claimed again (its claimer may have died). `institution`: only that akb020's entries.
        """
        claimer = node or self.node
        scope, scoped = _scoped(institution)
        now = self._clock()
        stamp, dead = _iso(now), _iso(now - dead_after)
        with self._lock, self._writing("cannot claim entries"), self._db.transaction(immediate=True):
            rows = self._db.execute(
                "SELECT id, status, owner_node FROM entries"
                " WHERE status IN ('pending', 'unknown') AND (lease_until IS NULL OR lease_until < ?)"
                " AND ((status = 'unknown' AND (owner_node = ? OR owner_node IS NULL"
                " OR owner_node NOT IN (SELECT node FROM nodes)))"
                f" OR owner_node IN (SELECT node FROM nodes WHERE last_beat < ? AND node <> ?)){scope}"
                f" ORDER BY id LIMIT ?{self._db.skip_locked}",
                (stamp, claimer, dead, claimer, *scoped, limit)).fetchall()
            until = _iso(now + lease)
            for entry_id, status, owner_node in rows:
                why = None if status == Status.UNKNOWN else \
                    f"node {owner_node} stopped heart-beating; taken over by node {claimer}"
                self._db.execute(
                    "UPDATE entries SET lease_node = ?, lease_until = ?, status = 'unknown',"
                    " message = COALESCE(?, message), updated_at = ? WHERE id = ?",
                    (claimer, until, why, stamp, entry_id))
            ids = [int(row[0]) for row in rows]
        return [entry for entry_id in ids if (entry := self.get(entry_id)) is not None]

    def release_lease(self, entry_id: int, node: str | None = None) -> bool:
        """Give back `node`'s lease on an entry before it runs out (e.g. the province is down)."""
        with self._lock, self._writing(f"cannot release entry {entry_id}"), self._db.transaction():
            cursor = self._db.execute(
                "UPDATE entries SET lease_node = NULL, lease_until = NULL WHERE id = ? AND lease_node = ?",
                (entry_id, node or self.node))
            return cursor.rowcount == 1

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
        institution: str | None = None,
        limit: int = 100,
    ) -> builtins.list[Entry]:
        """Entries matching every given filter, newest first. `day` is a local calendar day."""
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        if day is not None:
            clauses.append("created_at >= ? AND created_at < ?")
            params.extend(_local_day_bounds(day))
        filters = (("function_id", function_id), ("status", status), ("aaz218", aaz218),
                   ("institution", institution))
        for column, value in filters:
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(str(value))
        where = "WHERE " + " AND ".join(clauses) if clauses else ""
        return self._select(f"{where} ORDER BY created_at DESC, id DESC LIMIT ?", (*params, limit))

    def unknown_entries(self, *, institution: str | None = None) -> builtins.list[Entry]:
        """Entries whose outcome is unknown, oldest first (the order to resolve them in);
        `institution`: only that akb020's."""
        scope, params = _scoped(institution)
        return self._select(f"WHERE status = 'unknown'{scope} ORDER BY created_at, id", params)

    def stale_pending(self, older_than: timedelta, *, institution: str | None = None) -> builtins.list[Entry]:
        """`pending` entries older than `older_than`, oldest first: what `expire_pending` takes."""
        cutoff = _iso(self._clock() - older_than)
        scope, params = _scoped(institution)
        return self._select(f"WHERE status = 'pending' AND created_at < ?{scope} ORDER BY created_at, id",
                            (cutoff, *params))

    def history(self, aaz218: str) -> builtins.list[Entry]:
        """Every entry on one visit or stay, in the order they were written (id order)."""
        return self._select("WHERE aaz218 = ? ORDER BY id", (aaz218,))

    def _select(self, tail: str, params: tuple[Any, ...]) -> builtins.list[Entry]:
        with self._lock:
            try:
                rows = self._db.execute(f"SELECT {_COLUMNS} FROM entries {tail}", params).fetchall()
            except self._errors as exc:
                raise JournalError(f"journal {self.location}: cannot read entries: {exc}") from exc
        return [_entry(row) for row in rows]

    # --- lifetime -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            for entry_id in list(self._mine):  # never finished here: nobody will finish them now
                self._release(entry_id)
            self._db.close()
            if isinstance(self._db, SqliteDatabase) and self._db.path.exists():
                _mark_closed(self._db.path)

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_journal(target: str | Path, *, clock: Callable[[], datetime] = _utc_now,
                 node: str | None = None) -> Journal:
    """The journal a `journal` setting names: a SQLite file path, or a `postgresql://` URL."""
    return Journal(target, clock=clock, node=node)
