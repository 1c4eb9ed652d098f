"""The write-ahead journal: file safety, write-ahead, transitions, queries, and `gdwi journal`.

Behaviour tests run on both backends (`journal_target`: a SQLite file and a PostgreSQL schema of a
real throwaway server); tests of the file itself run on SQLite only."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapter.cli import app
from adapter.wire.journal import Entry, Journal, JournalError, Status

ID18 = "44190019900101001X"  # synthetic
ID18_MASKED = "441900********001X"
PASSWORD = "S3cret-Pw!"
AAZ218 = "20240301000000000001"  # 20 digits: must show whole

REQUEST = (
    "<program><session_id>S1</session_id><function_id>bizh110104</function_id>"
    f"<akb020>H44190000001</akb020><aac002>{ID18}</aac002><aac003>张三</aac003>"
    f"<aaz218>{AAZ218}</aaz218></program>"
)
LOGIN = f"<program><function_id>sys0001</function_id><userid>u1</userid><password>{PASSWORD}</password></program>"


class Clock:
    """A settable clock, so entries can be placed on chosen days."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def local_noon(day: date) -> datetime:
    """Noon of `day` in the local zone, whatever zone the tests run in."""
    return datetime.combine(day, time(12)).astimezone()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


@pytest.fixture
def journal(journal_target: str) -> Iterator[Journal]:
    with Journal(journal_target) as opened:
        yield opened


@pytest.fixture
def sqlite_journal(db: Path) -> Iterator[Journal]:
    with Journal(db) as opened:
        yield opened


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# --- the file -----------------------------------------------------------------------------


def test_new_file_and_wal_are_owner_only(sqlite_journal: Journal, db: Path) -> None:
    sqlite_journal.begin("bizh110104", "state_changing", REQUEST)
    assert mode(db) == 0o600
    assert mode(db.with_name(db.name + "-wal")) == 0o600


def test_existing_file_is_tightened_to_0600(db: Path) -> None:
    Journal(db).close()
    db.chmod(0o644)
    Journal(db).close()
    assert mode(db) == 0o600


def test_wal_mode(sqlite_journal: Journal, db: Path) -> None:
    with sqlite3.connect(db) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unopenable_path_is_a_journal_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="cannot open journal"):
        Journal(tmp_path / "missing-dir" / "journal.sqlite")


# --- write-ahead and transitions ------------------------------------------------------------


def test_begin_is_visible_to_another_instance_before_finish(journal: Journal, journal_target: str) -> None:
    entry_id = journal.begin("bizh110104", "state_changing", REQUEST, akb020="H44190000001",
                             aaz218=AAZ218, his_ref="HIS-1")
    with Journal(journal_target) as other:  # as a second process would see it after a crash here
        entry = other.get(entry_id)
    assert entry is not None
    assert entry.status == Status.PENDING
    assert (entry.function_id, entry.kind, entry.akb020, entry.aaz218, entry.his_ref) == (
        "bizh110104", "state_changing", "H44190000001", AAZ218, "HIS-1")
    assert entry.request_xml == REQUEST
    assert entry.response_xml is None and entry.return_code is None
    assert entry.created_at.tzinfo is not None and entry.created_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("status", "return_code"),
    [(Status.OK, "1"), (Status.REJECTED, "-1"), (Status.FAILED, None), (Status.UNKNOWN, None)],
)
def test_finish_records_each_outcome(journal: Journal, status: Status, return_code: str | None) -> None:
    entry_id = journal.begin("bizh110104", "state_changing", REQUEST)
    answer = f"<program><return_code>{return_code}</return_code></program>" if return_code else None
    journal.finish(entry_id, status, response_xml=answer, return_code=return_code, message="m",
                   duration_ms=12.5)
    entry = journal.get(entry_id)
    assert entry is not None
    assert (entry.status, entry.response_xml, entry.return_code, entry.message, entry.duration_ms) == (
        status, answer, return_code, "m", 12.5)
    assert entry.updated_at >= entry.created_at


