"""One sys0001 session per institution for every gateway node on one PostgreSQL journal database.

The in-process session (session.py) is enough for one process: its lock makes concurrent callers
share one login. Several nodes need the same across processes, so the session lives in the
journal's database, a row per institution:

    gdwi_sessions (institution PRIMARY KEY, session_id, expires_at, node, logged_in_at, logins)

A node that needs a session reads the row. When it has none (first use, midnight) or the row holds
exactly the session the province just answered -9 for, the node takes a transaction-scoped
advisory lock keyed by the institution (`pg_advisory_xact_lock`), reads the row again, and only if
it is still missing or still that stale session logs in and writes the new one. Every other node
that saw the same -9 waits on the lock, then finds a session different from its stale one and
uses it: a compare-and-swap on the stale session id, so one -9 makes exactly one login across all
nodes, and a node reporting an older -9 than the row's never logs in again. Each node keeps the
session it read in memory until it expires or is answered -9 (no database round trip per call).

The session id is a credential for the day: logs and views show its first four characters only
(`shown`), as the journal view does (D40).
"""

from __future__ import annotations

import asyncio
import threading
import zlib
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from adapter.errors import JournalError
from adapter.wire.database import Database, mask_dsn
from adapter.wire.session import _Held, _SessionState, _utc_now, next_midnight

