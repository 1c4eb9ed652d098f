"""Code tables: what bizh120205 serves, kept in SQLite, and checks of open-list values against it.

The spec's open code lists (CODE_LISTS[...].closed is False: aka130, bka006, aka063, ...) hold
only the values the reference shows; the province may serve more through bizh120205, and
values drift by region and over time (a treatment code was renumbered once). So such a value
is never refused: `check_open_code` warns when it is known neither to the spec nor to the
last sync, and `display_name` shows the province's label where it has one.

The synced rows live in the table `code_tables(list, code, label, center, synced_at)`, by
default in the journal's database (one SQLite file for a hospital to back up; with a PostgreSQL
journal, its database, shared by every node). A sync replaces
what it fetched whole, in one transaction: a reader sees the old table or the new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapter.wire.database import connect, is_postgres
from adapter.wire.typed import WireCaller, send_typed
from generated.functions import bizh120205 as code_query
from generated.registry import CODE_LISTS, FIELDS, FUNCTIONS, field_label

__all__ = [
    "CodeRow",
    "CodeStore",
    "CodeTables",
    "WireCaller",
    "check_open_code",
    "default_db_path",
    "default_target",
    "display_name",
    "fetch_rows",
    "open_code_warnings",
    "sync",
    "use_tables",
]

FUNCTION_ID = code_query.FUNCTION_ID
DATASET = "codeinfo"
DEFAULT_DB = "gdwi-journal.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS code_tables (
    list TEXT NOT NULL,
    code TEXT NOT NULL,
    label TEXT NOT NULL,
    center TEXT NOT NULL DEFAULT '',
    synced_at TEXT NOT NULL,
    PRIMARY KEY (list, code, center)
)"""


@dataclass(frozen=True)
class CodeRow:
    """One synced value. `center` is aaa027 (the pooling centre it applies to; '' for all)."""

    list: str
    code: str
    label: str
    center: str
    synced_at: str


def default_target() -> str:
    """The journal's database: the `journal` setting (GDWI_JOURNAL, the GDWI_CONFIG file) or the
    default file; a path or a postgresql:// URL."""
    from adapter.wire.config import load_values

    return str(load_values().get("journal") or DEFAULT_DB)


def default_db_path() -> Path:
    """`default_target` as a file path (a SQLite journal)."""
    return Path(default_target())


class CodeStore:
    """The `code_tables` table in the journal's database: a SQLite file (created if missing) or
    a postgresql:// URL."""

    def __init__(self, target: str | Path) -> None:
        self.target = str(target)
        # timeout: the adapter may be writing its journal to the same file right now.
        self._db = connect(target, timeout=5.0)
        with self._db.transaction():
            self._db.lock_schema()  # several processes may open it at once
            self._db.execute(_SCHEMA)

    def replace(self, rows: Iterable[CodeRow], lists: Iterable[str] | None = None) -> None:
        """Store `rows`, replacing the given lists whole (None: replace the whole table)."""
        with self._db.transaction():
            if lists is None:
                self._db.execute("DELETE FROM code_tables")
            else:
                self._db.executemany("DELETE FROM code_tables WHERE list = ?", [(n,) for n in lists])
            self._db.executemany(
                "INSERT INTO code_tables (list, code, label, center, synced_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (list, code, center) DO UPDATE SET label = excluded.label,"
                " synced_at = excluded.synced_at",
                [(r.list, r.code, r.label, r.center, r.synced_at) for r in rows],
            )

    def rows(self, list_name: str | None = None) -> list[CodeRow]:
        """Synced rows (of one list, or all), ordered by list, code, centre."""
        where, params = ("WHERE list = ?", (list_name,)) if list_name else ("", ())
        cursor = self._db.execute(
            f"SELECT list, code, label, center, synced_at FROM code_tables {where}"
            " ORDER BY list, code, center",
            params,
        )
        return [CodeRow(*row) for row in cursor.fetchall()]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> CodeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------- sync


def fetch_rows(client: WireCaller, list_name: str = "", *, now: datetime | None = None) -> list[CodeRow]:
    """bizh120205 for one list (or all with ''); rows without a list name or code are skipped."""
    request = code_query.Request(code_category=list_name.lower() or None)
    answer = send_typed(client, FUNCTION_ID, request).answer  # the typed bizh120205 answer
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    rows: list[CodeRow] = []
    for row in answer.codeinfo_rows:
        name, code = (row.code_category or "").lower(), row.code_value or ""
        if name and code:  # a row that names no list or no value cannot be looked up later
            label, centre = row.code_value_name or "", row.insurance_centre_code or ""
            rows.append(CodeRow(name, code, label, centre, stamp))
    return rows


# progress(list_name, rows_stored, lists_in_this_sync): called once per list, after it is stored.
Progress = Callable[[str, int, int], None]


