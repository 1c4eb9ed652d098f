"""The mistakes a new integrator makes, each answered with one line, no traceback and the
documented exit code (README: 2 bad input, 3 configuration, 4 refused, 5 not sent, 6 unknown).

Most run the command in-process against a mock province on a real 127.0.0.1 socket; a few run
the installed command line as its own process, as an operator would."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from seed_login import AKB020, PASSWORD
from seed_login import USERID as USER
from typer.testing import CliRunner

from adapter.cli import app
from adapter.mock.server import MockServer
from generated.registry import SPEC

runner = CliRunner()
EXAMPLES: dict[str, Any] = json.loads(
    resources.files("generated").joinpath("examples.json").read_text(encoding="utf-8")
)
LOOKUP = json.dumps(EXAMPLES["bizh110001"][0]["request"], ensure_ascii=False)


@pytest.fixture(scope="module")
def province() -> Iterator[MockServer]:
    # The mock runs in this process: its log of a refused TLS handshake would share our stderr.
    quiet = logging.getLogger("uvicorn.error")
    with MockServer() as server:
        level = quiet.level  # uvicorn sets it as the server starts
        quiet.setLevel(logging.ERROR)
        yield server
    quiet.setLevel(level)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("GDWI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # the default journal lands in the test's folder


def _settings(server: MockServer, tmp_path: Path, **changes: str) -> dict[str, str]:
    env = {"GDWI_BASE_URL": server.url, "GDWI_USERID": USER, "GDWI_PASSWORD": PASSWORD,
           "GDWI_AKB020": AKB020, "GDWI_JOURNAL": str(tmp_path / "journal.sqlite"),
           "GDWI_CONNECT_TIMEOUT": "3"}
    env.update(changes)
    return env


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends: nothing listens


def _one_line(output: str, code: int, expected_code: int, *fragments: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == expected_code, output
    assert "Traceback" not in output, output
    assert len(lines) == 1, output
    for fragment in fragments:
        assert fragment in lines[0], output
    return lines[0]


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, args, env=env)
    return result.exit_code, result.output


# --------------------------------------------------------------------------- bad input (2)


def test_the_login_is_not_called_by_hand(province: MockServer, tmp_path: Path) -> None:
    """sys0001 would put the password on the command line and print the session id."""
    data = json.dumps({"userid": USER, "password": PASSWORD})
    code, output = _run(["call", "sys0001", "--data", data], _settings(province, tmp_path))
    _one_line(output, code, 2, "sys0001", "logs in by itself", "gdwi doctor")
    assert not (tmp_path / "journal.sqlite").exists()  # nothing was sent


def test_unknown_function_id_suggests_the_closest() -> None:
    code, output = _run(["call", "bizh12001", "--data", "{}"])
    _one_line(output, code, 2, "unknown function_id 'bizh12001'", "did you mean bizh120001")


def test_a_swapped_pair_of_digits_is_the_first_suggestion() -> None:
    code, output = _run(["call", "bizh110010", "--data", "{}"])
    _one_line(output, code, 2, "(did you mean bizh110001 or ")


def test_a_misspelt_field_suggests_the_messages_own(province: MockServer, tmp_path: Path) -> None:
    data = json.dumps({**EXAMPLES["bizh110001"][0]["request"], "bka06": "420"})
    code, output = _run(["call", "bizh110001", "--data", data], _settings(province, tmp_path))
    _one_line(output, code, 2, "bka06: not a field of this message (did you mean bka006?)")


def test_data_that_is_not_json() -> None:
    code, output = _run(["call", "bizh110001", "--data", "{bka896: x}"])
    _one_line(output, code, 2, "--data: not JSON", "gdwi call --help")


def test_data_that_is_a_list() -> None:
    code, output = _run(["call", "bizh110001", "--data", "[1,2]"])
    _one_line(output, code, 2, "JSON object")


@pytest.mark.parametrize(("args", "fragments"), [
    (["journal", "list", "--status", "unknwn"], ["--status", "'unknwn' is not one of", "(did you mean unknown?)",
                                                 "gdwi journal list --help"]),
    (["jornal", "list"], ["No such command 'jornal'", "(did you mean journal?)", "gdwi --help"]),
    (["--bogus", "functions"], ["No such option: --bogus"]),
    (["call"], ["Missing argument"]),
])
def test_a_usage_mistake_is_one_line_with_the_closest_value(args: list[str], fragments: list[str]) -> None:
    """click's own mistakes too: no usage block, no boxed error (README: one line per problem)."""
    code, output = _run(args)
    line = _one_line(output, code, 2, "bad input: ", *fragments)
    assert "╭" not in line and "Usage:" not in output


