"""The journal's schema as ordered, versioned steps per backend.

`schema_version` holds one row per step applied. Opening a journal applies the steps above its
version, each in a transaction of its own that re-reads the version under the write lock (SQLite:
BEGIN IMMEDIATE; PostgreSQL: a transaction-level advisory lock), so two processes opening the
same new database do not both run a step. A database from a newer gdwi (a version above the last
step known here) is refused rather than written with an older idea of its schema.

SQLite files written before `schema_version` existed carry `PRAGMA user_version` 0–2; they are
taken as version 1 and step 2 is written to be safe on any of them (columns added only where
missing, indexes replaced by name). PostgreSQL journals start at version 3, the first schema
that had a PostgreSQL form.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from adapter.errors import JournalError
from adapter.wire.database import Database

__all__ = ["LATEST", "Step", "current_version", "steps_for", "upgrade"]


@dataclass(frozen=True)
class Step:
    version: int
    what: str
    apply: Callable[[Database], None]


def _statements(*sql: str) -> Callable[[Database], None]:
    def run(db: Database) -> None:
        for statement in sql:
            db.execute(statement)
    return run


# ----------------------------------------------------------------------------------- SQLite

_SQLITE_V1 = (
    """CREATE TABLE IF NOT EXISTS entries (
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
)""",
    "CREATE INDEX IF NOT EXISTS entries_created_at ON entries (created_at)",
    """CREATE TABLE IF NOT EXISTS deviations (
    id INTEGER PRIMARY KEY,
    entry_id INTEGER NOT NULL REFERENCES entries (id),
    seen_at TEXT NOT NULL,
    function_id TEXT NOT NULL,
    path TEXT NOT NULL,
    code TEXT NOT NULL,
    kind TEXT NOT NULL,
    sample TEXT NOT NULL,
    detail TEXT NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS deviations_seen_at ON deviations (seen_at)",
)

# Owners, answer windows and oversized answers (issue 11); filter-and-order indexes (D41).
_SQLITE_V2_COLUMNS = (
    ("aac001", "TEXT"),
    ("owner_pid", "INTEGER"),
    ("owner_started", "TEXT"),
    ("owner_host", "TEXT"),
    ("answer_window_s", "REAL"),
    ("response_bytes", "INTEGER"),
    ("response_sha256", "TEXT"),
    ("settled_by", "TEXT"),
)
_V2_INDEXES = (
    # Filter and order in one index walk: `journal list --status/--function` stays fast at 1M
    # entries (a status-only index made SQLite sort every match of a common status).
    "DROP INDEX IF EXISTS entries_function_id",
    "DROP INDEX IF EXISTS entries_status",
    "CREATE INDEX IF NOT EXISTS entries_status_created ON entries (status, created_at)",
    "CREATE INDEX IF NOT EXISTS entries_function_created ON entries (function_id, created_at)",
    "CREATE INDEX IF NOT EXISTS entries_aaz218 ON entries (aaz218)",
)


def _sqlite_v2(db: Database) -> None:
    present = {row[1] for row in db.execute("PRAGMA table_info(entries)").fetchall()}
    for name, declaration in _SQLITE_V2_COLUMNS:
        if name not in present:
            db.execute(f"ALTER TABLE entries ADD COLUMN {name} {declaration}")
    _statements(*_V2_INDEXES)(db)


# The unresolved-change guard as unique indexes: one guarded, unresolved state change per business
# (its aaz218; for an opener without one, the person aac001), whatever the process or node.
_GUARD_INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS entries_one_unresolved_business ON entries (aaz218)"
    " WHERE guarded = 1 AND kind = 'state_changing' AND status IN ('pending', 'unknown')"
    " AND aaz218 IS NOT NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS entries_one_unresolved_opener ON entries (aac001)"
    " WHERE guarded = 1 AND kind = 'state_changing' AND status IN ('pending', 'unknown')"
    " AND aaz218 IS NULL AND aac001 IS NOT NULL",
)
_V3_COMMON = (
    "CREATE INDEX IF NOT EXISTS entries_institution_created ON entries (institution, created_at)",
    *_GUARD_INDEXES,
)

_SQLITE_V3 = (
    # institution: the akb020 the entry was sent for (a login names none on the wire).
    "ALTER TABLE entries ADD COLUMN institution TEXT",
    # guarded: begun with the unresolved-change guard (the client's state changes; not the proxy's).
    "ALTER TABLE entries ADD COLUMN guarded INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE entries ADD COLUMN owner_node TEXT",
    "ALTER TABLE entries ADD COLUMN lease_node TEXT",
    "ALTER TABLE entries ADD COLUMN lease_until TEXT",
    "UPDATE entries SET institution = akb020 WHERE institution IS NULL",
    *_V3_COMMON,
    "CREATE TABLE IF NOT EXISTS nodes (node TEXT PRIMARY KEY, last_beat TEXT NOT NULL)",
)