def test_unknown_can_be_resolved_later(journal: Journal) -> None:
    entry_id = journal.begin("bizh120103", "state_changing", REQUEST)
    journal.finish(entry_id, Status.UNKNOWN, message="read timeout")
    journal.finish(entry_id, "ok", return_code="1", message="resolved by bizh120104")
    entry = journal.get(entry_id)
    assert entry is not None and entry.status == Status.OK


@pytest.mark.parametrize(
    ("first", "then"),
    [(Status.OK, Status.UNKNOWN), (Status.REJECTED, Status.OK), (Status.FAILED, Status.OK),
     (Status.UNKNOWN, Status.PENDING), (Status.OK, Status.OK)],
)
def test_illegal_transitions_are_refused(journal: Journal, first: Status, then: Status) -> None:
    entry_id = journal.begin("bizh110104", "state_changing", REQUEST)
    journal.finish(entry_id, first)
    with pytest.raises(JournalError, match="is not allowed"):
        journal.finish(entry_id, then)


def test_finish_of_a_missing_entry_is_refused(journal: Journal) -> None:
    with pytest.raises(JournalError, match="does not exist"):
        journal.finish(999, Status.OK)


def test_begin_refuses_an_unknown_kind(journal: Journal) -> None:
    with pytest.raises(JournalError, match="unknown kind"):
        journal.begin("bizh110104", "write", REQUEST)


def test_get_missing_is_none(journal: Journal) -> None:
    assert journal.get(42) is None


def test_threads_share_one_journal(journal: Journal) -> None:
    ids: list[int] = []

    def work() -> None:
        for _ in range(20):
            entry_id = journal.begin("bizh110001", "query", REQUEST)
            journal.finish(entry_id, Status.OK, return_code="1")
            ids.append(entry_id)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 80
    assert len(journal.list(status=Status.OK, limit=1000)) == 80


# --- the password ---------------------------------------------------------------------------


def test_password_is_never_stored_in_the_file(db: Path, tmp_path: Path) -> None:
    journal = Journal(db)
    entry_id = journal.begin("sys0001", "login", LOGIN)
    journal.finish(entry_id, Status.OK, response_xml=f"<program><echo>{LOGIN}</echo></program>")
    stored = journal.get(entry_id)
    assert stored is not None and PASSWORD not in stored.request_xml
    assert "<password>******</password>" in stored.request_xml
    files_before_close = {path: path.read_bytes() for path in tmp_path.iterdir()}
    journal.close()  # checkpoints the WAL into the main file
    for raw in [*files_before_close.values(), db.read_bytes()]:
        assert PASSWORD.encode() not in raw


def test_password_is_never_stored(journal: Journal) -> None:
    entry_id = journal.begin("sys0001", "login", LOGIN)
    journal.finish(entry_id, Status.OK, response_xml=f"<program><echo>{LOGIN}</echo></program>")
    raw = journal.database.execute("SELECT request_xml, response_xml FROM entries").fetchall()
    assert PASSWORD not in repr(raw) and "<password>******</password>" in str(raw[0][0])


# --- queries --------------------------------------------------------------------------------


@pytest.fixture
def filled(journal_target: str) -> Iterator[tuple[Journal, Clock, dict[str, int]]]:
    """Five entries over two local days, in time order."""
    clock = Clock(local_noon(date(2024, 3, 1)))
    with Journal(journal_target, clock=clock) as journal:
        ids: dict[str, int] = {}
        plan = [
            ("a", date(2024, 3, 1), "bizh110104", AAZ218, Status.OK),
            ("b", date(2024, 3, 1), "bizh120002", AAZ218, Status.UNKNOWN),
            ("c", date(2024, 3, 2), "bizh120002", "20240302000000000002", Status.REJECTED),
            ("d", date(2024, 3, 2), "bizh120103", "20240302000000000002", Status.UNKNOWN),
            ("e", date(2024, 3, 2), "bizh120103", None, Status.PENDING),
        ]
        for offset, (name, day, function_id, aaz218, status) in enumerate(plan):
            clock.now = local_noon(day) + timedelta(minutes=offset)
            institution = "H44190000002" if name in "ce" else "H44190000001"
            ids[name] = journal.begin(function_id, "state_changing", REQUEST, aaz218=aaz218,
                                      institution=institution)
            if status != Status.PENDING:
                journal.finish(ids[name], status)
        yield journal, clock, ids