def sync(
    client: WireCaller,
    store: CodeStore,
    lists: Sequence[str] = (),
    *,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Pull code tables into `store`; returns rows stored per list.

    No names: one call with an empty aaa100 (the province's "all tables"), and the whole
    table is replaced, so a list the province dropped disappears too. With names: one call
    per list, each list replaced on its own.
    """
    report = progress or (lambda _name, _count, _total: None)
    if not lists:
        rows = fetch_rows(client)
        store.replace(rows)
        counts = _count_by_list(rows)
        for name, count in counts.items():
            report(name, count, len(counts))
        return counts
    counts = {}
    for name in lists:
        rows = fetch_rows(client, name)
        store.replace(rows, [name.lower()])
        counts[name.lower()] = len(rows)
        report(name.lower(), len(rows), len(lists))
    return counts


def _count_by_list(rows: Iterable[CodeRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.list] = counts.get(row.list, 0) + 1
    return dict(sorted(counts.items()))


# ---------------------------------------------------------------------------- lookups


def _list_of(field_code: str) -> str:
    """The code table of a field: its spec list, else the field code itself.

    bizh120205 names a table by the field code in lower case, so fields the spec gives no list
    (bkc110 医院等级, bka989 先行支付, ...) can still be labelled from a synced table.
    """
    meta = FIELDS.get(field_code)
    return (meta.code_list if meta and meta.code_list else field_code).lower()


def _field_title(field_code: str) -> str:
    return field_label(field_code)


class CodeTables:
    """The spec's lists plus the synced table, read once (`reload()` after a sync)."""

    def __init__(self, synced: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self._synced: dict[str, dict[str, str]] = {k: dict(v) for k, v in (synced or {}).items()}

    @classmethod
    def from_store(cls, store: CodeStore) -> CodeTables:
        synced: dict[str, dict[str, str]] = {}
        for row in store.rows():
            # Rows come ordered by centre: the first centre's label wins where centres differ.
            synced.setdefault(row.list, {}).setdefault(row.code, row.label)
        return cls(synced)

    @classmethod
    def from_path(cls, path: str | Path) -> CodeTables:
        """Tables from the journal's database; a missing file means "never synced" (it is not
        created)."""
        if not is_postgres(path) and not Path(path).is_file():
            return cls()
        with CodeStore(path) as store:
            return cls.from_store(store)

    def check_open_code(self, field_code: str, value: str) -> str | None:
        """A warning when `value` of an open-list field is unknown to the spec and the sync.

        None for known values, for fields without a list, and for closed lists: a closed list
        is enforced by the generated models (an error, not a warning).
        """
        name = _list_of(field_code)
        spec_list = CODE_LISTS.get(name)
        if spec_list is None or spec_list.closed or not value:
            return None
        if value in dict(spec_list.values) or value in self._synced.get(name, {}):
            return None
        synced = "no synced rows for this list" if name not in self._synced else "not in the synced table"
        return (f"{_field_title(field_code)}: {value!r} is not a known value of code list {name} "
                f"{spec_list.title} (not in spec/codes, {synced}; run `gdwi codes sync {name}`)")

    def display_name(self, field_code: str, value: str) -> str:
        """The label of a coded value: synced first, then the spec's list, else the value itself."""
        name = _list_of(field_code)
        label = self._synced.get(name, {}).get(value)
        if label:
            return label
        spec_list = CODE_LISTS.get(name)
        return dict(spec_list.values).get(value, value) if spec_list else value

    def synced_lists(self) -> list[str]:
        return sorted(self._synced)


_default: CodeTables | None = None


def use_tables(tables: CodeTables | None) -> None:
    """Set the tables the module-level functions use (None: reload from the default file)."""
    global _default
    _default = tables


def _tables(tables: CodeTables | None) -> CodeTables:
    global _default
    if tables is not None:
        return tables
    if _default is None:
        _default = CodeTables.from_path(default_target())
    return _default


def check_open_code(field_code: str, value: str, *, tables: CodeTables | None = None) -> str | None:
    """`CodeTables.check_open_code` on the default tables (the journal file's last sync)."""
    return _tables(tables).check_open_code(field_code, value)


def display_name(field_code: str, value: str, *, tables: CodeTables | None = None) -> str:
    """`CodeTables.display_name` on the default tables (the journal file's last sync)."""
    return _tables(tables).display_name(field_code, value)


def open_code_warnings(function_id: str, part: str, values: Mapping[str, Any], *,
                       tables: CodeTables | None = None) -> list[str]:
    """`check_open_code` over a whole wire message: every coded scalar and dataset cell.

    For a HIS layer to show before sending (or after receiving); the client itself does not
    refuse such values (decisions.md D19).
    """
    meta = FUNCTIONS[function_id]
    message = meta.request if part == "request" else meta.response
    checker = _tables(tables)
    warnings = [warning for use in message.fields if use.code_list
                if (warning := _checked(checker, use.code, values.get(use.code)))]
    for dataset in message.datasets:
        for index, row in enumerate(values.get(dataset.name) or []):
            warnings += [f"{dataset.name}[{index}].{warning}" for use in dataset.fields
                         if use.code_list and (warning := _checked(checker, use.code, row.get(use.code)))]
    return warnings


def _checked(tables: CodeTables, code: str, value: object) -> str | None:
    return tables.check_open_code(code, value) if isinstance(value, str) else None