def test_a_line_printed_to_a_pipe_is_never_folded() -> None:
    """rich folds at 80 columns when it cannot ask a terminal: `make demo | tail` cut URLs."""
    import io

    from adapter.cli.app import console

    target = console()
    assert not target.is_terminal  # pytest captures the output
    target.file = io.StringIO()
    long = "mock province at http://127.0.0.1:8080" + "/x" * 60
    target.print(long)
    assert target.file.getvalue() == long + "\n"


def test_data_from_a_missing_file() -> None:
    code, output = _run(["call", "bizh110001", "--data", "@missing.json"])
    _one_line(output, code, 2, "missing.json", "No such file")


def test_a_value_too_long_names_the_field(province: MockServer, tmp_path: Path) -> None:
    data = json.dumps(dict(EXAMPLES["bizh110001"][0]["request"], bka896="9" * 21))
    code, output = _run(["call", "bizh110001", "--data", data], _settings(province, tmp_path))
    _one_line(output, code, 2, "bka896 入参值: longer than 20")


def test_one_line_per_problem(province: MockServer, tmp_path: Path) -> None:
    code, output = _run(["call", "bizh120001", "--data", '{"bka896": "x"}'], _settings(province, tmp_path))
    lines = output.strip().splitlines()
    assert code == 2 and len(lines) > 1 and "Traceback" not in output
    assert all(line.startswith("bad input: bizh120001: ") for line in lines), output


def test_journal_entry_that_does_not_exist(province: MockServer, tmp_path: Path) -> None:
    env = _settings(province, tmp_path)
    assert _run(["call", "bizh110001", "--data", LOOKUP], env)[0] == 0  # the journal exists now
    code, output = _run(["journal", "show", "999"], env)
    _one_line(output, code, 2, "no journal entry 999")


def test_sheet_into_a_missing_folder(tmp_path: Path) -> None:
    code, output = _run(["sheet", "X1", "--html", str(tmp_path / "nope" / "sheet.html")])
    assert code == 2 and "no folder" in output and "Traceback" not in output


def test_spec_diff_of_a_ref_that_does_not_exist() -> None:
    code, output = _run(["spec", "diff", "nonexist", "HEAD"])
    assert code == 2 and "nonexist" in output and "Traceback" not in output


def test_unknown_code_list() -> None:
    code, output = _run(["codes", "show", "nosuch"])
    _one_line(output, code, 2, "no code list 'nosuch'")


def test_unknown_log_level() -> None:
    code, output = _run(["--log-level", "loud", "functions"])
    assert code == 2 and "--log-level" in output and "Traceback" not in output


# --------------------------------------------------------------------------- configuration (3)


def test_no_settings_at_all() -> None:
    code, output = _run(["call", "bizh120001", "--data", '{"bka896": "x"}'])
    _one_line(output, code, 3, "missing settings", "GDWI_BASE_URL", "GDWI_PASSWORD")


def test_a_setting_that_is_not_a_number(province: MockServer, tmp_path: Path) -> None:
    env = _settings(province, tmp_path, GDWI_READ_TIMEOUT="two minutes")
    code, output = _run(["call", "bizh110001", "--data", LOOKUP], env)
    _one_line(output, code, 3, "GDWI_READ_TIMEOUT", "'two minutes'")


def test_a_misspelt_key_in_the_settings_file(tmp_path: Path) -> None:
    config = tmp_path / "gdwi.toml"
    config.write_text('base_url = "http://127.0.0.1:1"\njurnal = "j.sqlite"\n', encoding="utf-8")
    code, output = _run(["journal", "list"], {"GDWI_CONFIG": str(config)})
    _one_line(output, code, 3, "unknown setting 'jurnal'", "did you mean journal?")


