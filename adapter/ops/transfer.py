"""`gdwi journal migrate`: copy a SQLite journal into a PostgreSQL database.

Entries (with their ids, so every reference to "journal entry 42" stays true), deviations and
the synced code tables, in one transaction on the target: it holds all of them or none. A target
that already holds entries is refused unless `force`, which replaces what it holds; running the
same copy again with `force` gives the same target (idempotent). The source file is opened like
any journal, so an old one is upgraded in place first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapter.errors import ConfigError, InputError
from adapter.ops.codes import CodeStore
from adapter.wire.database import Database, is_postgres
from adapter.wire.journal import Journal, open_journal
from adapter.wire.journal.core import entry_columns, readable_xml

__all__ = ["Copied", "copy_journal"]

_BATCH = 500
_DEVIATION_COLUMNS = ("id", "entry_id", "seen_at", "function_id", "path", "code", "kind", "sample", "detail")
_CODE_COLUMNS = ("list", "code", "label", "center", "synced_at")


@dataclass(frozen=True)
class Copied:
    """What one copy moved, and how many entries it moved that are still to settle."""

    entries: int
    deviations: int
    code_rows: int
    unresolved: int  # pending or unknown: settle them (`gdwi journal recover`) on the new journal


def copy_journal(source: str | Path, target: str, *, force: bool = False) -> Copied:
    """Copy the SQLite journal `source` into the PostgreSQL database `target` (a URL)."""
    if not is_postgres(target):
        raise InputError(None, ["--to: a postgresql:// URL (the journal to copy into)"])
    if is_postgres(source) or not Path(source).is_file():
        raise ConfigError(f"no SQLite journal at {source} to copy from")
    with open_journal(source) as old, open_journal(target) as new:
        has_codes = _has_code_tables(old.database)
        if has_codes:  # created up front: DDL outside the copying transaction
            CodeStore(target).close()
        db = new.database
        with db.transaction(durable=True):
            held = int(db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
            if held and not force:
                raise InputError(None, [f"{new.location} already holds {held} journal entries: "
                                        "--force replaces them with the copy"])
            _empty(db, codes=has_codes)
            entries = _copy_entries(old, db)
            deviations = _copy(old.database, db, "deviations", _DEVIATION_COLUMNS)
            codes = _copy(old.database, db, "code_tables", _CODE_COLUMNS) if has_codes else 0
            for table in ("entries", "deviations"):  # new ids continue after the copied ones
                db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST("
                           f"(SELECT MAX(id) FROM {table}), 1), (SELECT COUNT(*) > 0 FROM {table}))")
        unresolved = int(db.execute(
            "SELECT COUNT(*) FROM entries WHERE status IN ('pending', 'unknown')").fetchone()[0])
    return Copied(entries, deviations, codes, unresolved)


def _has_code_tables(db: Database) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'code_tables'"
                      ).fetchone() is not None


def _empty(db: Database, *, codes: bool) -> None:
    db.execute("DELETE FROM deviations")
    db.execute("DELETE FROM entries")
    if codes:
        db.execute("DELETE FROM code_tables")


def _copy_entries(old: Journal, db: Database) -> int:
    columns = entry_columns()
    xml = [columns.index("request_xml"), columns.index("response_xml")]

    def convert(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for index in xml:  # SQLite keeps long XML compressed; PostgreSQL takes text
            values[index] = readable_xml(values[index], postgres=True)
        return tuple(values)

    return _copy(old.database, db, "entries", columns, convert)


def _copy(source: Database, target: Database, table: str, columns: tuple[str, ...],
          convert: Any = None) -> int:
    names = ", ".join(columns)
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' for _ in columns)})"
    cursor = source.execute(f"SELECT {names} FROM {table} ORDER BY 1")
    copied = 0
    while batch := cursor.fetchmany(_BATCH):
        rows = [convert(row) for row in batch] if convert else batch
        target.executemany(insert, rows)
        copied += len(rows)
    return copied
