"""The operator's tools: `gdwi doctor` against a mock province on a real socket, reconciliation
of exports as Excel writes them (GBK, UTF-8 with BOM), and the mock seed's round trip."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from seed_login import AKB020, PASSWORD
from seed_login import USERID as USER
from typer.testing import CliRunner

from adapter.cli import app
from adapter.errors import HisExportError
from adapter.mock.seed import default_seed, load_seed, seed_as_data
from adapter.mock.server import MockServer
from adapter.ops.reconcile import HIS_COLUMNS, read_his_csv
from adapter.wire.journal import Journal

runner = CliRunner()
TODAY = date(2026, 11, 26)


@pytest.fixture(scope="module")
def province() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("GDWI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def _env(server: MockServer, journal: Path, **changes: str) -> dict[str, str]:
    return {"GDWI_BASE_URL": server.url, "GDWI_USERID": USER, "GDWI_PASSWORD": PASSWORD,
            "GDWI_AKB020": AKB020, "GDWI_JOURNAL": str(journal), **changes}


def _doctor(env: dict[str, str], *extra: str) -> tuple[int, list[dict[str, Any]]]:
    result = runner.invoke(app, ["doctor", "--json", *extra], env=env)
    return result.exit_code, json.loads(result.stdout)


def _status(checks: list[dict[str, Any]]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in checks}


# --------------------------------------------------------------------------- doctor


def test_doctor_passes_against_a_working_province(province: MockServer, tmp_path: Path) -> None:
    code, checks = _doctor(_env(province, tmp_path / "journal.sqlite"))
    status = _status(checks)
    assert code == 0, checks
    assert {status[name] for name in ("settings", "dns", "tcp", "clock", "login")} == {"ok"}
    login = next(check for check in checks if check["name"] == "login")
    assert "Beijing" in login["detail"] and PASSWORD not in json.dumps(checks)
    lines = runner.invoke(app, ["doctor"], env=_env(province, tmp_path / "journal.sqlite")).output.splitlines()
    assert any(line.startswith("✓ login") for line in lines)


def test_doctor_names_a_wrong_password(province: MockServer, tmp_path: Path) -> None:
    code, checks = _doctor(_env(province, tmp_path / "journal.sqlite", GDWI_PASSWORD="wrong-password"))
    login = next(check for check in checks if check["name"] == "login")
    assert code == 4 and login["status"] == "fail" and "GDWI_PASSWORD" in login["fix"]
    assert "wrong-password" not in json.dumps(checks)


def test_doctor_stops_at_a_closed_port(tmp_path: Path, province: MockServer) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, checks = _doctor(_env(province, tmp_path / "j.sqlite", GDWI_BASE_URL=f"http://127.0.0.1:{port}"))
    status = _status(checks)
    assert code == 5 and status["tcp"] == "fail" and "login" not in status


def test_doctor_flags_a_journal_others_can_read_and_unknown_outcomes(province: MockServer, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    with Journal(journal) as opened:
        opened.begin("bizh120002", "state_changing", "<program/>")  # pending: outcome not known
    journal.chmod(0o644)
    code, checks = _doctor(_env(province, journal), "--skip-login")
    entry = next(check for check in checks if check["name"] == "journal")
    assert code == 3 and entry["status"] == "fail" and "chmod 600" in entry["fix"]
    journal.chmod(0o600)
    code, checks = _doctor(_env(province, journal), "--skip-login")
    entry = next(check for check in checks if check["name"] == "journal")
    assert code == 6 and "1 entry with an unknown outcome" in entry["detail"]
    assert "gdwi journal recover" in entry["fix"]


def test_doctor_without_settings_fails_as_configuration(tmp_path: Path) -> None:
    code, checks = _doctor({})
    assert code == 3 and _status(checks)["settings"] == "fail"


# --------------------------------------------------------------------------- reconcile input


def _csv(path: Path, encoding: str, bom: bytes = b"") -> Path:
    rows = [",".join(HIS_COLUMNS), f"{TODAY.isoformat()},outpatient,A1,1,10.00,2.00,8.00,门诊收费单一"]
    path.write_bytes(bom + ("\r\n".join(rows) + "\r\n").encode(encoding))
    return path


@pytest.mark.parametrize(("encoding", "bom", "detected"), [
    ("utf-8", b"", "utf-8"), ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"), ("gbk", b"", "gb18030"),
    ("gb18030", b"", "gb18030"),
])
def test_exports_in_the_encodings_excel_writes(tmp_path: Path, encoding: str, bom: bytes, detected: str) -> None:
    export = read_his_csv(_csv(tmp_path / "his.csv", encoding, bom), TODAY)
    assert export.encoding == detected
    assert [row.his_ref for row in export.rows] == ["门诊收费单一"]


def test_a_forced_encoding_that_does_not_fit_is_one_line(tmp_path: Path) -> None:
    path = _csv(tmp_path / "his.csv", "gbk")
    with pytest.raises(HisExportError, match="not utf-8 at byte"):
        read_his_csv(path, TODAY, encoding="utf-8")
    assert read_his_csv(path, TODAY, encoding="gbk").rows[0].his_ref == "门诊收费单一"
    result = runner.invoke(app, ["reconcile", "--date", TODAY.isoformat(), "--his", str(path),
                                 "--encoding", "utf-8"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and "--encoding" in lines[0], result.output


# --------------------------------------------------------------------------- mock seed


def test_seed_yaml_round_trips(tmp_path: Path) -> None:
    result = runner.invoke(app, ["mock", "seed", "--format", "yaml"])
    assert result.exit_code == 0
    path = tmp_path / "seed.yaml"
    path.write_text(result.stdout, encoding="utf-8")
    assert seed_as_data(load_seed(path)) == seed_as_data(default_seed())
    assert yaml.safe_load(result.stdout)["users"][0]["userid"] == USER
    data = seed_as_data(default_seed())
    data["city"], data["answers"] = "refund_only", {"style": "real", "seed": 7}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    again = runner.invoke(app, ["mock", "seed", "--seed", str(path), "--format", "yaml"])
    assert yaml.safe_load(again.stdout) == data


def test_a_bad_seed_is_one_line_of_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    data = seed_as_data(default_seed())
    data["persons"][0]["status"] = "ok"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["mock", "seed", "--seed", str(path)])
    assert result.exit_code == 2 and "persons[0].status" in result.output
    assert len(result.output.strip().splitlines()) == 1
