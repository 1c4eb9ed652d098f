"""The journal at 1,000,000 entries: file size, and each `journal list` filter vs a small journal.

The big journal is written straight into SQLite with executemany (minutes through the client);
the rows have the shape the client writes: lookups, fee uploads, settlements, a few refusals.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import interleave
from report import Figure

from adapter.wire.journal import Journal

FUNCTIONS = ["bizh110001", "bizh120002", "bizh120103", "bizh120003", "bizh120106", "bizh120113",
             "bizh110104", "bizh110105", "sys0001", "bizh120104"]
KIND = {"bizh110001": "query", "bizh120003": "query", "bizh120113": "query", "sys0001": "login"}
START = datetime(2025, 1, 1, tzinfo=UTC)
SPACING = timedelta(days=365) / 1_000_000  # a year of a busy hospital's calls
REQUEST = ('<?xml version="1.0" encoding="utf-8"?><program><session_id>{s}</session_id><function_id>{f}'
           '</function_id><akb020>H44190000001</akb020><aaz218>{a}</aaz218></program>')


def _rows(first: int, count: int) -> list[tuple[object, ...]]:
    rows = []
    for index in range(first, first + count):
        function_id = FUNCTIONS[index % len(FUNCTIONS)]
        moment = (START + SPACING * index).isoformat(timespec="microseconds")
        status = "rejected" if index % 97 == 0 else "unknown" if index % 1009 == 0 else "ok"
        aaz218 = f"4419{index // 40:016d}"
        rows.append((moment, function_id, KIND.get(function_id, "state_changing"), "H44190000001", aaz218,
                     REQUEST.format(s=index, f=function_id, a=aaz218), status, "<program/>", "1", None,
                     1.5, moment))
    return rows


def build(path: Path, count: int) -> float:
    """A journal of `count` entries, one every ~31.5 s from START; returns the seconds it took.

    The same density for the big and the small journal, so every filter finds at least a page
    (100 entries) in both and the comparison is of the same answer from a bigger file.
    """
    started = time.perf_counter()
    Journal(path).close()  # the schema and indexes as the adapter creates them
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    # Bulk load without the indexes, then create them again exactly as the schema declared them:
    # same result, twice as fast. (Reopening no longer recreates them: the schema is versioned and
    # a journal at the current version runs no step.)
    indexes = connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                                 " AND tbl_name = 'entries' AND sql IS NOT NULL").fetchall()
    for name, _ in indexes:
        connection.execute(f"DROP INDEX {name}")
    batch = 100_000
    with connection:
        for first in range(0, count, batch):
            connection.executemany(
                "INSERT INTO entries (created_at, function_id, kind, akb020, aaz218, request_xml, status,"
                " response_xml, return_code, message, duration_ms, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", _rows(first, min(batch, count - first)))
    for _, declaration in indexes:
        connection.execute(declaration)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    Journal(path).close()  # opened again as the adapter would
    return time.perf_counter() - started


def figures(scratch: Path) -> tuple[list[Figure], list[str]]:
    big_path, small_path = scratch / "big.sqlite", scratch / "small.sqlite"
    build_seconds = build(big_path, 1_000_000)
    build(small_path, 10_000)
    size_mb = big_path.stat().st_size / 1e6
    big_day, small_day = (START + timedelta(days=180)).date(), (START + timedelta(days=2)).date()
    filters: dict[str, tuple[dict[str, object], dict[str, object]]] = {
        "status": ({"status": "ok"}, {"status": "ok"}),
        "status_rejected": ({"status": "rejected"}, {"status": "rejected"}),
        "function": ({"function_id": "bizh120002"}, {"function_id": "bizh120002"}),
        "day": ({"day": big_day}, {"day": small_day}),
        "function_and_day": ({"function_id": "bizh120002", "day": big_day},
                             {"function_id": "bizh120002", "day": small_day}),
        "aaz218": ({"aaz218": f"4419{12_345:016d}"}, {"aaz218": f"4419{123:016d}"}),
    }
    out = []
    with Journal(big_path) as big, Journal(small_path) as small:
        for name, (big_where, small_where) in filters.items():
            paired = interleave(lambda w=big_where: big.list(**w),  # type: ignore[misc]
                                lambda w=small_where: small.list(**w),  # type: ignore[misc]
                                pairs=5, batch=9, warm=2)
            out.append(Figure.ratio(f"journal_1m_list_{name}_vs_small", paired, 1.5,
                                    f"1M median {paired.a_median:.2f} ms vs 10,000 entries "
                                    f"{paired.b_median:.2f} ms"))
    notes = [f"journal with 1,000,000 entries: {size_mb:,.0f} MB, built in {build_seconds:.0f} s with executemany"]
    return out, notes
