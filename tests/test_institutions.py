"""Several institutions in one deployment (issue 15): their settings, one gateway with a token bound
to each, and what one institution can see of another's (nothing).

The gateway runs in process over two clients of the mock's two seeded users (测试医院一/二), one
journal file shared, as `gdwi gateway serve` builds them for a configuration with `institutions`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from seed_login import AKB020, OTHER_AKB020, OTHER_PASSWORD, OTHER_USERID, PASSWORD, USERID
from typer.testing import CliRunner

from adapter.cli import app as cli_app
from adapter.errors import ConfigError, TokenError
from adapter.gateway import create_group_gateway
from adapter.mock.app import context_of, create_app
from adapter.mock.inprocess import InProcessTransport
from adapter.mock.province import MockProvince
from adapter.mock.server import MockServer
from adapter.wire.client import Client
from adapter.wire.config import Settings
from adapter.wire.institutions import load_institutions, settings_for
from adapter.wire.journal import Journal
from tests.test_gateway import A_DISCHARGE, OPERATOR, a_stay, fees

TOKEN_A = "institution-a-token-0123456789abcdef"
TOKEN_B = "institution-b-token-fedcba9876543210"
GROUP_TOML = f"""
base_url = "http://127.0.0.1:9"
read_timeout = 5

[institutions.{AKB020}]
userid = "{USERID}"

