"""The mock's real-shaped answer style, checked on its bytes (issue 10 item 7).

Every function's example answer is written in both styles; the real one must say the same thing
the strict one says (decoded, decimals compared as numbers, unknown elements ignored, substituted
codes mapped back) while looking as a production platform plausibly does. Then the option is
followed through the app, a seed file, a MockServer socket and the `gdwi mock serve` process.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from seed_login import PASSWORD, USERID
from typer.testing import CliRunner

from adapter.cli import app as cli_app
from adapter.mock.app import context_of, create_app
from adapter.mock.inprocess import InProcessTransport
from adapter.mock.province import MockProvince
from adapter.mock.seed import SeedError, load_seed
from adapter.mock.server import MockServer
from adapter.mock.style import (
    EXTRA_PROGRAM_ELEMENTS,
    EXTRA_ROW_ELEMENTS,
    UNLISTED_CODES,
    AnswerStyle,
    style_named,
)
from adapter.wire.codec import decode, encode
from generated.registry import FIELDS, FUNCTIONS, SPEC

EXAMPLES: dict[str, Any] = json.loads(
    resources.files("generated").joinpath("examples.json").read_text(encoding="utf-8")
)
REAL = AnswerStyle("real", seed=3)
ALWAYS = AnswerStyle("real", seed=3, unlisted_rate=1.0)
NEVER = AnswerStyle("real", seed=3, unlisted_rate=0.0)
LOGIN = {"userid": USERID, "password": PASSWORD}
NOT_INSURED_LOOKUP = {"akb020": "H44190000001", "bka895": "aac001", "bka896": "1000000004",
                      "aka130": "42", "bka006": "420"}
REVERSED = {code: {unlisted: listed for listed, unlisted in table.items()}
            for code, table in UNLISTED_CODES.items()}


def _as_spec_says(values: dict[str, Any]) -> dict[str, Any]:
    """Decoded answer values with decimals as numbers and substituted codes mapped back."""
    out: dict[str, Any] = {}
    for code, value in values.items():
        if isinstance(value, list):
            out[code] = [_as_spec_says(row) for row in value]
        elif FIELDS.get(code) is not None and FIELDS[code].type == "decimal":
            out[code] = Decimal(value)
        else:
            out[code] = REVERSED.get(code, {}).get(value, value)
    return out


def _with_unlisted_candidates(function_id: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The example answer with every substitutable code set to its listed value (9), so the
    substitution is exercised wherever the answer has such a field."""
    changed = json.loads(json.dumps(answer))
    rows = [changed, *(row for value in changed.values() if isinstance(value, list) for row in value)]
    for row in rows:
        for code, table in UNLISTED_CODES.items():
            if code in row:
                row[code] = next(iter(table))
    return changed


@pytest.mark.parametrize("function_id", list(FUNCTIONS))
def test_real_style_says_what_strict_says(function_id: str) -> None:
    answer = _with_unlisted_candidates(function_id, EXAMPLES[function_id][0]["response"])
    strict = decode(AnswerStyle().render(function_id, answer), function_id, "response")
    real_body = ALWAYS.render(function_id, answer)
    real = decode(real_body, function_id, "response")
    assert _as_spec_says(real.values) == _as_spec_says(strict.values)
    assert strict.warnings == []
    extras = {code for code, _ in EXTRA_PROGRAM_ELEMENTS}
    assert {code for _, code, kind in real.found if kind == "unknown_element"} >= extras, real.found


@pytest.mark.parametrize("function_id", list(FUNCTIONS))
def test_real_style_looks_like_a_production_platform(function_id: str) -> None:
    answer = EXAMPLES[function_id][0]["response"]
    text = REAL.render(function_id, answer).decode("utf-8")
    lines = text.splitlines()
    assert lines[0] == '<?xml version="1.0" encoding="UTF-8"?>'
    assert lines[1] == "<program>" and lines[-1] == "</program>"
    assert all(line.startswith("  ") for line in lines[2:-1])  # indented, one element a line
    for code, value in re.findall(r"<(\w+)>([^<]*)</\1>", text):
        if code in FIELDS and FIELDS[code].type == "decimal":
            assert re.fullmatch(r"-?\d+\.\d{4}", value), (code, value)
    message = FUNCTIONS[function_id].response
    unset = [u.code for u in message.fields if u.code not in answer]
    for code in unset:  # every optional scalar the answer leaves unset is an empty element
        assert re.search(rf"<{code}(/>|></{code}>)", text), code
    for dataset in message.datasets:
        for row in answer.get(dataset.name) or []:
            assert all(f"<{u.code}/>" in text for u in dataset.fields if u.code not in row)
            assert all(f"<{code}>{value}</{code}>" in text for code, value in EXTRA_ROW_ELEMENTS)


def test_decimals_get_four_places_and_keep_their_sign() -> None:
    answer = {"return_code": "1", "return_code_message": "成功", "aaz218": "44190000012019000002",
              "akc264": "174.68", "bka831": "-2.00", "bka832": "0.00"}
    text = REAL.render("bizh120003", answer).decode("utf-8")
    assert "<akc264>174.6800</akc264>" in text
    assert "<bka831>-2.0000</bka831>" in text
    assert "<bka832>0.0000</bka832>" in text


