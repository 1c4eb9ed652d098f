"""The gdwi command line: xml validate / to-json, spec check, functions."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from adapter.cli import app
from adapter.wire.codec import encode
from generated.registry import FUNCTIONS

runner = CliRunner()
EXAMPLES: dict[str, Any] = json.loads(
    resources.files("generated").joinpath("examples.json").read_text(encoding="utf-8")
)


def _write(tmp_path: Path, body: bytes) -> Path:
    path = tmp_path / "message.xml"
    path.write_bytes(body)
    return path


def test_xml_validate_accepts_a_conforming_request(tmp_path: Path) -> None:
    body = encode("bizh120002", "request", EXAMPLES["bizh120002"][0]["request"], session_id="s")
    result = runner.invoke(app, ["xml", "validate", "-f", "bizh120002", str(_write(tmp_path, body))])
    assert result.exit_code == 0, result.output
    assert "is a valid bizh120002 request" in result.output


def test_xml_validate_names_the_field_and_warns_on_unknown_elements(tmp_path: Path) -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?><program><function_id>bizh110001</function_id>'
        b"<akb020>H44190000001</akb020><bka895>aac002</bka895>"
        b"<bka896>123456789012345678901</bka896><bka006>410</bka006><zzz999>x</zzz999></program>"
    )
    result = runner.invoke(app, ["xml", "validate", "-f", "bizh110001", str(_write(tmp_path, body))])
    assert result.exit_code == 2  # bad input
    assert "bka896 入参值: longer than 20" in result.output
    assert "unknown element <zzz999> ignored" in result.output


REAL_SHAPED_SETTLEMENT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<program>\n  <return_code>1</return_code>\n'
    b"  <aaz218>Z1</aaz218>\n  <akc264>174.6800</akc264>\n  <bka831>20.1234</bka831>\n"
    b"  <bka832>154.5566</bka832>\n  <aab034>4419</aab034>\n</program>"
)


def test_xml_validate_response_reads_tolerated_deviations_as_warnings(tmp_path: Path) -> None:
    path = _write(tmp_path, REAL_SHAPED_SETTLEMENT)
    result = runner.invoke(app, ["xml", "validate", "-f", "bizh120106", "-k", "response", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "bka831 extra_places '20.1234'" in result.output
    assert "aab034 unknown_element" in result.output and "akc264 extra_places" not in result.output
    assert "is a readable bizh120106 response" in result.output


def test_xml_validate_response_strict_checks_the_letter_of_the_spec(tmp_path: Path) -> None:
    path = _write(tmp_path, REAL_SHAPED_SETTLEMENT)
    args = ["xml", "validate", "-f", "bizh120106", "-k", "response", "--strict", str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and "bka832 extra_places" in result.output
    clean = encode("bizh120106", "response", EXAMPLES["bizh120106"][0]["response"])
    args[-1] = str(_write(tmp_path, clean))
    assert runner.invoke(app, args).exit_code == 0


def test_xml_validate_refuses_hostile_xml(tmp_path: Path) -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><program>&a;</program>'
    result = runner.invoke(app, ["xml", "validate", "-f", "bizh110001", str(_write(tmp_path, body))])
    assert result.exit_code == 2  # bad input
    assert "DOCTYPE refused" in result.output


def test_xml_to_json_prints_wire_codes_and_rows(tmp_path: Path) -> None:
    response = EXAMPLES["bizh110105"][0]["response"]
    body = encode("bizh110105", "response", response)
    result = runner.invoke(
        app, ["xml", "to-json", "-f", "bizh110105", "-k", "response", str(_write(tmp_path, body))]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == response


def test_functions_lists_all_thirty() -> None:
    result = runner.invoke(app, ["functions"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert all(function_id in result.output for function_id in FUNCTIONS)


def test_call_without_settings_names_the_missing_variables(tmp_path: Path) -> None:
    result = runner.invoke(app, ["call", "bizh120001", "--data", "{}"],
                           env={"GDWI_BASE_URL": "", "GDWI_CONFIG": ""})
    assert result.exit_code == 3  # configuration
    assert "GDWI_USERID" in result.output and "GDWI_PASSWORD" in result.output


def test_help_explains_the_settings() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    for name in ("GDWI_BASE_URL", "GDWI_USERID", "GDWI_PASSWORD", "GDWI_AKB020", "GDWI_JOURNAL"):
        assert name in result.output


# --------------------------------------------------------------------------- lazy command groups


def test_each_lazy_command_is_listed_with_its_own_help() -> None:
    """The one-line help kept in app.py for a command imported on use is the command's own."""
    import inspect

    from adapter.cli.app import LAZY_COMMANDS, LAZY_SPEC_COMMANDS

    for name, entry in {**LAZY_COMMANDS, **LAZY_SPEC_COMMANDS}.items():
        real = entry.load(name)
        first_paragraph = inspect.cleandoc(real.help or "").split("\n\n")[0].replace("\n", " ")
        assert entry.help == first_paragraph, name
    listed = runner.invoke(app, ["--help"], env={"COLUMNS": "400"}).output
    assert all(entry.help in listed for entry in LAZY_COMMANDS.values())


def test_help_and_call_start_without_the_lazy_groups() -> None:
    """`gdwi --help` and `gdwi call` import none of the command groups they do not run."""
    import subprocess
    import sys

    from adapter.cli.app import LAZY_COMMANDS, LAZY_SPEC_COMMANDS

    modules = sorted({entry.target.split(":")[0] for entry in {**LAZY_COMMANDS, **LAZY_SPEC_COMMANDS}.values()})
    script = ("import sys\nfrom adapter.cli import app\n"
              "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              f"print(sorted(set({modules!r}) & set(sys.modules)))")
    for args in (["--help"], ["call", "bizh999999", "--data", "{}"]):
        done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60)
        assert done.stdout.strip().splitlines()[-1] == "[]", (args, done.stdout[-300:], done.stderr[-300:])


def test_a_printed_answer_shows_a_session_id_by_its_first_four_characters() -> None:
    from adapter.cli.app import _without_session

    answer = {"return_code": "1", "session_id": "3f9a2b7c-secret-until-midnight"}
    assert _without_session(answer) == {"return_code": "1", "session_id": "3f9a****"}
    assert _without_session({"return_code": "1"}) == {"return_code": "1"}


def test_plain_flags_show_no_value_placeholder_in_help() -> None:
    listed = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output.splitlines()
    for flag in ("--debug", "--version"):
        [line] = [line for line in listed if f" {flag} " in line]
        assert "<bool>" not in line, line


def test_xml_to_json_masks_a_session_id(tmp_path: Path) -> None:
    from adapter.wire.codec import encode

    answer = tmp_path / "login.xml"
    answer.write_bytes(encode("sys0001", "response", {"return_code": "1", "return_code_message": "ok",
                                                      "session_id": "3f9a2b7c-secret-until-midnight"}))
    result = runner.invoke(app, ["xml", "to-json", str(answer), "-f", "sys0001", "-k", "response"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["session_id"] == "3f9a****"