def test_a_settings_file_holding_the_password_must_be_owner_only(province: MockServer, tmp_path: Path) -> None:
    config = tmp_path / "gdwi.toml"
    config.write_text(f'base_url = "{province.url}"\nuserid = "{USER}"\npassword = "{PASSWORD}"\n'
                      f'akb020 = "{AKB020}"\njournal = "{tmp_path / "j.sqlite"}"\n', encoding="utf-8")
    config.chmod(0o644)
    code, output = _run(["journal", "list"], {"GDWI_CONFIG": str(config)})
    _one_line(output, code, 3, "holds a password and is open to other users", f"chmod 600 {config}")
    assert PASSWORD not in output
    doctor = runner.invoke(app, ["doctor", "--json", "--skip-login"], env={"GDWI_CONFIG": str(config)})
    settings = next(check for check in json.loads(doctor.stdout) if check["name"] == "settings")
    assert doctor.exit_code == 3 and settings["status"] == "fail" and "chmod 600" in settings["detail"]
    config.chmod(0o600)
    doctor = runner.invoke(app, ["doctor", "--skip-login"], env={"GDWI_CONFIG": str(config)})
    assert doctor.exit_code == 0, doctor.output
    code, output = _run(["call", "bizh110001", "--data", LOOKUP], {"GDWI_CONFIG": str(config)})
    assert code == 0, output
    # Without a secret any mode will do; a journal URL with a password is a secret.
    config.write_text(f'base_url = "{province.url}"\njournal = "{tmp_path / "j.sqlite"}"\n', encoding="utf-8")
    config.chmod(0o644)
    assert _run(["call", "bizh110001", "--data", LOOKUP],
                {"GDWI_CONFIG": str(config), "GDWI_USERID": USER, "GDWI_PASSWORD": PASSWORD,
                 "GDWI_AKB020": AKB020})[0] == 0
    config.write_text('journal = "postgresql://gdwi:s3cret@127.0.0.1:1/gdwi"\n', encoding="utf-8")
    code, output = _run(["journal", "list"], {"GDWI_CONFIG": str(config)})
    _one_line(output, code, 3, "holds a password (in the journal URL)")
    assert "s3cret" not in output


def test_a_settings_file_that_is_not_there(tmp_path: Path) -> None:
    code, output = _run(["journal", "list"], {"GDWI_CONFIG": str(tmp_path / "gdwi.toml")})
    _one_line(output, code, 3, "GDWI_CONFIG: no such file", "gdwi.toml")


def test_a_ca_file_that_is_not_there(province: MockServer, tmp_path: Path) -> None:
    env = _settings(province, tmp_path, GDWI_CA_FILE=str(tmp_path / "province-ca.pem"))
    code, output = _run(["call", "bizh110001", "--data", LOOKUP], env)
    _one_line(output, code, 3, "GDWI_CA_FILE", "province-ca.pem")


def test_the_password_on_the_command_line_is_refused(province: MockServer, tmp_path: Path) -> None:
    code, output = _run(["--set", "password=secret", "call", "bizh110001", "--data", LOOKUP],
                        _settings(province, tmp_path))
    _one_line(output, code, 3, "never on the command line")
    assert "secret" not in output


def test_the_login_user_id_as_institution_code(province: MockServer, tmp_path: Path) -> None:
    code, output = _run(["call", "bizh110001", "--data", LOOKUP],
                        _settings(province, tmp_path, GDWI_AKB020="ss-0028"))
    _one_line(output, code, 3, "GDWI_AKB020 akb020 医疗机构编码")


def test_a_base_url_with_a_wrong_path_is_a_setting_not_a_lost_call(
    province: MockServer, tmp_path: Path,
) -> None:
    env = _settings(province, tmp_path, GDWI_BASE_URL=province.url + "/hygeia_esb_sj/api/other.action")
    code, output = _run(["call", "bizh110001", "--data", LOOKUP], env)
    _one_line(output, code, 3, "HTTP 404", "not the province's endpoint", "base_url")


def test_a_path_that_takes_no_post(province: MockServer, tmp_path: Path) -> None:
    env = _settings(province, tmp_path, GDWI_PATH="/openapi.json")
    code, output = _run(["call", "bizh110001", "--data", LOOKUP], env)
    _one_line(output, code, 3, "HTTP 405")


def test_the_journal_is_not_there(tmp_path: Path) -> None:
    code, output = _run(["journal", "list"], {"GDWI_JOURNAL": str(tmp_path / "other.sqlite")})
    _one_line(output, code, 3, "no journal at", "other.sqlite")