def test_a_refusal_carries_the_envelope_and_nothing_else() -> None:
    text = REAL.render("bizh120003", {"return_code": "-1", "return_code_message": "失败"}).decode()
    assert re.findall(r"<(\w+)", text) == ["program", "return_code", "return_code_message"]


def test_unlisted_codes_are_deterministic_per_seed_and_rate() -> None:
    answer = {"return_code": "1", "return_code_message": "成功",
              "freezeinfo": [{"aaa157": "501", "aae003": f"2026{m:02d}", "bka888": "9"} for m in range(1, 13)]}
    once = REAL.render("bizh410005", answer)
    assert once == AnswerStyle("real", seed=3).render("bizh410005", answer)  # same seed, same bytes
    substituted = once.decode().count("<bka888>3</bka888>")
    assert 0 < substituted < 12  # occasional: some months, not all (rate 0.5, seed 3)
    other = AnswerStyle("real", seed=4).render("bizh410005", answer)
    assert other != once  # another seed picks other months
    assert ALWAYS.render("bizh410005", answer).decode().count("<bka888>3</bka888>") == 12
    assert NEVER.render("bizh410005", answer).decode().count("<bka888>3</bka888>") == 0
    # A listed value with no unlisted counterpart is never touched.
    answer["freezeinfo"][0]["bka888"] = "0"
    assert "<bka888>0</bka888>" in ALWAYS.render("bizh410005", answer).decode()


def test_real_style_refuses_what_strict_refuses() -> None:
    with pytest.raises(ValueError, match="not part of this message"):
        REAL.render("bizh120003", {"return_code": "1", "bka999": "x"})
    with pytest.raises(ValueError, match="one of strict, real"):
        style_named("loose")


# --------------------------------------------------------------------------- through the app


def _login_and_lookup(http: httpx.Client) -> httpx.Response:
    login = http.post(SPEC.path, content=encode("sys0001", "request", LOGIN))
    session_id = decode(login.content, "sys0001", "response").values["session_id"]
    body = encode("bizh120001", "request", NOT_INSURED_LOOKUP, session_id=session_id)
    return http.post(SPEC.path, content=body)


def test_the_app_serves_the_style_it_is_given() -> None:
    for style, media_type in ((AnswerStyle(), SPEC.content_type), (ALWAYS, "text/html;charset=UTF-8")):
        transport = InProcessTransport(create_app(MockProvince(), style=style))
        with httpx.Client(transport=transport, base_url="http://mock") as http:
            answer = _login_and_lookup(http)
        assert answer.headers["content-type"] == media_type
        fund_status = decode(answer.content, "bizh120001", "response").values["personinfo"][0]["bka888"]
        assert fund_status == ("3" if style is ALWAYS else "9")


def test_a_refused_request_is_answered_in_the_style_too() -> None:
    transport = InProcessTransport(create_app(MockProvince(), style=REAL))
    with httpx.Client(transport=transport, base_url="http://mock") as http:
        answer = http.post(SPEC.path, content=b"<program><function_id>bizh999999</function_id></program>")
    assert answer.headers["content-type"] == "text/html;charset=UTF-8"
    assert answer.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<program>\n  <return_code>-1')


SEED_FILE = """
institutions: {H44190000001: 测试医院一}
users: [{userid: ss0028, password: mock-pass-1, akb020: H44190000001}]
persons:
  - {aac001: "1000000004", aac002: "44190019900101004X", aac003: 测试丁, aac004: "9",
     aac006: "19900101", status: not_insured}
answers: {style: real, seed: 11}
"""


def test_a_seed_file_chooses_the_style(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    path.write_text(SEED_FILE, encoding="utf-8")
    seed = load_seed(path)
    assert seed.style == AnswerStyle("real", seed=11)
    app = create_app(MockProvince(seed))
    assert context_of(app).style == seed.style
    assert context_of(create_app(MockProvince(seed), style=AnswerStyle())).style.name == "strict"
    path.write_text(SEED_FILE.replace("style: real", "style: loose"), encoding="utf-8")
    with pytest.raises(SeedError, match=r"answers.style: 'loose' is not one of strict, real"):
        load_seed(path)


def test_mock_server_on_a_socket_answers_real_shaped() -> None:
    with MockServer(style=ALWAYS) as server, httpx.Client(base_url=server.url) as http:
        answer = _login_and_lookup(http)
    assert answer.headers["content-type"] == "text/html;charset=UTF-8"
    assert "\n      <bka888>3</bka888>\n" in answer.text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_gdwi_mock_serve_style_real_in_its_own_process() -> None:
    """The command the proxy work runs: a real process on a loopback port, real-shaped answers."""
    port = _free_port()
    command = [sys.executable, "-m", "adapter.cli", "mock", "serve", "--port", str(port),
               "--style", "real", "--style-seed", "5"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env) as process:
        try:
            answer = _when_up(f"http://127.0.0.1:{port}")
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert answer.headers["content-type"] == "text/html;charset=UTF-8"
    assert answer.text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<program>\n')
    assert "<aab034>441900</aab034>" in answer.text


def _when_up(url: str) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:
        try:
            with httpx.Client(base_url=url) as http:
                return _login_and_lookup(http)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_cli_refuses_an_unknown_style() -> None:
    result = CliRunner().invoke(cli_app, ["mock", "serve", "--style", "loose"])
    assert result.exit_code == 2
    assert "one of strict, real" in result.output
