"""`gdwi journal migrate`: copy a SQLite journal into a PostgreSQL database.

Entries, deviations, the synced code tables and the gateway's Idempotency-Keys, in one
transaction on the target: it holds all of them or none. The source file is opened like any
journal, so an old one is upgraded in place first. What happens depends on what the target holds
(decision D63):

- nothing: a plain copy, ids kept (every reference to "journal entry 42" stays true);
- only entries of other institutions (a group's journal, a further hospital moving in): the
  entries are appended with new ids from the target's sequence, in their old order, and the
  deviations follow their entries;
- entries of the source's own institution(s): refused (a second migration of the same journal
  would hold every entry twice) unless `force`, which replaces exactly those institutions'
  entries (their deviations and keys too) and never touches another institution's. A target that
  holds nothing else is replaced whole, so the same forced copy run again gives the same target.

Idempotency-Keys: a single-institution gateway stores a key as sent, a group gateway as
"<akb020>\\t<key>" (adapter/gateway/app.py). With `group` (default: when the target already holds
another institution's entries or scoped keys) the source's unscoped keys are stored scoped by
its institution, so a HIS that resends with the same key after the move gets the replay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from adapter.errors import ConfigError, InputError, JournalError
from adapter.ops.codes import CodeStore
from adapter.wire.database import Database, is_postgres
from adapter.wire.journal import Journal, open_journal
from adapter.wire.journal.core import entry_columns, readable_xml

__all__ = ["Copied", "copy_journal"]

_BATCH = 500
_DEVIATION_COLUMNS = ("id", "entry_id", "seen_at", "function_id", "path", "code", "kind", "sample", "detail")
_CODE_COLUMNS = ("list", "code", "label", "center", "synced_at")
_KEY_COLUMNS = ("key", "fingerprint", "state", "status", "answer", "created_at")
_KEYS = "gateway_idempotency"
Convert = Callable[[tuple[Any, ...]], tuple[Any, ...]]


@dataclass(frozen=True)
class Copied:
    """What one copy moved, and how many entries it moved that are still to settle."""

    entries: int
    deviations: int
    code_rows: int
    unresolved: int  # pending or unknown: settle them (`gdwi journal recover`) on the new journal
    keys: int = 0  # Idempotency-Keys copied
    keys_scoped: bool = False  # stored under the institution's code (as a group gateway looks them up)
    appended: bool = False  # new ids (the target held other institutions' entries)
    replaced: int = 0  # entries of the source's institutions the target held and `force` replaced
    institutions: tuple[str, ...] = ()  # of the source's entries
    new_ids: dict[int, int] = field(default_factory=dict)  # old id -> new id, when appended


@dataclass(frozen=True)
class _Held:
    """The target's entries by institution (None: entries that name none)."""

    counts: dict[str | None, int]

    def of(self, institutions: set[str]) -> int:
        return sum(count for code, count in self.counts.items() if code in institutions)

    def others(self, institutions: set[str]) -> set[str]:
        return {code for code in self.counts if code is not None and code not in institutions}


def copy_journal(source: str | Path, target: str, *, force: bool = False,
                 group: bool | None = None) -> Copied:
    """Copy the SQLite journal `source` into the PostgreSQL database `target` (a URL)."""
    if not is_postgres(target):
        raise InputError(None, ["--to: a postgresql:// URL (the journal to copy into)"])
    if is_postgres(source) or not Path(source).is_file():
        raise ConfigError(f"no SQLite journal at {source} to copy from")
    with open_journal(source) as old, open_journal(target) as new:
        has_codes, has_keys = _has_table(old.database, "code_tables"), _has_table(old.database, _KEYS)
        if has_codes:  # created up front: DDL outside the copying transaction
            CodeStore(target).close()
        if has_keys:
            from adapter.gateway.idempotency import IdempotencyStore

            IdempotencyStore(target).close()
        mine = _institutions(old.database)
        nameless = old.database.execute("SELECT 1 FROM entries WHERE institution IS NULL LIMIT 1"
                                        ).fetchone() is not None
        source_has = _Source(mine, nameless, has_codes, has_keys)
        try:
            copied = _copy_once(old, new, source_has, force=force, group=group)
        except new.database.errors as exc:  # e.g. an unresolved business of the copy clashes with one held
            raise JournalError(f"{new.location}: nothing copied (the whole copy was rolled back): "
                               f"{type(exc).__name__}: {exc}") from exc
        unresolved = int(old.database.execute(
            "SELECT COUNT(*) FROM entries WHERE status IN ('pending', 'unknown')").fetchone()[0])
    return replace(copied, unresolved=unresolved)