def names(entries: list[Entry], ids: dict[str, int]) -> list[str]:
    by_id = {value: key for key, value in ids.items()}
    return [by_id[entry.id] for entry in entries]


def test_list_is_newest_first_and_limited(filled: tuple[Journal, Clock, dict[str, int]]) -> None:
    journal, _, ids = filled
    assert names(journal.list(), ids) == ["e", "d", "c", "b", "a"]
    assert names(journal.list(limit=2), ids) == ["e", "d"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"day": date(2024, 3, 1)}, ["b", "a"]),
        ({"day": date(2024, 3, 2)}, ["e", "d", "c"]),
        ({"day": date(2024, 3, 3)}, []),
        ({"function_id": "bizh120002"}, ["c", "b"]),
        ({"status": Status.UNKNOWN}, ["d", "b"]),
        ({"status": "pending"}, ["e"]),
        ({"aaz218": AAZ218}, ["b", "a"]),
        ({"day": date(2024, 3, 2), "function_id": "bizh120103", "status": Status.UNKNOWN}, ["d"]),
        ({"institution": "H44190000002"}, ["e", "c"]),
        ({"institution": "H44190000002", "status": "pending"}, ["e"]),
    ],
)
def test_list_filters(filled: tuple[Journal, Clock, dict[str, int]], filters: dict[str, object],
                      expected: list[str]) -> None:
    journal, _, ids = filled
    assert names(journal.list(**filters), ids) == expected  # type: ignore[arg-type]


def test_unknown_entries_oldest_first(filled: tuple[Journal, Clock, dict[str, int]]) -> None:
    journal, _, ids = filled
    assert names(journal.unknown_entries(), ids) == ["b", "d"]


def test_expire_pending_turns_only_old_pending_entries_unknown(
    filled: tuple[Journal, Clock, dict[str, int]],
) -> None:
    journal, clock, ids = filled
    assert journal.expire_pending(timedelta(minutes=10)) == 0  # "e" may still be in flight
    clock.now = clock.now + timedelta(hours=1)
    assert journal.expire_pending(timedelta(minutes=10)) == 1
    assert names(journal.unknown_entries(), ids) == ["b", "d", "e"]


def test_day_filter_uses_the_local_day(journal_target: str) -> None:
    """An entry just after local midnight belongs to that local day, whatever its UTC date."""
    just_after_midnight = datetime.combine(date(2024, 3, 2), time(0, 0, 1)).astimezone()
    with Journal(journal_target, clock=Clock(just_after_midnight.astimezone(UTC))) as journal:
        journal.begin("bizh110104", "query", REQUEST)
        assert len(journal.list(day=date(2024, 3, 2))) == 1
        assert journal.list(day=date(2024, 3, 1)) == []


# --- gdwi journal ---------------------------------------------------------------------------

runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that table cells are not folded


