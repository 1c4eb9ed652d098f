"""The journal's database: one SQLite file (the default) or a PostgreSQL server (`postgresql://…`).

The journal, the code tables and the gateway's idempotency keys share it. Code above this module
writes its SQL once, with `?` placeholders and the common subset of both dialects; a `Database`
runs it on its backend and says what differs (types in DDL, row locking, durability switches).

A PostgreSQL URL may carry a password: `mask_dsn` replaces it in anything shown or logged, and
`Database.location` is always the masked form.
"""

from __future__ import annotations

import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from adapter.errors import JournalError

__all__ = ["POSTGRES_SCHEMES", "Cursor", "Database", "PostgresDatabase", "SqliteDatabase", "connect",
           "db_errors", "is_postgres", "mask_dsn"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# user:password@ in a URL, and password=… in a libpq keyword string.
_URL_PASSWORD = re.compile(r"(?P<head>postgres(?:ql)?://[^:/?#@\s]*):[^@\s]*@", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", re.IGNORECASE)


def is_postgres(target: str | Path) -> bool:
    """Whether a journal setting names a PostgreSQL database rather than a SQLite file."""
    return isinstance(target, str) and target.strip().lower().startswith(POSTGRES_SCHEMES)


def mask_dsn(text: str) -> str:
    """`text` with every PostgreSQL password in it replaced by ***: a URL's user:password@ and a
    `password=` keyword (in a URL's query or a libpq connection string)."""
    return _KEYWORD_PASSWORD.sub(r"\g<head>***", _URL_PASSWORD.sub(r"\g<head>:***@", text))


class Cursor(Protocol):
    """What both drivers' cursors give back."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int) -> list[Any]: ...


class Database(ABC):
    """One connection. Not thread-safe by itself: its owner holds a lock around each use."""

    dialect: str
    location: str  # what to show: the file, or the URL without its password
    errors: tuple[type[BaseException], ...]
    unique_violation: type[BaseException]
    skip_locked: str  # appended to a SELECT that claims rows ("" where a whole-file lock does it)

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    @abstractmethod
    def transaction(self, *, immediate: bool = False, durable: bool = False) -> AbstractContextManager[None]:
        """One transaction, committed on success. `immediate`: take the write lock first (SQLite);
        `durable=False`: the commit may skip waiting for the disk (a query's entry, D41)."""

    @abstractmethod
    def close(self) -> None: ...

    def lock_schema(self) -> None:
        """Inside a transaction, before CREATE … IF NOT EXISTS: wait for any other process doing
        schema work (PostgreSQL's IF NOT EXISTS is not safe when two sessions create one table
        at once; SQLite's write lock already serialises it)."""
        return None  # the default: a backend whose write lock already serialises schema work


# Any 64-bit number of our own: serialises schema work (migrations, the stores' tables) across
# every gdwi process on one PostgreSQL database.
SCHEMA_LOCK = 0x6764_7769_0001


class SqliteDatabase(Database):
    dialect = "sqlite"
    errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
    unique_violation = sqlite3.IntegrityError
    skip_locked = ""

    def __init__(self, path: Path, *, timeout: float = 5.0) -> None:
        self.path = path
        self.location = str(path)
        self.conn = sqlite3.connect(path, check_same_thread=False, timeout=timeout)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    @contextmanager
    def transaction(self, *, immediate: bool = False, durable: bool = False) -> Iterator[None]:
        # Outcomes are written with synchronous=NORMAL (durable against a crash of this process);
        # a durable commit switches to FULL for itself (fsynced before it returns).
        if durable:
            self.conn.execute("PRAGMA synchronous=FULL")
        try:
            if immediate:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self.conn.commit()
                except BaseException:
                    self.conn.rollback()
                    raise
            else:
                with self.conn:
                    yield
        finally:
            if durable:
                self.conn.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        self.conn.close()


class PostgresDatabase(Database):
    dialect = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        try:
            import psycopg
        except ImportError as exc:  # the optional `postgres` extra
            raise JournalError("a postgresql:// journal needs psycopg: pip install 'gdwi[postgres]'") from exc
        self.location = mask_dsn(url)
        self.errors = (psycopg.Error,)
        self.unique_violation = psycopg.errors.UniqueViolation
        self._url, self._timeout = url, timeout
        self.conn = self._connect()

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self._url, autocommit=True, connect_timeout=max(1, int(self._timeout)),
                                   application_name="gdwi")
        except psycopg.Error as exc:
            raise JournalError(f"cannot open journal {self.location}: {mask_dsn(str(exc))}") from None

    def _live(self) -> Any:
        """The connection, opened again if the last use found it lost (a server restart, a network
        cut, a failover): that use failed; the next one works again once the server is back."""
        if self.conn.broken:
            self.conn.close()
            self.conn = self._connect()
        return self.conn

    @staticmethod
    def _sql(sql: str) -> str:
        # The callers write `?`; psycopg takes `%s` (no literal % appears in our SQL).
        return sql.replace("?", "%s")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._live().execute(self._sql(sql), params)  # type: ignore[no-any-return]

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._live().cursor() as cursor:
            cursor.executemany(self._sql(sql), rows)

    @contextmanager
    def transaction(self, *, immediate: bool = False, durable: bool = False) -> Iterator[None]:
        # Row locks and unique indexes do what SQLite's whole-file lock does: `immediate` is moot.
        del immediate
        with self._live().transaction():
            if not durable:
                self.conn.execute("SET LOCAL synchronous_commit TO OFF")
            yield

    def close(self) -> None:
        self.conn.close()

    def lock_schema(self) -> None:
        self.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))


def db_errors(target: str | Path) -> tuple[type[BaseException], ...]:
    """The driver's error classes for a target, without connecting (psycopg only if installed)."""
    if not is_postgres(target):
        return (sqlite3.Error,)
    try:
        import psycopg
    except ImportError:
        return ()
    return (psycopg.Error,)


def connect(target: str | Path, *, timeout: float = 5.0) -> Database:
    """A connection to the database a journal setting names (a path, or a postgresql:// URL)."""
    if is_postgres(target):
        return PostgresDatabase(str(target).strip(), timeout=timeout)
    return SqliteDatabase(Path(target), timeout=timeout)
