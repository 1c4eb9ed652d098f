"""The journal on both backends: the guard as unique indexes, nodes and leases, schema versions,
and PostgreSQL URLs that never show their password. PostgreSQL tests run on a real throwaway server
(tests/pg_cluster.py); two processes are played by two Journal objects with their own connections."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pg_cluster import Cluster

from adapter.errors import JournalError, UnresolvedEntryError
from adapter.wire.database import connect, mask_dsn
from adapter.wire.journal import Journal, Status, open_journal
from adapter.wire.journal.migrations import LATEST, Step, current_version, steps_for, upgrade

AAZ218 = "20240301000000000001"
REQUEST = f"<program><function_id>bizh120002</function_id><aaz218>{AAZ218}</aaz218></program>"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2024, 3, 1, 4, 0, tzinfo=UTC))


@pytest.fixture
def pair(journal_target: str, clock: Clock) -> Iterator[tuple[Journal, Journal]]:
    """Two journals on one database, as two nodes would open it (each its own connection)."""
    with open_journal(journal_target, clock=clock, node="node-a") as a, \
            open_journal(journal_target, clock=clock, node="node-b") as b:
        yield a, b


# --------------------------------------------------------------------------- the guard


def test_a_second_guarded_change_on_a_business_is_refused_across_connections(
        pair: tuple[Journal, Journal]) -> None:
    a, b = pair
    first = a.begin("bizh120002", "state_changing", REQUEST, aaz218=AAZ218, exclusive=True)
    with pytest.raises(UnresolvedEntryError) as refused:
        b.begin("bizh120002", "state_changing", REQUEST, aaz218=AAZ218, exclusive=True)
    assert refused.value.entry_id == first
    assert [e.id for e in b.history(AAZ218)] == [first]  # nothing written for the refused call
    a.finish(first, Status.OK)
    b.finish(b.begin("bizh120002", "state_changing", REQUEST, aaz218=AAZ218, exclusive=True), Status.OK)


def test_the_database_itself_refuses_a_second_unresolved_guarded_entry(pair: tuple[Journal, Journal]) -> None:
    """The unique partial indexes, written to directly: no code path can get around them."""
    a, _ = pair
    a.begin("bizh110104", "state_changing", REQUEST, aac001="P1", exclusive=True)  # an opener: by person
    a.begin("bizh120002", "state_changing", REQUEST, aaz218=AAZ218, exclusive=True)
    insert = ("INSERT INTO entries (created_at, function_id, kind, aaz218, aac001, request_xml, status,"
              " updated_at, guarded) VALUES (?, 'x', 'state_changing', ?, ?, 'x', ?, ?, 1)")
    now = datetime.now(UTC).isoformat()
    for aaz218, aac001 in ((AAZ218, None), (None, "P1")):
        with pytest.raises(a.database.unique_violation), a.database.transaction():
            a.database.execute(insert, (now, aaz218, aac001, "unknown", now))
    with a.database.transaction():  # settled entries, and unguarded ones (the proxy's), are not limited
        a.database.execute(insert, (now, AAZ218, None, "ok", now))
        a.database.execute(insert.replace(", 1)", ", 0)"), (now, AAZ218, None, "pending", now))


def test_the_proxy_s_unguarded_entries_are_not_refused(journal_target: str) -> None:
    with open_journal(journal_target) as journal:
        ids = [journal.begin("bizh120002", "state_changing", REQUEST, aaz218=AAZ218) for _ in range(2)]
        assert len(set(ids)) == 2
        with pytest.raises(UnresolvedEntryError):  # but a guarded one sees them
            journal.begin("bizh120002", "state_changing", REQUEST, aaz218=AAZ218, exclusive=True)


def test_two_connections_racing_past_the_check_meet_the_unique_index(pg_url: str) -> None:
    """Connection A has inserted a guarded entry but not committed: B's check cannot see it, so B
    goes on to insert, waits on A's index entry, and is refused the moment A commits."""
    import psycopg

    with open_journal(pg_url, node="node-b") as b, psycopg.connect(pg_url) as a:
        a.execute("INSERT INTO entries (created_at, function_id, kind, aaz218, request_xml, status,"
                  " updated_at, guarded) VALUES (now(), 'bizh120002', 'state_changing', %s, 'x',"
                  " 'pending', now(), 1)", (AAZ218,))
        outcome: list[BaseException | int] = []

        def second() -> None:
            try:
                outcome.append(b.begin("bizh120002", "state_changing", REQUEST, aaz218=AAZ218, exclusive=True))
            except BaseException as exc:
                outcome.append(exc)

        racer = threading.Thread(target=second)
        racer.start()
        time.sleep(0.5)
        assert not outcome, "B must wait for A's uncommitted entry, not pass it"
        a.commit()
        racer.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], UnresolvedEntryError), outcome
    assert "aaz218 " + AAZ218 in str(outcome[0])