def test_cli_show_masks_the_citizen_id(sqlite_journal: Journal, db: Path) -> None:
    journal = sqlite_journal
    entry_id = journal.begin("bizh110104", "state_changing", REQUEST, aaz218=AAZ218, his_ref=f"ref {ID18}")
    journal.finish(entry_id, Status.REJECTED, return_code="-1",
                   response_xml=f"<program><return_code>-1</return_code><aac002>{ID18}</aac002></program>",
                   message=f"人员 {ID18} 不存在")
    result = runner.invoke(app, ["journal", "show", str(entry_id), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert ID18 not in result.output
    assert ID18_MASKED in result.output
    assert "张*" in result.output and "张三" not in result.output
    assert AAZ218 in result.output  # 20 digits: not an ID, shown whole
    assert "rejected" in result.output


def test_cli_list_filters_and_masks(sqlite_journal: Journal, db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GDWI_JOURNAL", str(db))
    sqlite_journal.begin("bizh110104", "state_changing", REQUEST, his_ref=ID18)
    sqlite_journal.begin("bizh120002", "state_changing", REQUEST, his_ref="[bold]not markup[/]")
    result = runner.invoke(app, ["journal", "list", "--function", "bizh110104", "--status", "pending"])
    assert result.exit_code == 0, result.output
    assert ID18 not in result.output
    assert "bizh110104" in result.output and "bizh120002" not in result.output
    result = runner.invoke(app, ["journal", "list", "--date", date.today().isoformat(), "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert "[bold]not markup[/]" in result.output  # data is printed as text, not rich markup
    assert ID18_MASKED in result.output


def test_cli_list_names_the_institution_when_several_mix_and_gives_duration_as_a_number(
        sqlite_journal: Journal, db: Path) -> None:
    import json

    for akb020 in ("H44190000001", "H44190000002"):
        entry = sqlite_journal.begin("bizh110001", "query", REQUEST, akb020=akb020)
        sqlite_journal.finish(entry, Status.OK, return_code="1", duration_ms=12.5)
    table = runner.invoke(app, ["journal", "list", "--db", str(db)])
    assert table.exit_code == 0, table.output
    header = next(line for line in table.output.splitlines() if " function " in line)
    assert "institution" in header
    assert all(code in table.output for code in ("H44190000001", "H44190000002"))
    one = runner.invoke(app, ["journal", "list", "--db", str(db), "--institution", "H44190000002"])
    assert one.exit_code == 0 and "institution" not in next(
        line for line in one.output.splitlines() if " function " in line)  # one institution: no column
    listed = json.loads(runner.invoke(app, ["journal", "list", "--db", str(db), "--json"]).output)
    assert {row["institution"] for row in listed} == {"H44190000001", "H44190000002"}
    assert [row["duration_ms"] for row in listed] == [12.5, 12.5]  # numbers, not "12"


def test_cli_nodes_on_a_sqlite_journal_says_nodes_need_postgresql(db: Path) -> None:
    Journal(db).close()
    result = runner.invoke(app, ["journal", "nodes", "--db", str(db)])
    assert result.exit_code == 0 and "only with a PostgreSQL journal" in " ".join(result.output.split())
    assert "┃" not in result.output and "│" not in result.output  # a sentence, not an empty table


def test_cli_missing_journal_or_entry(db: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["journal", "list", "--db", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 3  # configuration: the journal file is not there
    assert not (tmp_path / "none.sqlite").exists()  # reading does not create a journal
    Journal(db).close()
    result = runner.invoke(app, ["journal", "show", "7", "--db", str(db)])
    assert result.exit_code == 2  # bad input: no such entry


def test_cli_rejects_a_bad_date(sqlite_journal: Journal, db: Path) -> None:
    result = runner.invoke(app, ["journal", "list", "--date", "2024-13-40", "--db", str(db)])
    assert result.exit_code == 2


def test_deviations_are_kept_with_their_entry_and_read_back_in_order(journal: Journal) -> None:
    from adapter.wire.deviations import Deviation, DeviationKind

    entry = journal.begin("bizh110001", "query", "<program/>")
    journal.finish(entry, Status.OK, response_xml="<program/>", return_code="1")
    seen = [
        Deviation("bizh110001", "bka888", "bka888", DeviationKind.UNLISTED_CODE, "3"),
        Deviation("bizh110001", "feeinfo[0].bka058", "bka058", DeviationKind.EXTRA_PLACES, "1.2345"),
    ]
    journal.record_deviations(entry, seen)
    journal.record_deviations(entry, [])
    read = journal.deviations(entry_id=entry)
    assert [d for _, _, d in read] == seen
    assert {e for _, e, _ in read} == {entry}
    assert journal.deviations(entry_id=entry + 1) == []


# --------------------------------------------------------------------------- durability and indexes


def _statements_of_begin(journal: Journal, kind: str) -> list[str]:
    seen: list[str] = []
    conn = journal.database.conn  # type: ignore[attr-defined]
    conn.set_trace_callback(seen.append)
    try:
        journal.begin("bizh110104" if kind == "state_changing" else "bizh110001", kind, REQUEST)
    finally:
        conn.set_trace_callback(None)
    return seen


def test_only_a_state_changing_entry_is_fsynced_before_it_returns(sqlite_journal: Journal) -> None:
    """FULL for the commit of a state-changing entry (it must survive a power cut before it is
    sent); a query's or login's entry changes nothing at the province and skips the fsync."""
    journal = sqlite_journal
    durable = _statements_of_begin(journal, "state_changing")
    full = durable.index("PRAGMA synchronous=FULL")
    insert = next(i for i, s in enumerate(durable) if s.startswith("INSERT INTO entries"))
    commit = next(i for i, s in enumerate(durable) if s == "COMMIT" and i > insert)
    assert full < insert < commit < durable.index("PRAGMA synchronous=NORMAL")
    for kind in ("query", "login"):
        statements = _statements_of_begin(journal, kind)
        assert "PRAGMA synchronous=FULL" not in statements, kind
        assert any(s.startswith("INSERT INTO entries") for s in statements) and "COMMIT" in statements
    assert journal.database.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL again


def test_status_and_function_filters_walk_one_index_in_order(sqlite_journal: Journal) -> None:
    """A status or function filter is served newest-first from one composite index, no sort step
    (a million-entry journal answered `--status ok` in seconds when SQLite had to sort)."""
    tail = "ORDER BY created_at DESC, id DESC LIMIT 100"
    for where, index in (("status = 'ok'", "entries_status_created"),
                         ("function_id = 'bizh120002'", "entries_function_created")):
        plan = " ".join(row[3] for row in sqlite_journal.database.execute(
            f"EXPLAIN QUERY PLAN SELECT id FROM entries WHERE {where} {tail}"))
        assert index in plan and "TEMP B-TREE" not in plan, plan


def test_a_large_body_is_stored_compressed_and_read_back_exactly(sqlite_journal: Journal, db: Path) -> None:
    journal = sqlite_journal
    rows = "".join(f"<row><ake005>XY{i:04d}</ake005><ake006>测试药品{i}</ake006><bka058>{i}.50</bka058></row>"
                   for i in range(300))
    request = f"<program><function_id>bizh120002</function_id><feeinfo>{rows}</feeinfo></program>"
    answer = f"<program><return_code>1</return_code><echo>{LOGIN}</echo>{rows}</program>"
    entry_id = journal.begin("bizh120002", "state_changing", request)
    journal.finish(entry_id, Status.OK, response_xml=answer)
    stored = journal.get(entry_id)
    assert stored is not None and stored.request_xml == request
    assert stored.response_xml is not None and PASSWORD not in stored.response_xml  # redacted, then packed
    assert "<password>******</password>" in stored.response_xml
    with sqlite3.connect(db) as raw:
        kind, size = raw.execute("SELECT typeof(request_xml), length(request_xml) FROM entries"
                                 " WHERE id = ?", (entry_id,)).fetchone()
    assert kind == "blob" and size < len(request.encode()) / 4
    assert [e.id for e in journal.list(function_id="bizh120002")] == [entry_id]