@dataclass(frozen=True)
class _Source:
    institutions: set[str]  # of its entries
    nameless: bool  # it holds entries that name no institution
    codes: bool  # it has code tables
    keys: bool  # it has Idempotency-Keys


def _copy_once(old: Journal, new: Journal, source: _Source, *, force: bool, group: bool | None) -> Copied:
    """The whole copy, in one transaction on the target."""
    db, mine = new.database, source.institutions
    with db.transaction(durable=True):
        # One migration at a time (two runs of the same copy must not both find the target free);
        # the nodes' own writes are not held up.
        db.execute("SELECT pg_advisory_xact_lock(hashtext('gdwi journal migrate'))")
        held = _held(db)
        replaced = _make_room(db, new.location, held, mine, source.nameless, force=force)
        whole = replaced > 0 and not held.others(mine)  # `force` over nothing of anyone else's
        appended = _count(db, "entries") > 0 and not whole
        scoped = group if group is not None else bool(held.others(mine)) or _has_scoped_keys(db)
        if not appended:
            _empty(db, codes=source.codes, keys=source.keys)
        entries, deviations, codes, new_ids = _copy_all(old, db, appended=appended, codes=source.codes)
        keys = _copy_keys(old.database, db, scope=_scope(mine) if scoped else None) if source.keys else 0
    return Copied(entries, deviations, codes, 0, keys, scoped and source.keys, appended, replaced,
                  tuple(sorted(mine)), new_ids)


def _has_table(db: Database, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
                      ).fetchone() is not None


def _institutions(db: Database) -> set[str]:
    rows = db.execute("SELECT DISTINCT institution FROM entries WHERE institution IS NOT NULL").fetchall()
    return {str(row[0]) for row in rows}


def _held(db: Database) -> _Held:
    rows = db.execute("SELECT institution, COUNT(*) FROM entries GROUP BY institution").fetchall()
    return _Held({row[0]: int(row[1]) for row in rows})


def _count(db: Database, table: str) -> int:
    return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _among(institutions: set[str]) -> str:
    if not institutions:
        return " AND institution IS NULL"
    return f" AND institution IN ({', '.join('?' for _ in institutions)})"


def _make_room(db: Database, location: str, held: _Held, mine: set[str], nameless: bool, *,
               force: bool) -> int:
    """Refuse a second copy of the same institutions, or (`force`) delete their entries; returns
    how many were deleted. Another institution's entries are never touched."""
    clash = held.of(mine)
    if not mine and nameless:  # entries that name no institution: only an empty target is safe
        clash += held.counts.get(None, 0)
    if not clash:
        return 0
    codes = ", ".join(sorted(mine)) or "no institution"
    if not force:
        raise InputError(None, [
            f"{location} already holds {clash} journal entries of {codes} (this journal migrated before?): "
            "nothing copied; --force replaces exactly those entries with the copy"])
    if not held.others(mine):  # nothing of anyone else's: the whole target is replaced, ids kept
        return sum(held.counts.values())
    scope, codes_list = _among(mine), sorted(mine)
    db.execute(f"DELETE FROM deviations WHERE entry_id IN (SELECT id FROM entries WHERE TRUE{scope})",
               codes_list)
    db.execute(f"DELETE FROM entries WHERE TRUE{scope}", codes_list)
    if _has_pg_table(db, _KEYS):
        for code in codes_list:
            db.execute(f"DELETE FROM {_KEYS} WHERE key LIKE ?", (f"{code}\t_%",))
    return clash


def _has_pg_table(db: Database, name: str) -> bool:
    return db.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()[0] is True


def _has_scoped_keys(db: Database) -> bool:
    if not _has_pg_table(db, _KEYS):
        return False
    return db.execute(f"SELECT 1 FROM {_KEYS} WHERE strpos(key, chr(9)) > 0 LIMIT 1").fetchone() is not None


