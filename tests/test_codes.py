"""Code tables (adapter/ops/codes.py, `gdwi codes`): bizh120205 into SQLite, open-list checks, labels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hospital_day import example
from seed_login import AKB020, PASSWORD
from seed_login import USERID as USER
from typer.testing import CliRunner

from adapter.cli import app
from adapter.mock.app import create_app
from adapter.mock.inprocess import InProcessTransport
from adapter.mock.server import MockServer
from adapter.ops.codes import (
    CodeRow,
    CodeStore,
    CodeTables,
    check_open_code,
    display_name,
    open_code_warnings,
    sync,
    use_tables,
)
from adapter.wire.client import Client
from adapter.wire.config import Settings
from generated.registry import CODE_LISTS

runner = CliRunner()
SPEC_CODES = sum(len(meta.values) for meta in CODE_LISTS.values())


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    settings = Settings(base_url="http://127.0.0.1:9", userid=USER, password=PASSWORD, akb020=AKB020,
                        journal_path=str(tmp_path / "journal.sqlite"))
    with Client(settings, http_transport=InProcessTransport(create_app())) as live:
        yield live


@pytest.fixture(autouse=True)
def no_default_tables() -> Iterator[None]:
    """Each test starts without cached default tables (they are module state)."""
    use_tables(CodeTables())
    yield
    use_tables(None)


class Province:
    """A province that serves one value the spec does not know (bka006 426), as a real one may."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def call_wire(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(values)
        rows = [{"aaa100": "bka006", "aaa101": "医疗待遇类型", "aaa102": "426", "aaa103": "测试新待遇",
                 "aaa027": "441900"},
                {"aaa100": "bka006", "aaa102": "420", "aaa103": "工伤普通住院（省）", "aaa027": "441900"},
                {"aaa100": "", "aaa102": "x"}]  # names no list: skipped
        return {"codeinfo": rows}


def test_sync_all_tables_from_the_mock_stores_every_code(client: Client, tmp_path: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    with CodeStore(tmp_path / "journal.sqlite") as store:
        counts = sync(client, store, progress=lambda name, rows, total: seen.append((name, rows, total)))
        rows = store.rows()
    assert sum(counts.values()) == SPEC_CODES == len(rows)
    assert set(counts) == set(CODE_LISTS)
    assert len(seen) == len(CODE_LISTS) and all(total == len(CODE_LISTS) for _, _, total in seen)
    bka006 = {row.code: row for row in rows if row.list == "bka006"}
    assert bka006["420"].label == "工伤普通住院" and bka006["420"].center == "441900"
    assert client.journal.list(function_id="bizh120205")[0].status == "ok"


def test_sync_by_name_replaces_only_that_list(client: Client, tmp_path: Path) -> None:
    with CodeStore(tmp_path / "codes.sqlite") as store:
        store.replace([CodeRow("aka130", "49", "旧值", "", "2019-01-01T00:00:00+00:00"),
                       CodeRow("bka006", "999", "旧值", "", "2019-01-01T00:00:00+00:00")])
        counts = sync(client, store, ["BKA006"])
        lists = {row.list: row for row in store.rows()}
        assert counts == {"bka006": len(CODE_LISTS["bka006"].values)}
        assert "999" not in {row.code for row in store.rows("bka006")}  # replaced whole
        assert lists["aka130"].code == "49"  # other lists untouched


def test_open_list_value_unknown_to_spec_and_sync_is_a_warning_naming_code_and_name(tmp_path: Path) -> None:
    warning = check_open_code("bka006", "426")
    assert warning is not None
    assert "bka006 医疗待遇类型" in warning and "'426'" in warning and "gdwi codes sync bka006" in warning
    assert check_open_code("bka006", "420") is None  # in the spec's list
    with CodeStore(tmp_path / "codes.sqlite") as store:
        sync(Province(), store)
        tables = CodeTables.from_store(store)
    assert tables.check_open_code("bka006", "426") is None  # served by the province
    assert tables.check_open_code("bka006", "499") is not None


def test_closed_lists_and_uncoded_fields_are_not_this_checks_business() -> None:
    assert check_open_code("aac004", "7") is None  # closed: the models refuse it
    assert check_open_code("akb021", "anything") is None


def test_display_name_prefers_the_synced_label_then_the_spec(tmp_path: Path) -> None:
    with CodeStore(tmp_path / "codes.sqlite") as store:
        sync(Province(), store)
    tables = CodeTables.from_path(tmp_path / "codes.sqlite")
    assert tables.display_name("bka006", "420") == "工伤普通住院（省）"  # synced wins
    assert tables.display_name("bka006", "426") == "测试新待遇"
    assert tables.display_name("bka006", "421") == "医疗康复住院"  # spec fallback
    assert tables.display_name("bka006", "777") == "777"  # unknown: the value itself
    assert display_name("aac004", "2") == "女"
    assert CodeTables.from_path(tmp_path / "missing.sqlite").synced_lists() == []
    assert not (tmp_path / "missing.sqlite").exists()  # reading does not create a file


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as live:
        yield live


def test_cli_sync_and_show(server: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "journal.sqlite"
    for name, value in (("BASE_URL", server.url), ("USERID", USER), ("PASSWORD", PASSWORD),
                        ("AKB020", AKB020), ("JOURNAL", str(journal))):
        monkeypatch.setenv(f"GDWI_{name}", value)
    result = runner.invoke(app, ["codes", "sync", "bka006", "aka130"])
    assert result.exit_code == 0, result.output
    assert f"synced 9 code(s) in 2 list(s) into {journal}" in result.output.replace("\n", "")
    shown = runner.invoke(app, ["codes", "show", "bka006"])
    assert shown.exit_code == 0, shown.output
    assert "工伤普通住院" in shown.output and "441900" in shown.output
    assert runner.invoke(app, ["codes", "show", "nosuch"]).exit_code == 2


def test_open_code_warnings_walk_a_whole_message() -> None:
    request = example("bizh120103", aac001="1000000002", bka006="499", aka130="42")
    warnings = open_code_warnings("bizh120103", "request", request)
    assert len(warnings) == 1 and warnings[0].startswith("bka006 医疗待遇类型: '499'")
    rows = {"list": [{"aka063": "01"}, {"aka063": "88"}]}
    assert [w.split(":")[0] for w in open_code_warnings("bizh120113", "response", rows)] == ["list[1].aka063 费用类别"]