_SQLITE_STEPS = (
    Step(1, "entries and deviations", _statements(*_SQLITE_V1)),
    Step(2, "owners, answer windows, oversized answers; filter indexes", _sqlite_v2),
    Step(3, "institution, guard indexes, nodes and leases", _statements(*_SQLITE_V3)),
    Step(4, "nodes say goodbye and how long their silence may last",
         _statements("ALTER TABLE nodes ADD COLUMN stopped_at TEXT",
                     "ALTER TABLE nodes ADD COLUMN dead_after_s REAL")),
)

# ------------------------------------------------------------------------------- PostgreSQL

_POSTGRES_V3 = (
    """CREATE TABLE entries (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    function_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('query', 'state_changing', 'login')),
    akb020 TEXT,
    aaz218 TEXT,
    his_ref TEXT,
    request_xml TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'ok', 'rejected', 'failed', 'unknown')),
    response_xml TEXT,
    return_code TEXT,
    message TEXT,
    duration_ms DOUBLE PRECISION,
    updated_at TIMESTAMPTZ NOT NULL,
    aac001 TEXT,
    owner_pid INTEGER,
    owner_started TEXT,
    owner_host TEXT,
    answer_window_s DOUBLE PRECISION,
    response_bytes BIGINT,
    response_sha256 TEXT,
    settled_by TEXT,
    institution TEXT,
    guarded SMALLINT NOT NULL DEFAULT 0,
    owner_node TEXT,
    lease_node TEXT,
    lease_until TIMESTAMPTZ
)""",
    "CREATE INDEX entries_created_at ON entries (created_at)",
    *(sql for sql in _V2_INDEXES if not sql.startswith("DROP")),
    *_V3_COMMON,
    """CREATE TABLE deviations (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    entry_id BIGINT NOT NULL REFERENCES entries (id),
    seen_at TIMESTAMPTZ NOT NULL,
    function_id TEXT NOT NULL,
    path TEXT NOT NULL,
    code TEXT NOT NULL,
    kind TEXT NOT NULL,
    sample TEXT NOT NULL,
    detail TEXT NOT NULL
)""",
    "CREATE INDEX deviations_seen_at ON deviations (seen_at)",
    "CREATE TABLE nodes (node TEXT PRIMARY KEY, last_beat TIMESTAMPTZ NOT NULL)",
)

_POSTGRES_STEPS = (
    Step(3, "entries, deviations, guard indexes, nodes and leases", _statements(*_POSTGRES_V3)),
    Step(4, "nodes say goodbye and how long their silence may last",
         _statements("ALTER TABLE nodes ADD COLUMN stopped_at TIMESTAMPTZ",
                     "ALTER TABLE nodes ADD COLUMN dead_after_s DOUBLE PRECISION")),
)

_STEPS = {"sqlite": _SQLITE_STEPS, "postgresql": _POSTGRES_STEPS}
LATEST = max(step.version for steps in _STEPS.values() for step in steps)


def steps_for(dialect: str) -> Sequence[Step]:
    return _STEPS[dialect]


def _has_table(db: Database, name: str) -> bool:
    if db.dialect == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        sql = ("SELECT 1 FROM information_schema.tables WHERE table_name = ?"
               " AND table_schema = current_schema()")
    return db.execute(sql, (name,)).fetchone() is not None


def current_version(db: Database) -> int:
    """The schema version of `db`: 0 for an empty database, 1 for a SQLite journal from before
    versioning (every such file is safe to take through step 2)."""
    if _has_table(db, "schema_version"):
        row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)
    return 1 if _has_table(db, "entries") else 0


def upgrade(db: Database, steps: Sequence[Step] | None = None) -> list[int]:
    """Apply the steps above the database's version, in order; returns the versions applied."""
    plan = list(steps if steps is not None else steps_for(db.dialect))
    known = max(step.version for step in plan)
    applied: list[int] = []
    if current_version(db) == known:  # the common case: no lock taken on an up-to-date journal
        return applied
    while True:
        with db.transaction(immediate=True, durable=True):
            db.lock_schema()
            version = current_version(db)
            if version > known:
                raise JournalError(f"journal {db.location}: schema version {version} is newer than this "
                                   f"gdwi knows ({known}); upgrade gdwi")
            pending = [step for step in plan if step.version > version]
            if not pending:
                return applied
            _apply(db, pending[0])
            applied.append(pending[0].version)


def _apply(db: Database, step: Step) -> None:
    step.apply(db)
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
               " applied_at TEXT NOT NULL, what TEXT NOT NULL)")
    db.execute("INSERT INTO schema_version (version, applied_at, what) VALUES (?, ?, ?)",
               (step.version, datetime.now(UTC).isoformat(timespec="seconds"), step.what))
    if db.dialect == "sqlite":  # what older gdwi versions read
        db.execute(f"PRAGMA user_version={step.version}")