__all__ = ["SessionRow", "SessionTable", "SharedAsyncSession", "SharedSession", "shown"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gdwi_sessions (
    institution TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    node TEXT,
    logged_in_at TEXT NOT NULL,
    logins BIGINT NOT NULL DEFAULT 0
)
"""
# gdwi's session logins in the advisory-lock key space: "gdwi" in the high 32 bits of the key.
_LOCK_SPACE = 0x6764_7769 << 32


def shown(session_id: str | None) -> str:
    """A session id as logs and views may show it: its first four characters (as mask_session_ids)."""
    return "" if not session_id else f"{session_id[:4]}****"


def lock_key(institution: str) -> int:
    """The advisory lock's key for one institution's login: a stable hash of its code."""
    return _LOCK_SPACE | zlib.crc32(institution.encode("utf-8"))


class SessionRow:
    """One institution's shared session as the table holds it."""

    def __init__(self, institution: str, session_id: str, expires_at: datetime, node: str | None,
                 logged_in_at: datetime, logins: int) -> None:
        self.institution = institution
        self.session_id = session_id
        self.expires_at = expires_at
        self.node = node
        self.logged_in_at = logged_in_at
        self.logins = logins

    def usable(self, now: datetime, stale: str | None) -> bool:
        return now < self.expires_at and self.session_id != stale

    def __repr__(self) -> str:  # never the whole session id
        return (f"SessionRow({self.institution}, {shown(self.session_id)}, expires "
                f"{self.expires_at.isoformat()}, node {self.node}, logins {self.logins})")


class SessionTable:
    """The `gdwi_sessions` table on a connection of its own (`database`, PostgreSQL): the advisory
    lock is held by that connection's transaction while one node logs in."""

    def __init__(self, database: Database, node: str) -> None:
        if database.dialect != "postgresql":
            raise ValueError("a shared session needs a PostgreSQL journal database")
        self._db = database
        self._node = node
        self._lock = threading.Lock()  # the connection is not thread-safe by itself
        with self._lock, self._db.transaction():
            self._db.lock_schema()  # nodes start together
            self._db.execute(_SCHEMA)

    @contextmanager
    def _using(self, what: str) -> Iterator[None]:
        """The connection, one user at a time; a driver error becomes JournalError (the gateway
        answers 503: nothing was sent)."""
        with self._lock:
            try:
                yield
            except self._db.errors as exc:
                raise JournalError(f"shared session: cannot {what}: {type(exc).__name__}: "
                                   f"{mask_dsn(str(exc))}") from exc

    def read(self, institution: str) -> SessionRow | None:
        with self._using("read the session"):
            return self._read(institution)

    def rows(self) -> list[SessionRow]:
        with self._using("read the sessions"):
            found = self._db.execute(f"SELECT {_COLUMNS} FROM gdwi_sessions ORDER BY institution").fetchall()
        return [_row(values) for values in found]

    def take(self, institution: str, stale: str | None, login: Callable[[], str],
             clock: Callable[[], datetime] = _utc_now) -> tuple[SessionRow, bool]:
        """A usable session for `institution` (not `stale`): the row's, or a new one from `login`,
        which then runs on exactly one node at a time. Returns the row and whether this call
        logged in."""
        with self._using("read or store the session"):
            row = self._read(institution)
            if row is not None and row.usable(clock(), stale):
                return row, False
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(CAST(? AS BIGINT))", (lock_key(institution),))
                row = self._read(institution)
                if row is not None and row.usable(clock(), stale):
                    return row, False  # another node logged in while this one waited
                session_id = login()
                now = clock()
                expires = next_midnight(now)
                self._db.execute(
                    "INSERT INTO gdwi_sessions (institution, session_id, expires_at, node, logged_in_at,"
                    " logins) VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (institution) DO UPDATE SET"
                    " session_id = excluded.session_id, expires_at = excluded.expires_at,"
                    " node = excluded.node, logged_in_at = excluded.logged_in_at,"
                    " logins = gdwi_sessions.logins + 1",
                    (institution, session_id, _iso(expires), self._node, _iso(now)))
                logins = (row.logins if row is not None else 0) + 1
                return SessionRow(institution, session_id, expires, self._node, now, logins), True

    def _read(self, institution: str) -> SessionRow | None:
        found = self._db.execute(f"SELECT {_COLUMNS} FROM gdwi_sessions WHERE institution = ?",
                                 (institution,)).fetchone()
        return _row(found) if found is not None else None

    def close(self) -> None:
        with self._lock:
            self._db.close()


_COLUMNS = "institution, session_id, expires_at, node, logged_in_at, logins"


def _row(values: tuple[object, ...]) -> SessionRow:
    institution, session_id, expires_at, node, logged_in_at, logins = values
    return SessionRow(str(institution), str(session_id), datetime.fromisoformat(str(expires_at)),
                      None if node is None else str(node), datetime.fromisoformat(str(logged_in_at)),
                      int(str(logins)))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class SharedSession(_SessionState):
    """The client's session when its journal is on PostgreSQL: shared by every node (see above).

    Drop-in for SyncSession: `get(stale)` and `invalidate`. `logins` counts the logins this
    process made (the table's `logins` counts every node's)."""

    def __init__(self, login: Callable[[], str], table: SessionTable, institution: str,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        super().__init__(clock)
        self._login = login
        self._table = table
        self._institution = institution
        self._lock = threading.Lock()

    def get(self, stale: str | None = None) -> str:
        current = self.valid(stale)
        if current is not None:
            return current
        with self._lock:
            current = self.valid(stale)
            if current is not None:
                return current
            row, logged_in = self._table.take(self._institution, stale, self._login, self._clock)
            self._held = _Held(row.session_id, row.expires_at)
            if logged_in:
                self.logins += 1
            return row.session_id

    def close(self) -> None:
        self._table.close()


class SharedAsyncSession(_SessionState):
    """SharedSession for the AsyncClient: the table is used in a worker thread (its connection is
    synchronous) and the login, a coroutine, runs on the caller's event loop meanwhile."""

    def __init__(self, login: Callable[[], Coroutine[Any, Any, str]], table: SessionTable, institution: str,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        super().__init__(clock)
        self._login = login
        self._table = table
        self._institution = institution
        self._lock = asyncio.Lock()

    async def get(self, stale: str | None = None) -> str:
        current = self.valid(stale)
        if current is not None:
            return current
        async with self._lock:
            current = self.valid(stale)
            if current is not None:
                return current
            loop = asyncio.get_running_loop()

            def login_on_the_loop() -> str:
                return asyncio.run_coroutine_threadsafe(self._login(), loop).result()

            row, logged_in = await asyncio.to_thread(self._table.take, self._institution, stale,
                                                     login_on_the_loop, self._clock)
            self._held = _Held(row.session_id, row.expires_at)
            if logged_in:
                self.logins += 1
            return row.session_id

    def close(self) -> None:
        self._table.close()