[institutions.{OTHER_AKB020}]
userid = "{OTHER_USERID}"
read_timeout = 7
"""


def passwords() -> dict[str, str]:
    return {f"GDWI_{AKB020}_PASSWORD": PASSWORD, f"GDWI_{OTHER_AKB020}_PASSWORD": OTHER_PASSWORD}


def group_file(tmp_path: Path, text: str = GROUP_TOML) -> Path:
    path = tmp_path / "gdwi.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)  # may hold a secret (a test puts a password in a table)
    return path


# --------------------------------------------------------------------------- settings


def test_a_group_file_gives_each_institution_its_own_login_and_shares_the_rest(tmp_path: Path) -> None:
    declared = load_institutions(passwords(), config=group_file(tmp_path))
    assert list(declared) == [AKB020, OTHER_AKB020]
    a, b = declared[AKB020].settings, declared[OTHER_AKB020].settings
    assert (a.userid, a.password, a.akb020, a.read_timeout) == (USERID, PASSWORD, AKB020, 5.0)
    assert (b.userid, b.password, b.akb020, b.read_timeout) == (OTHER_USERID, OTHER_PASSWORD, OTHER_AKB020, 7.0)
    assert a.base_url == b.base_url and a.journal == b.journal
    assert declared[OTHER_AKB020].token_env == f"GDWI_{OTHER_AKB020}_GATEWAY_TOKEN"
    # The environment wins over the table, per institution.
    env = {**passwords(), f"GDWI_{AKB020}_USERID": "override"}
    assert load_institutions(env, config=group_file(tmp_path))[AKB020].settings.userid == "override"
    # Shown nowhere: the settings' repr hides both passwords.
    assert PASSWORD not in repr(declared) and OTHER_PASSWORD not in repr(declared)


def test_institutions_from_the_environment_alone(tmp_path: Path) -> None:
    env = {"GDWI_INSTITUTIONS": f"{AKB020}, {OTHER_AKB020}", "GDWI_BASE_URL": "http://127.0.0.1:9",
           f"GDWI_{AKB020}_USERID": USERID, f"GDWI_{OTHER_AKB020}_USERID": OTHER_USERID, **passwords()}
    declared = load_institutions(env)
    assert {code: each.settings.userid for code, each in declared.items()} == \
        {AKB020: USERID, OTHER_AKB020: OTHER_USERID}


def test_a_password_comes_from_the_environment_or_an_owner_only_file(tmp_path: Path) -> None:
    secret = tmp_path / "a.password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    secret.chmod(0o644)
    text = GROUP_TOML.replace(f'userid = "{USERID}"', f'userid = "{USERID}"\npassword_file = "{secret}"')
    env = {f"GDWI_{OTHER_AKB020}_PASSWORD": OTHER_PASSWORD}
    with pytest.raises(ConfigError, match="open to other users"):
        load_institutions(env, config=group_file(tmp_path, text))
    secret.chmod(0o600)
    assert load_institutions(env, config=group_file(tmp_path, text))[AKB020].settings.password == PASSWORD
    in_file = GROUP_TOML.replace(f'userid = "{USERID}"', f'userid = "{USERID}"\npassword = "{PASSWORD}"')
    with pytest.raises(ConfigError, match=f"institutions.{AKB020}.password: never in the file") as refused:
        load_institutions(env, config=group_file(tmp_path, in_file))
    assert PASSWORD not in str(refused.value)
    with pytest.raises(ConfigError, match=f"GDWI_{AKB020}_PASSWORD"):  # missing: says where to put it
        load_institutions(env, config=group_file(tmp_path))


def test_shared_credentials_an_unknown_key_and_a_bad_code_are_refused(tmp_path: Path) -> None:
    shared = GROUP_TOML.replace("read_timeout = 5", 'read_timeout = 5\nuserid = "ss0028"')
    with pytest.raises(ConfigError, match="userid: set per institution"):
        load_institutions(passwords(), config=group_file(tmp_path, shared))
    unknown = GROUP_TOML.replace("read_timeout = 7", "jurnal = 7")
    with pytest.raises(ConfigError, match=f"institutions.{OTHER_AKB020}.jurnal: not a per-institution"):
        load_institutions(passwords(), config=group_file(tmp_path, unknown))
    bad = GROUP_TOML.replace(f"[institutions.{OTHER_AKB020}]", "[institutions.ss-0029]")
    with pytest.raises(ConfigError, match=r"institutions\.ss-0029: .*akb020"):
        load_institutions(passwords(), config=group_file(tmp_path, bad))


def test_one_institution_is_chosen_and_a_single_config_is_unchanged(tmp_path: Path) -> None:
    config = group_file(tmp_path)
    with pytest.raises(ConfigError, match=r"declares 2 institutions.*--institution"):
        settings_for(None, passwords(), config=config)
    assert settings_for(OTHER_AKB020, passwords(), config=config).userid == OTHER_USERID
    with pytest.raises(ConfigError, match="not an institution of this configuration"):
        settings_for("H000", passwords(), config=config)
    with pytest.raises(ConfigError, match="declares `institutions`"):
        Settings.from_env(passwords(), config=config)
    single = {"GDWI_BASE_URL": "http://127.0.0.1:9", "GDWI_USERID": USERID, "GDWI_PASSWORD": PASSWORD,
              "GDWI_AKB020": AKB020}
    assert settings_for(None, single) == Settings.from_env(single)
    [only] = load_institutions(single).values()
    assert only.token_env == "GDWI_GATEWAY_TOKEN" and only.settings.akb020 == AKB020


def test_cli_commands_take_the_institution_and_serve_refuses_a_shared_token_file(tmp_path: Path) -> None:
    config = str(group_file(tmp_path))
    runner = CliRunner()
    unchosen = runner.invoke(cli_app, ["--config", config, "call", "bizh120002", "--data", "{}"], env=passwords())
    assert unchosen.exit_code == 3 and "--institution CODE" in unchosen.output
    token = tmp_path / "token"
    token.write_text(TOKEN_A, encoding="utf-8")
    token.chmod(0o600)
    shared = runner.invoke(cli_app, ["--config", config, "gateway", "serve", "--token-file", str(token)],
                           env=passwords())
    assert shared.exit_code == 3 and "each has its own token" in shared.output
    no_token = runner.invoke(cli_app, ["--config", config, "gateway", "serve"], env=passwords())
    assert no_token.exit_code == 3 and f"GDWI_{AKB020}_GATEWAY_TOKEN" in no_token.output


# --------------------------------------------------------------------------- one gateway, two institutions


@dataclass
class Group:
    a: httpx.Client
    b: httpx.Client
    province: MockProvince
    journal: Journal


@pytest.fixture
def group(tmp_path: Path) -> Iterator[Group]:
    mock_app = create_app()
    province = context_of(mock_app).province
    assert isinstance(province, MockProvince)
    journal = Journal(tmp_path / "journal.sqlite")
    logins = ((USERID, PASSWORD, AKB020), (OTHER_USERID, OTHER_PASSWORD, OTHER_AKB020))
    clients = [Client(Settings(base_url="http://127.0.0.1:9", userid=userid, password=password, akb020=akb020,
                               journal=str(journal.path), read_timeout=5, retry_backoff=0.01),
                      journal=journal, http_transport=InProcessTransport(mock_app))
               for userid, password, akb020 in logins]
    app = create_group_gateway(clients, {TOKEN_A: AKB020, TOKEN_B: OTHER_AKB020})

    def his(token: str) -> httpx.Client:
        return httpx.Client(transport=InProcessTransport(app), base_url="http://gateway",
                            headers={"Authorization": f"Bearer {token}"})

    with his(TOKEN_A) as a, his(TOKEN_B) as b:
        yield Group(a, b, province, journal)
    for client in clients:
        client.close()
    journal.close()


def admitted(his: httpx.Client, person_no: str) -> str:
    answer = his.post("/inpatient/admit", json={"stay": a_stay(person_no), "operator": OPERATOR})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["visit_no"])


def test_each_token_acts_only_as_its_institution(group: Group, caplog: pytest.LogCaptureFixture) -> None:
    stay_a, stay_b = admitted(group.a, "1000000002"), admitted(group.b, "1000000006")
    # Each stay was opened at the province under its own token's institution, with its own login.
    sessions = group.province.snapshot()["sessions"]
    assert sorted(s["akb020"] for s in sessions.values()) == sorted([AKB020, OTHER_AKB020])
    assert {e.akb020 for e in group.journal.list() if e.aaz218 == stay_a} == {AKB020}
    assert {e.akb020 for e in group.journal.list() if e.aaz218 == stay_b} == {OTHER_AKB020}
    sent_before = len(group.journal.list(limit=1000))
    # B's token on A's stay: not found, whatever the step; nothing is sent.
    for method, path, body in (
            ("POST", f"/inpatient/{stay_a}/fees", {"fees": fees(2)}),
            ("GET", f"/inpatient/{stay_a}/fees", None),
            ("POST", f"/inpatient/{stay_a}/discharge", {"discharge": A_DISCHARGE, "operator": OPERATOR}),
            ("POST", f"/inpatient/{stay_a}/cancel", {"to": "cancelled"}),
            ("POST", "/functions/bizh120102", {"bka895": "aaz218", "bka896": stay_a, "aaz218": stay_a})):
        refused = group.b.request(method, path, json=body)
        assert refused.status_code == 404, (path, refused.text)
        assert refused.json()["error"] == "not_found" and OTHER_AKB020 in refused.json()["message"]
        assert AKB020 not in refused.json()["message"]  # the other institution is not named
    assert len(group.journal.list(limit=1000)) == sent_before
    # A's own stay works for A; A's institution code is the only one its calls can carry.
    assert group.a.post(f"/inpatient/{stay_a}/fees", json={"fees": fees(2)}).status_code == 200
    foreign_code = group.a.post("/functions/bizh120001", json={"akb020": OTHER_AKB020, "bka895": "aac001",
                                                               "bka896": "1000000002"})
    assert foreign_code.status_code == 400 and "akb020" in foreign_code.text
    assert PASSWORD not in caplog.text and OTHER_PASSWORD not in caplog.text


def test_idempotency_keys_of_two_institutions_never_meet(group: Group) -> None:
    headers = {"Idempotency-Key": "same-key-1"}
    first = group.a.post("/inpatient/admit", json={"stay": a_stay("1000000002"), "operator": OPERATOR},
                         headers=headers)
    other = group.b.post("/inpatient/admit", json={"stay": a_stay("1000000006"), "operator": OPERATOR},
                         headers=headers)
    assert first.status_code == other.status_code == 200
    assert "Idempotent-Replayed" not in other.headers and other.json()["visit_no"] != first.json()["visit_no"]
    again = group.a.post("/inpatient/admit", json={"stay": a_stay("1000000002"), "operator": OPERATOR},
                         headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()


def test_ready_names_each_institutions_login(group: Group) -> None:
    ready = group.a.get("/ready")
    assert ready.status_code == 200, ready.text
    names = {check["name"] for check in ready.json()["checks"]}
    assert names == {f"province_login {AKB020}", f"province_login {OTHER_AKB020}", "journal"}


def test_a_group_gateway_needs_a_token_per_institution_and_one_journal(tmp_path: Path) -> None:
    def clients(*files: str) -> list[Client]:
        logins = ((USERID, PASSWORD, AKB020), (OTHER_USERID, OTHER_PASSWORD, OTHER_AKB020))
        return [Client(Settings(base_url="http://127.0.0.1:9", userid=userid, password=password, akb020=akb020,
                                journal=str(tmp_path / name)))
                for (userid, password, akb020), name in zip(logins, files, strict=True)]

    shared, apart = clients("one.sqlite", "one.sqlite"), clients("one.sqlite", "two.sqlite")
    try:
        with pytest.raises(TokenError, match=f"no gateway token for {OTHER_AKB020}"):
            create_group_gateway(shared, {TOKEN_A: AKB020})
        with pytest.raises(ConfigError, match="share one journal"):
            create_group_gateway(apart, {TOKEN_A: AKB020, TOKEN_B: OTHER_AKB020})
    finally:
        for client in shared + apart:
            client.close()


def test_journal_list_drift_and_reconcile_are_per_institution(group: Group, tmp_path: Path) -> None:
    from datetime import date

    from adapter.ops.reconcile import read_journal
    from adapter.wire.deviations import Deviation, DeviationKind

    stay_a, stay_b = admitted(group.a, "1000000002"), admitted(group.b, "1000000006")
    for stay, akb020 in ((stay_a, AKB020), (stay_b, OTHER_AKB020)):
        [opened] = [e for e in group.journal.list() if e.aaz218 == stay]
        group.journal.record_deviations(opened.id, [Deviation(opened.function_id, "bka888", "bka888",
                                                              DeviationKind.UNKNOWN_ELEMENT, akb020, "")])
    runner, db = CliRunner(), str(group.journal.path)
    listed = runner.invoke(cli_app, ["--institution", OTHER_AKB020, "journal", "list", "--db", db, "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert rows and {row["institution"] for row in rows} == {OTHER_AKB020}
    assert stay_b in {row["aaz218"] for row in rows} and stay_a not in {row["aaz218"] for row in rows}
    everything = json.loads(runner.invoke(cli_app, ["journal", "list", "--db", db, "--json"]).output)
    assert {row["institution"] for row in everything} >= {AKB020, OTHER_AKB020}
    drift = runner.invoke(cli_app, ["--institution", AKB020, "spec", "drift", "--db", db, "--json"])
    assert drift.exit_code == 0, drift.output
    assert [item["answers"] for item in json.loads(drift.output)] == [1]  # A's one answer, not B's
    today = date.today()
    assert set(read_journal(group.journal, today, AKB020).businesses) == {("inpatient", stay_a)}
    assert set(read_journal(group.journal, today).businesses) == {("inpatient", stay_a), ("inpatient", stay_b)}


# --------------------------------------------------------------------------- doctor, per institution


@pytest.fixture
def province() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


def doctor_json(*args: str, env: dict[str, str]) -> tuple[int, list[dict[str, str]]]:
    result = CliRunner().invoke(cli_app, [*args, "doctor", "--json"], env=env)
    return result.exit_code, json.loads(result.stdout)


def by_institution(checks: list[dict[str, str]], name: str) -> dict[str, dict[str, str]]:
    return {check["institution"]: check for check in checks if check["name"] == name}


def test_doctor_checks_every_declared_institution_with_its_own_token(
        province: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("GDWI_")]:
        monkeypatch.delenv(name)
    token = tmp_path / "a.token"
    token.write_text(TOKEN_A, encoding="utf-8")
    token.chmod(0o600)
    text = (f'journal = "{tmp_path / "journal.sqlite"}"\n'
            + GROUP_TOML.replace("http://127.0.0.1:9", province.url)
            .replace(f'userid = "{USERID}"', f'userid = "{USERID}"\ntoken_file = "{token}"'))
    config = str(group_file(tmp_path, text))
    code, checks = doctor_json("--config", config, env=passwords())
    logins = by_institution(checks, "login")
    assert code == 0, checks
    assert {each: check["status"] for each, check in logins.items()} == {AKB020: "ok", OTHER_AKB020: "ok"}
    tokens = by_institution(checks, "token")
    assert (tokens[AKB020]["status"], tokens[OTHER_AKB020]["status"]) == ("ok", "skip")
    assert f"GDWI_{OTHER_AKB020}_GATEWAY_TOKEN" in tokens[OTHER_AKB020]["detail"]
    # --institution: that institution's checks only, its token_file read as the gateway reads it.
    code, checks = doctor_json("--config", config, "--institution", AKB020, env=passwords())
    assert code == 0 and set(by_institution(checks, "login")) == {AKB020}
    assert by_institution(checks, "token")[AKB020]["status"] == "ok"
    # One institution without its password: its own fix; the other is still checked.
    code, checks = doctor_json("--config", config, env={f"GDWI_{AKB020}_PASSWORD": PASSWORD})
    settings = by_institution(checks, "settings")
    assert code == 3 and settings[AKB020]["status"] == "ok" and settings[OTHER_AKB020]["status"] == "fail"
    assert f"GDWI_{OTHER_AKB020}_PASSWORD" in settings[OTHER_AKB020]["detail"]
    assert "GDWI_AKB020" not in settings[OTHER_AKB020]["fix"] and "institutions" in settings[OTHER_AKB020]["fix"]
    assert set(by_institution(checks, "login")) == {AKB020}
    lines = CliRunner().invoke(cli_app, ["--config", config, "doctor"], env=passwords()).output.splitlines()
    assert any(line.startswith(f"✓ login     {OTHER_AKB020}: ") for line in lines), lines
    missing = CliRunner().invoke(cli_app, ["--config", config, "doctor"], env={f"GDWI_{AKB020}_PASSWORD": PASSWORD})
    assert f"✗ settings  {OTHER_AKB020}: missing settings: GDWI_{OTHER_AKB020}_PASSWORD" in missing.output