def test_many_threads_on_two_connections_write_one_guarded_entry(pair: tuple[Journal, Journal]) -> None:
    barrier = threading.Barrier(8)
    won: list[int] = []
    refused: list[UnresolvedEntryError] = []

    def attempt(journal: Journal) -> None:
        barrier.wait()
        try:
            won.append(journal.begin("bizh120002", "state_changing", REQUEST, aaz218=AAZ218, exclusive=True))
        except UnresolvedEntryError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=attempt, args=(pair[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(won) == 1 and len(refused) == 7
    assert {exc.entry_id for exc in refused} == set(won)


# --------------------------------------------------------------------------- nodes and leases


def test_claim_takes_a_dead_node_s_entries_once_and_leaves_a_live_node_s(
        pair: tuple[Journal, Journal], clock: Clock) -> None:
    a, b = pair
    a.heartbeat()
    b.heartbeat()
    pending = a.begin("bizh120002", "state_changing", REQUEST, aaz218=AAZ218, exclusive=True)
    unknown = a.begin("bizh120002", "state_changing", REQUEST, aaz218="20240301000000000002")
    a.finish(unknown, Status.UNKNOWN)
    clock.now += timedelta(seconds=20)
    b.heartbeat()  # a is silent from here on
    assert b.claim_orphans(lease=timedelta(minutes=1), dead_after=timedelta(seconds=30)) == []  # a: not dead yet
    clock.now += timedelta(seconds=15)
    b.heartbeat()
    claimed = b.claim_orphans(lease=timedelta(minutes=1), dead_after=timedelta(seconds=30))
    assert sorted(e.id for e in claimed) == [pending, unknown]
    assert all(e.status == Status.UNKNOWN and e.lease_node == "node-b" for e in claimed)
    taken = next(e for e in claimed if e.id == pending)
    assert taken.message is not None and "node-a stopped heart-beating" in taken.message
    assert b.claim_orphans(lease=timedelta(minutes=1), dead_after=timedelta(seconds=30)) == []  # leased
    clock.now += timedelta(minutes=2)  # b died while settling them: the lease runs out
    b.heartbeat("node-c")
    again = b.claim_orphans("node-c", lease=timedelta(minutes=1), dead_after=timedelta(seconds=30))
    assert sorted(e.id for e in again) == [pending, unknown]
    assert b.release_lease(pending, "node-c") and not b.release_lease(pending, "node-c")


def test_node_states_alive_stopped_by_goodbye_dead_by_silence(pair: tuple[Journal, Journal], clock: Clock) -> None:
    a, b = pair
    a.heartbeat(dead_after=30)
    b.heartbeat()  # said no dead-after: the reader's default applies
    states = {row.node: row.state(clock.now, 15) for row in a.node_rows()}
    assert states == {"node-a": "alive", "node-b": "alive"}
    clock.now += timedelta(seconds=20)  # past b's 15 s (the default), within a's own 30 s
    assert {row.node: row.state(clock.now, 15) for row in a.node_rows()} == {"node-a": "alive", "node-b": "dead"}
    a.goodbye()
    clock.now += timedelta(seconds=60)
    rows = {row.node: row for row in b.node_rows()}
    assert rows["node-a"].state(clock.now, 15) == "stopped" and rows["node-a"].dead_after_s == 30
    a.heartbeat()  # started again under the same name: alive, its dead-after kept
    rows = {row.node: row for row in b.node_rows()}
    assert rows["node-a"].state(clock.now, 15) == "alive" and rows["node-a"].stopped_at is None
    assert rows["node-a"].dead_after_s == 30


def test_a_node_claims_its_own_unknown_entries_but_not_its_pending_ones(pair: tuple[Journal, Journal]) -> None:
    a, _ = pair
    a.heartbeat()
    in_flight = a.begin("bizh120002", "state_changing", REQUEST)
    unknown = a.begin("bizh120002", "state_changing", REQUEST)
    a.finish(unknown, Status.UNKNOWN)
    claimed = a.claim_orphans(lease=timedelta(minutes=1), dead_after=timedelta(seconds=30))
    assert [e.id for e in claimed] == [unknown]
    assert (a.get(in_flight) or pytest.fail()).status == Status.PENDING


def test_unknown_entries_of_a_process_that_never_beat_are_anyone_s_to_claim(
        journal_target: str, clock: Clock) -> None:
    with open_journal(journal_target, clock=clock) as one_off:  # e.g. `gdwi call`: never beats
        unknown = one_off.begin("bizh120002", "state_changing", REQUEST)
        one_off.finish(unknown, Status.UNKNOWN)
        one_off.begin("bizh120002", "state_changing", REQUEST)  # pending: its sender may still run
    with open_journal(journal_target, clock=clock, node="worker") as worker:
        worker.heartbeat()
        claimed = worker.claim_orphans(lease=timedelta(minutes=1), dead_after=timedelta(seconds=30))
    assert [e.id for e in claimed] == [unknown]


def test_recovery_views_and_claims_can_be_scoped_to_one_institution(
        journal_target: str, clock: Clock) -> None:
    """Recovery asks the province with one institution's login: it takes that institution's entries."""
    with open_journal(journal_target, clock=clock, node="dead") as dead:
        dead.heartbeat()
        ours = dead.begin("bizh120002", "state_changing", REQUEST, institution="H44190000001")
        theirs = dead.begin("bizh120002", "state_changing", REQUEST, institution="H44190000002")
        for entry_id in (ours, theirs):
            dead.finish(entry_id, Status.UNKNOWN)
        pending = dead.begin("bizh120002", "state_changing", REQUEST, institution="H44190000002")
    clock.now += timedelta(minutes=5)
    with open_journal(journal_target, clock=clock, node="worker") as worker:
        assert [e.id for e in worker.unknown_entries(institution="H44190000002")] == [theirs]
        assert [e.id for e in worker.stale_pending(timedelta(minutes=1), institution="H44190000001")] == []
        assert [e.id for e in worker.stale_pending(timedelta(minutes=1), institution="H44190000002")] == [pending]
        worker.heartbeat()
        claimed = worker.claim_orphans(lease=timedelta(minutes=1), dead_after=timedelta(seconds=30),
                                       institution="H44190000001")
        assert [e.id for e in claimed] == [ours]


def test_two_concurrent_claimers_share_a_dead_node_s_entries_exactly_once(
        journal_target: str, clock: Clock) -> None:
    with open_journal(journal_target, clock=clock, node="dead") as dead:
        dead.heartbeat()
        written = {dead.begin("bizh120002", "state_changing", REQUEST, aaz218=f"2024030100000000{i:04d}")
                   for i in range(60)}
    clock.now += timedelta(minutes=5)
    claims: dict[str, list[int]] = {"x": [], "y": []}
    barrier = threading.Barrier(2)

    def worker(node: str) -> None:
        with open_journal(journal_target, clock=clock, node=node) as journal:
            journal.heartbeat()
            barrier.wait()
            while batch := journal.claim_orphans(lease=timedelta(minutes=1), dead_after=timedelta(seconds=30),
                                                 limit=7):
                claims[node] += [entry.id for entry in batch]

    threads = [threading.Thread(target=worker, args=(node,)) for node in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not set(claims["x"]) & set(claims["y"])
    assert sorted(claims["x"] + claims["y"]) == sorted(written)


# --------------------------------------------------------------------------- schema versions

# The schema of a journal written by gdwi before versioning (PRAGMA user_version 2, the first
# index layout), with one settled and one unresolved entry.
_LEGACY = """
CREATE TABLE entries (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, function_id TEXT NOT NULL,
    kind TEXT NOT NULL, akb020 TEXT, aaz218 TEXT, his_ref TEXT, request_xml TEXT NOT NULL,
    status TEXT NOT NULL, response_xml TEXT, return_code TEXT, message TEXT, duration_ms REAL,
    updated_at TEXT NOT NULL, aac001 TEXT, owner_pid INTEGER, owner_started TEXT, owner_host TEXT,
    answer_window_s REAL, response_bytes INTEGER, response_sha256 TEXT, settled_by TEXT);
CREATE INDEX entries_created_at ON entries (created_at);
CREATE INDEX entries_status ON entries (status);
CREATE INDEX entries_function_id ON entries (function_id);
CREATE TABLE deviations (id INTEGER PRIMARY KEY, entry_id INTEGER NOT NULL REFERENCES entries (id),
    seen_at TEXT NOT NULL, function_id TEXT NOT NULL, path TEXT NOT NULL, code TEXT NOT NULL,
    kind TEXT NOT NULL, sample TEXT NOT NULL, detail TEXT NOT NULL);
INSERT INTO entries (created_at, function_id, kind, akb020, aaz218, request_xml, status, updated_at)
    VALUES ('2024-03-01T04:00:00.000000+00:00', 'bizh120002', 'state_changing', 'H44190000001',
            '20240301000000000001', '<program/>', 'ok', '2024-03-01T04:00:01.000000+00:00'),
           ('2024-03-01T05:00:00.000000+00:00', 'bizh120002', 'state_changing', 'H44190000001',
            '20240301000000000001', '<program/>', 'unknown', '2024-03-01T05:00:01.000000+00:00');
PRAGMA user_version = 2;
"""


def test_a_journal_from_before_versioning_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:
        old.executescript(_LEGACY)
    with Journal(path) as journal:
        entries = journal.list()
        assert [(e.status, e.institution, e.guarded) for e in entries] == [
            (Status.UNKNOWN, "H44190000001", False), (Status.OK, "H44190000001", False)]
        unresolved = entries[0]
        # The old unresolved entry still stops a new guarded change on its stay.
        with pytest.raises(UnresolvedEntryError) as refused:
            journal.begin("bizh120002", "state_changing", REQUEST, aaz218=AAZ218, exclusive=True)
        assert refused.value.entry_id == unresolved.id
    with sqlite3.connect(path) as upgraded:
        versions = [row[0] for row in upgraded.execute("SELECT version FROM schema_version ORDER BY version")]
        indexes = {row[0] for row in upgraded.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert versions == [2, 3, 4]
    assert {"entries_status_created", "entries_function_created", "entries_one_unresolved_business"} <= indexes
    assert not {"entries_status", "entries_function_id"} & indexes


def test_a_journal_of_a_newer_gdwi_is_refused(journal_target: str) -> None:
    Journal(journal_target).close()
    db = connect(journal_target)
    with db.transaction():
        db.execute("INSERT INTO schema_version (version, applied_at, what) VALUES (?, 'now', 'future')",
                   (LATEST + 1,))
    db.close()
    with pytest.raises(JournalError, match=f"schema version {LATEST + 1} is newer"):
        Journal(journal_target)


def test_later_steps_are_applied_once_in_order(journal_target: str) -> None:
    Journal(journal_target).close()
    seen: list[int] = []

    def step(version: int) -> Step:
        def apply(db: object) -> None:
            seen.append(version)
        return Step(version, f"test step {version}", apply)

    db = connect(journal_target)
    try:
        plan = [*steps_for(db.dialect), step(LATEST + 2), step(LATEST + 1)]
        assert upgrade(db, sorted(plan, key=lambda s: s.version)) == [LATEST + 1, LATEST + 2]
        assert upgrade(db, sorted(plan, key=lambda s: s.version)) == []
        assert seen == [LATEST + 1, LATEST + 2] and current_version(db) == LATEST + 2
    finally:
        db.close()


# --------------------------------------------------------------------------- URLs and passwords


@pytest.mark.parametrize(("given", "shown"), [
    ("postgresql://gdwi:s3cr%40t@db.example:5432/j", "postgresql://gdwi:***@db.example:5432/j"),
    ("postgres://u:p@h/j?sslmode=require", "postgres://u:***@h/j?sslmode=require"),
    ("postgresql://u@h/j?password=s3cret&sslmode=require", "postgresql://u@h/j?password=***&sslmode=require"),
    ("host=h dbname=j password='a b' user=u", "host=h dbname=j password=*** user=u"),
    ("postgresql://h/j", "postgresql://h/j"),
    ("journal.sqlite", "journal.sqlite"),
])
def test_mask_dsn(given: str, shown: str) -> None:
    assert mask_dsn(given) == shown


def test_an_unreachable_database_is_a_journal_error_without_the_password(pg_cluster: object) -> None:
    with pytest.raises(JournalError) as failed:
        Journal("postgresql://gdwi:Sup3rSecret@127.0.0.1:1/gdwi?connect_timeout=2")
    assert "Sup3rSecret" not in str(failed.value) and "***" in str(failed.value)


def test_a_password_in_the_url_is_used_and_never_shown(pg_cluster: object, pg_url: str) -> None:
    url = pg_url.replace("gdwi@", "gdwi:Sup3rSecret@")  # the test cluster trusts 127.0.0.1
    with Journal(url) as journal:
        assert journal.postgres and "Sup3rSecret" not in journal.location
        with pytest.raises(JournalError, match="not a file"):
            _ = journal.path


def test_a_lost_connection_is_opened_again_on_the_next_use(pg_cluster: Cluster, pg_url: str) -> None:
    """A server restart or a network cut fails the call that meets it (a JournalError, nothing
    sent for a begin); the journal connects again on the next call."""
    with open_journal(pg_url) as journal:
        first = journal.begin("bizh110001", "query", "<program/>")
        pg_cluster.admin(f"SELECT pg_terminate_backend({journal.database.conn.info.backend_pid})")
        with pytest.raises(JournalError, match="cannot read"):
            journal.get(first)
        second = journal.begin("bizh110001", "query", "<program/>")
        assert [e.id for e in journal.list()] == [second, first]
