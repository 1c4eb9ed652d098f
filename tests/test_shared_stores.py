"""The stores that share the journal's database, on both backends: the gateway's idempotency keys
and the code tables; and `gdwi journal migrate`, which copies a SQLite journal into PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapter.cli import app
from adapter.gateway.idempotency import IdempotencyStore
from adapter.ops.codes import CodeRow, CodeStore, CodeTables
from adapter.ops.transfer import copy_journal
from adapter.wire.deviations import Deviation, DeviationKind
from adapter.wire.journal import Journal, Status, open_journal

runner = CliRunner(env={"COLUMNS": "200"})
STAMP = "2024-03-01T04:00:00+00:00"


# --------------------------------------------------------------------------- idempotency keys


def test_idempotency_keys_claim_replay_conflict_release(journal_target: str) -> None:
    store = IdempotencyStore(journal_target)
    try:
        assert store.claim("k1", "call-a").run
        assert store.claim("k1", "call-a").conflict == "in_progress"
        store.finish("k1", 200, b'{"ok": true}')
        replay = store.claim("k1", "call-a")
        assert (replay.run, replay.status, replay.answer) == (False, 200, b'{"ok": true}')
        assert store.claim("k1", "call-b").conflict == "different_call"
        assert store.claim("k2", "call-a").run
        store.release("k2")
        assert store.claim("k2", "call-a").run
    finally:
        store.close()


def test_one_key_sent_to_two_nodes_at_once_runs_once(journal_target: str) -> None:
    stores = [IdempotencyStore(journal_target) for _ in range(2)]
    barrier = threading.Barrier(8)
    runs: list[bool] = []

    def send(store: IdempotencyStore) -> None:
        barrier.wait()
        runs.append(store.claim("same-key", "same-call").run)

    threads = [threading.Thread(target=send, args=(stores[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for store in stores:
        store.close()
    assert sorted(runs) == [False] * 7 + [True]


def test_nodes_starting_at_once_create_the_shared_tables_once(journal_target: str) -> None:
    """Eight stores (and readiness probes) opened at the same moment on a new database: every
    CREATE … IF NOT EXISTS waits for the schema lock instead of racing (PostgreSQL's would fail)."""
    from adapter.gateway.health import journal_writable

    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def start(index: int) -> None:
        barrier.wait()
        try:
            if index % 3 == 0:
                assert journal_writable(journal_target).ok
            elif index % 3 == 1:
                CodeStore(journal_target).close()
            else:
                IdempotencyStore(journal_target).close()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []


# --------------------------------------------------------------------------- code tables


def test_code_tables_in_the_journal_database(journal_target: str) -> None:
    Journal(journal_target).close()
    with CodeStore(journal_target) as store:
        store.replace([CodeRow("bka006", "426", "测试新待遇", "441900", STAMP),
                       CodeRow("aka130", "49", "旧值", "", STAMP)])
        store.replace([CodeRow("bka006", "427", "另一个", "441900", STAMP)], ["bka006"])
        assert [(r.list, r.code) for r in store.rows()] == [("aka130", "49"), ("bka006", "427")]
    tables = CodeTables.from_path(journal_target)
    assert tables.display_name("bka006", "427") == "另一个"
    assert tables.check_open_code("bka006", "427") is None


# --------------------------------------------------------------------------- gdwi journal migrate


def _filled_sqlite(path: Path) -> dict[int, object]:
    big = "<program>" + "".join(f"<row><ake005>X{i:05d}</ake005></row>" for i in range(400)) + "</program>"
    with Journal(path) as journal:
        ok = journal.begin("bizh120002", "state_changing", big, aaz218="20240301000000000001",
                           akb020="H44190000001", exclusive=True)
        journal.finish(ok, Status.OK, response_xml=big, return_code="1")
        journal.record_deviations(ok, [Deviation("bizh120002", "bka888", "bka888",
                                                 DeviationKind.UNLISTED_CODE, "3")])
        unknown = journal.begin("bizh120002", "state_changing", "<program/>", aaz218="20240301000000000002",
                                exclusive=True)
        journal.finish(unknown, Status.UNKNOWN, message="read timeout")
        journal.begin("bizh110001", "query", "<program/>")
        entries = {entry.id: entry for entry in journal.list()}
    with CodeStore(path) as store:
        store.replace([CodeRow("bka006", "426", "测试新待遇", "441900", STAMP)])
    return dict(entries)


def test_migrate_copies_entries_deviations_and_code_tables(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "journal.sqlite"
    before = _filled_sqlite(source)
    copied = copy_journal(source, pg_url)
    assert (copied.entries, copied.deviations, copied.code_rows, copied.unresolved) == (3, 1, 1, 2)
    with open_journal(pg_url) as moved:
        assert {entry.id: entry for entry in moved.list()} == before  # every field, ids included
        assert len(moved.deviations()) == 1
        newer = moved.begin("bizh110001", "query", "<program/>")
        assert newer > max(before)  # new ids go on after the copied ones
        with pytest.raises(Exception, match="unresolved"):  # the copied unknown entry still guards
            moved.begin("bizh120002", "state_changing", "<program/>", aaz218="20240301000000000002",
                        exclusive=True)
    assert CodeTables.from_path(pg_url).display_name("bka006", "426") == "测试新待遇"


def test_cli_migrate_refuses_a_filled_target_without_force_and_masks_the_password(
        tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "journal.sqlite"
    _filled_sqlite(source)
    url = pg_url.replace("gdwi@", "gdwi:Sup3rSecret@")
    first = runner.invoke(app, ["journal", "migrate", "--db", str(source), "--to", url])
    assert first.exit_code == 0, first.output
    said = " ".join(first.output.split())  # as one line, however the console wrapped it
    assert "3 entries, 1 deviations, 1 code-table rows" in said
    assert "2 of them pending or unknown" in said
    again = runner.invoke(app, ["journal", "migrate", "--db", str(source), "--to", url])
    assert again.exit_code == 2 and "already holds 1 journal entries of H44190000001" in " ".join(
        again.output.split())
    forced = runner.invoke(app, ["journal", "migrate", "--db", str(source), "--to", url, "--force"])
    assert forced.exit_code == 0 and "3 entries" in forced.output
    for result in (first, again, forced):
        assert "Sup3rSecret" not in "".join(result.output.split())  # not even across a line break
    listed = runner.invoke(app, ["journal", "list", "--db", url, "--json"])
    assert listed.exit_code == 0 and listed.output.count('"id"') == 3
    scoped = runner.invoke(app, ["journal", "list", "--db", url, "--institution", "H44190000001", "--json"])
    assert scoped.exit_code == 0 and scoped.output.count('"id"') == 1, scoped.output


def _hospital(path: Path, akb020: str, count: int, key: str) -> list[int]:
    """A hospital's own SQLite journal: `count` entries of `akb020` (the first with a deviation),
    and one Idempotency-Key its single-institution gateway stored unscoped."""
    ids = []
    with Journal(path) as journal:
        for n in range(count):
            entry = journal.begin("bizh120002", "state_changing", f"<program><n>{n}</n></program>",
                                  aaz218=f"{akb020}{n:06d}", akb020=akb020)
            journal.finish(entry, Status.OK, response_xml=f"<ok>{akb020}-{n}</ok>", return_code="1")
            ids.append(entry)
        journal.record_deviations(ids[0], [Deviation("bizh120002", "bka888", "bka888",
                                                     DeviationKind.UNLISTED_CODE, akb020[-1])])
    store = IdempotencyStore(path)
    assert store.claim(key, "call-" + akb020).run
    store.finish(key, 200, f'{{"from": "{akb020}"}}'.encode())
    store.close()
    return ids


def _migrate(source: Path, url: str, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["journal", "migrate", "--db", str(source), "--to", url, *extra])
    return result.exit_code, " ".join(result.output.split())


def test_migrate_a_second_hospital_appends_and_never_touches_the_first(tmp_path: Path, pg_url: str) -> None:
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    a_ids = _hospital(first, "H44190000001", 3, "same-key")
    b_ids = _hospital(second, "H44190000002", 4, "same-key")
    code, said = _migrate(first, pg_url, "--group")
    assert code == 0 and "copied 3 entries, 1 deviations" in said, said
    assert "Idempotency-Keys scoped by institution" in said, said
    code, said = _migrate(second, pg_url, "--id-map", str(tmp_path / "ids.csv"))  # appending: the default
    assert code == 0 and "copied 4 entries, 1 deviations" in said, said
    assert "Idempotency-Keys scoped by institution" in said, said
    assert "appended" in said and f"ids {b_ids[0]}–{b_ids[-1]} are now 4–7" in said, said
    mapped = [f"{old},{new}" for old, new in zip(b_ids, range(4, 8), strict=True)]
    assert (tmp_path / "ids.csv").read_text().split() == mapped
    with open_journal(pg_url) as group:
        a_rows = group.list(institution="H44190000001")
        b_rows = group.list(institution="H44190000002")
        assert sorted(entry.id for entry in a_rows) == a_ids  # the first hospital kept its ids
        assert sorted(entry.id for entry in b_rows) == [4, 5, 6, 7]
        assert [entry.response_xml for entry in sorted(b_rows, key=lambda e: e.id)] == [
            f"<ok>H44190000002-{n}</ok>" for n in range(4)]  # old order kept
        moved = {entry: deviation.sample for _, entry, deviation in group.deviations()}
        assert moved == {a_ids[0]: "1", 4: "2"}  # the deviation follows its entry to its new id
        assert group.begin("bizh110001", "query", "<program/>") == 8  # the sequence goes on after them
    keys = IdempotencyStore(pg_url)  # looked up as the group gateway does: "<akb020>\t<key>"
    try:
        for akb020 in ("H44190000001", "H44190000002"):
            replay = keys.claim(f"{akb020}\tsame-key", "call-" + akb020)
            assert replay.answer == f'{{"from": "{akb020}"}}'.encode() and replay.status == 200
    finally:
        keys.close()
    code, said = _migrate(second, pg_url)  # the same hospital again: refused, in one line
    assert code == 2 and "already holds 4 journal entries of H44190000002" in said and "--force" in said
    code, said = _migrate(second, pg_url, "--force")  # replaces that hospital's entries only
    assert code == 0 and "deleted the 4 entries of H44190000002" in said, said
    with open_journal(pg_url) as group:
        assert sorted(entry.id for entry in group.list(institution="H44190000001")) == a_ids
        assert len(group.list(institution="H44190000002")) == 4
        assert len(group.list()) == 8  # 3 + 4 + the query begun above (institution none)
        assert sorted(entry for _, entry, _ in group.deviations())[0] == a_ids[0]
        assert len(group.deviations()) == 2


def test_the_same_journal_migrated_twice_at_once_is_copied_once(tmp_path: Path, pg_url: str) -> None:
    from adapter.errors import InputError

    _hospital(tmp_path / "a.sqlite", "H44190000001", 1, "k")
    source = tmp_path / "b.sqlite"
    _hospital(source, "H44190000002", 300, "k")
    copy_journal(tmp_path / "a.sqlite", pg_url, group=True)
    outcomes: list[str] = []

    def migrate() -> None:
        try:
            outcomes.append(f"copied {copy_journal(source, pg_url).entries}")
        except InputError:
            outcomes.append("refused")

    threads = [threading.Thread(target=migrate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["copied 300", "refused"]
    with open_journal(pg_url) as group:
        assert len(group.list(institution="H44190000002", limit=1000)) == 300


def test_migrate_refusal_leaves_the_target_as_it_was(tmp_path: Path, pg_url: str) -> None:
    """One transaction: a copy that fails half-way (a clashing unresolved business) leaves nothing."""
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    _hospital(first, "H44190000001", 2, "k")
    with Journal(second) as journal:
        journal.begin("bizh120002", "state_changing", "<program/>", aaz218="SAME", akb020="H44190000002",
                      exclusive=True)
        journal.begin("bizh120002", "state_changing", "<program/>", aaz218="X", akb020="H44190000002")
    with open_journal(pg_url) as group:
        group.begin("bizh120002", "state_changing", "<program/>", aaz218="SAME", akb020="H44190000003",
                    exclusive=True)
    with pytest.raises(Exception, match="nothing copied"):
        copy_journal(second, pg_url)
    with open_journal(pg_url) as group:
        assert [entry.institution for entry in group.list()] == ["H44190000003"]


def test_migrate_wants_a_postgresql_target(tmp_path: Path) -> None:
    source = tmp_path / "journal.sqlite"
    Journal(source).close()
    result = runner.invoke(app, ["journal", "migrate", "--db", str(source), "--to", str(tmp_path / "x.sqlite")])
    assert result.exit_code == 2 and "postgresql://" in result.output


# --------------------------------------------------------------------------- gdwi doctor


def test_doctor_checks_a_postgresql_journal_and_never_shows_its_password(pg_url: str) -> None:
    import json

    url = pg_url.replace("gdwi@", "gdwi:Sup3rSecret@")
    env = {"GDWI_BASE_URL": "http://127.0.0.1:9", "GDWI_USERID": "u1", "GDWI_PASSWORD": "pw-123456",
           "GDWI_AKB020": "H44190000001", "GDWI_JOURNAL": url}
    result = runner.invoke(app, ["doctor", "--json", "--skip-login"], env=env)
    assert "Sup3rSecret" not in "".join(result.output.split())
    journal = next(check for check in json.loads(result.stdout) if check["name"] == "journal")
    assert journal["status"] == "warn" and "holds a password" in journal["detail"], journal
    with open_journal(url) as opened:
        opened.finish(opened.begin("bizh120002", "state_changing", "<program/>"), Status.UNKNOWN)
    result = runner.invoke(app, ["doctor", "--json", "--skip-login"], env={**env, "GDWI_JOURNAL": pg_url})
    journal = next(check for check in json.loads(result.stdout) if check["name"] == "journal")
    assert journal["status"] == "fail" and "1 entry with an unknown outcome" in journal["detail"], journal


def test_journal_check_and_show_on_a_postgresql_journal(pg_url: str) -> None:
    with open_journal(pg_url) as journal:
        entry = journal.begin("bizh110001", "query", "<program/>", institution="H44190000001")
    checked = runner.invoke(app, ["journal", "check", "--db", pg_url])
    assert checked.exit_code == 0 and "ok (PostgreSQL" in " ".join(checked.output.split()), checked.output
    shown = runner.invoke(app, ["journal", "show", str(entry), "--db", pg_url])
    assert shown.exit_code == 0 and "H44190000001" in shown.output and "pending" in shown.output
    missing = runner.invoke(app, ["journal", "show", "999", "--db", pg_url.replace("gdwi@", "gdwi:Sup3rSecret@")])
    assert missing.exit_code == 2 and "Sup3rSecret" not in "".join(missing.output.split())