def _scope(institutions: set[str]) -> str:
    if len(institutions) != 1:
        raise InputError(None, [f"--group: the journal holds entries of {len(institutions)} institutions, so "
                                "its unscoped Idempotency-Keys cannot be given one; use --no-group"])
    return next(iter(institutions))


def _empty(db: Database, *, codes: bool, keys: bool) -> None:
    db.execute("DELETE FROM deviations")
    db.execute("DELETE FROM entries")
    if codes:
        db.execute("DELETE FROM code_tables")
    if keys:
        db.execute(f"DELETE FROM {_KEYS}")


def _copy_all(old: Journal, db: Database, *, appended: bool,
              codes: bool) -> tuple[int, int, int, dict[int, int]]:
    if not appended:
        entries = _copy(old.database, db, "entries", entry_columns(), _xml_converter(entry_columns()))
        deviations = _copy(old.database, db, "deviations", _DEVIATION_COLUMNS)
        for table in ("entries", "deviations"):  # new ids continue after the copied ones
            db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST("
                       f"(SELECT MAX(id) FROM {table}), 1), (SELECT COUNT(*) > 0 FROM {table}))")
        new_ids: dict[int, int] = {}
    else:
        new_ids = _append_entries(old.database, db)
        entries = len(new_ids)
        deviations = _copy(old.database, db, "deviations", _DEVIATION_COLUMNS[1:],
                           lambda row: (new_ids[row[0]], *row[1:]))
    code_rows = _copy(old.database, db, "code_tables", _CODE_COLUMNS, conflict="(list, code, center)") \
        if codes else 0
    return entries, deviations, code_rows, new_ids


def _xml_converter(columns: Sequence[str]) -> Convert:
    xml = [columns.index("request_xml"), columns.index("response_xml")]

    def convert(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for index in xml:  # SQLite keeps long XML compressed; PostgreSQL takes text
            values[index] = readable_xml(values[index], postgres=True)
        return tuple(values)

    return convert


def _append_entries(source: Database, target: Database) -> dict[int, int]:
    """Every source entry under a new id taken from the target's sequence (old order kept)."""
    columns = entry_columns()
    readable = _xml_converter(columns)
    names = ", ".join(columns)
    insert = f"INSERT INTO entries ({names}) VALUES ({', '.join('?' for _ in columns)})"
    cursor = source.execute(f"SELECT {names} FROM entries ORDER BY id")
    new_ids: dict[int, int] = {}
    while batch := cursor.fetchmany(_BATCH):
        fresh = sorted(int(row[0]) for row in target.execute(
            "SELECT nextval(pg_get_serial_sequence('entries', 'id')) FROM generate_series(1, ?)",
            (len(batch),)).fetchall())
        rows = []
        for row, new_id in zip(batch, fresh, strict=True):
            new_ids[int(row[0])] = new_id
            rows.append((new_id, *readable(row)[1:]))
        target.executemany(insert, rows)
    return new_ids


def _copy_keys(source: Database, target: Database, *, scope: str | None) -> int:
    """The gateway's Idempotency-Keys; unscoped ones put under `scope` when given. A key the
    target already holds keeps the target's answer."""
    def scoped(row: tuple[Any, ...]) -> tuple[Any, ...]:
        key = str(row[0])
        return (key if scope is None or "\t" in key else f"{scope}\t{key}", *row[1:])

    return _copy(source, target, _KEYS, _KEY_COLUMNS, scoped, conflict="(key)")


def _copy(source: Database, target: Database, table: str, columns: Sequence[str],
          convert: Convert | None = None, *, conflict: str | None = None) -> int:
    """Copy `columns` of every row, in the source's row order; returns how many were offered."""
    names = ", ".join(columns)
    skip = f" ON CONFLICT {conflict} DO NOTHING" if conflict else ""
    insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' for _ in columns)}){skip}"
    cursor = source.execute(f"SELECT {names} FROM {table} ORDER BY rowid")  # rowid: the id where one is
    copied = 0
    while batch := cursor.fetchmany(_BATCH):
        rows = [convert(row) for row in batch] if convert else batch
        target.executemany(insert, rows)
        copied += len(rows)
    return copied