# --------------------------------------------------------------------------- refused (4), not sent (5)


def test_a_wrong_password_is_the_province_refusing(province: MockServer, tmp_path: Path) -> None:
    env = _settings(province, tmp_path, GDWI_PASSWORD="not-the-password")
    code, output = _run(["call", "bizh110001", "--data", LOOKUP], env)
    _one_line(output, code, 4, "refused by the province: sys0001")
    assert "not-the-password" not in output


def test_a_wrong_port_says_refused_and_where(province: MockServer, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    code, output = _run(["call", "bizh110001", "--data", LOOKUP], _settings(province, tmp_path, GDWI_BASE_URL=url))
    _one_line(output, code, 5, "connect failed: connection refused", url + SPEC.path, "check the port")


def test_https_against_a_plain_http_server(province: MockServer, tmp_path: Path) -> None:
    url = province.url.replace("http://", "https://")
    code, output = _run(["call", "bizh110001", "--data", LOOKUP], _settings(province, tmp_path, GDWI_BASE_URL=url))
    _one_line(output, code, 5, "TLS failed", url, "http://")


def test_a_host_name_that_does_not_resolve(province: MockServer, tmp_path: Path) -> None:
    env = _settings(province, tmp_path, GDWI_BASE_URL="http://province.invalid:8080")
    code, output = _run(["call", "bizh110001", "--data", LOOKUP], env)
    _one_line(output, code, 5, "DNS failed", "province.invalid")


# --------------------------------------------------------------------------- right, for contrast


def test_the_full_endpoint_url_as_published_works(province: MockServer, tmp_path: Path) -> None:
    env = _settings(province, tmp_path, GDWI_BASE_URL=province.url + SPEC.path)
    code, output = _run(["call", "bizh110001", "--data", LOOKUP], env)
    assert code == 0, output
    assert json.loads(output)["return_code"] == "1"


def test_journal_commands_read_the_settings_file(province: MockServer, tmp_path: Path) -> None:
    journal = tmp_path / "from-file.sqlite"
    config = tmp_path / "gdwi.toml"
    config.write_text(f'journal = "{journal.as_posix()}"\n', encoding="utf-8")
    env = {k: v for k, v in _settings(province, tmp_path).items() if k != "GDWI_JOURNAL"}
    env["GDWI_CONFIG"] = str(config)
    assert _run(["call", "bizh110001", "--data", LOOKUP], env)[0] == 0
    code, output = _run(["journal", "list"], {"GDWI_CONFIG": str(config)})
    assert code == 0 and "bizh110001" in output, output
    assert not (tmp_path / "gdwi-journal.sqlite").exists()


# --------------------------------------------------------------------------- as its own process


def _gdwi(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GDWI_")}
    return subprocess.run([sys.executable, "-m", "adapter.cli", *args], env={**clean, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


def test_processes_print_one_line_and_the_exit_code(province: MockServer, tmp_path: Path) -> None:
    cases = [
        (["call", "bizh110001", "--data", LOOKUP],
         _settings(province, tmp_path, GDWI_BASE_URL=f"http://127.0.0.1:{_closed_port()}"), 5),
        (["call", "bizh110001", "--data", LOOKUP], _settings(province, tmp_path, GDWI_PASSWORD="wrong"), 4),
        (["call", "bizh120001", "--data", '{"bka896": "x"}'], {}, 3),
    ]
    for args, env, expected in cases:
        done = _gdwi(args, env, tmp_path)
        assert done.stdout == ""
        _one_line(done.stderr, done.returncode, expected)


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    done = _gdwi(["call", "bizh120001", "--data", "{}"], {"GDWI_DEBUG": "1"}, tmp_path)
    assert done.returncode == 3 and "Traceback" in done.stderr and "ConfigError" in done.stderr



def test_a_json_number_for_a_code_field_is_bad_input(province: MockServer, tmp_path: Path) -> None:
    request = dict(EXAMPLES["bizh120001"][0]["request"], bka006=420)  # "420" as a JSON number
    code, output = _run(["call", "bizh120001", "--data", json.dumps(request)], _settings(province, tmp_path))
    _one_line(output, code, 2, "bka006 医疗待遇类型", "send it as a JSON string")
