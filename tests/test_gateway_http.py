"""The gateway as an HIS and an operator meet it over real sockets: uvicorn on 127.0.0.1 in front of
the mock province (also uvicorn on 127.0.0.1), one Client between them.

Readiness (/health, /ready, the start line), a refused province login, methods, dates, query
strings, repeated cancels and the operator on steps whose transactions carry none.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapter.gateway import GatewayServer, create_gateway
from adapter.gateway.auth import TokenError, read_token
from adapter.mock.app import create_app
from adapter.mock.inprocess import InProcessTransport
from adapter.mock.server import MockServer
from adapter.wire.client import Client
from adapter.wire.config import Settings
from tests.test_gateway import A_DISCHARGE, AUTH, OPERATOR, TOKEN, a_stay, fee, fees, settings

ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Served:
    """A gateway and a mock province, each on its own loopback socket; `his` sends the token."""

    his: httpx.Client
    url: str
    requests: list[str]

    def ok(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        response = self.his.request(method, path, json=body, params=params or None)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def mock_province() -> Iterator[MockServer]:
    with MockServer() as province:
        yield province


def serve(client: Client) -> GatewayServer:
    return GatewayServer(create_gateway(client, token=TOKEN))


@pytest.fixture
def served(mock_province: MockServer, tmp_path: Path) -> Iterator[Served]:
    with Client(settings(mock_province.url, tmp_path)) as client, serve(client) as gateway, \
            httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as his:
        yield Served(his, gateway.url, [])


def wrong_password(base_url: str, tmp_path: Path) -> Settings:
    return settings(base_url, tmp_path).model_copy(update={"password": "not-the-password"})


# --------------------------------------------------------------------------- health and readiness


def test_health_needs_no_token_and_ready_checks_login_and_journal(served: Served) -> None:
    health = httpx.get(served.url + "/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = httpx.get(served.url + "/ready")
    assert ready.status_code == 200, ready.text
    checks = {check["name"]: check["ok"] for check in ready.json()["checks"]}
    assert ready.json()["status"] == "ready" and checks == {"province_login": True, "journal": True}


def test_the_start_line_says_ready(mock_province: MockServer, tmp_path: Path,
                                   caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gdwi.gateway"), \
            Client(settings(mock_province.url, tmp_path)) as client, serve(client):
        pass
    lines = [r.getMessage() for r in caplog.records if r.name == "gdwi.gateway" and r.getMessage().startswith("gateway ")]
    assert len(lines) == 1 and lines[0].startswith("gateway ready: province_login ok")


def test_a_refused_province_login_is_503_never_422(mock_province: MockServer, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="gdwi.gateway"), \
            Client(wrong_password(mock_province.url, tmp_path)) as client, serve(client) as gateway, \
            httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as his:
        answer = his.post("/inpatient/lookup", json={"patient": {"id_kind": "person_no", "id_value": "1000000002"}})
        ready = httpx.get(gateway.url + "/ready")
    assert answer.status_code == 503, answer.text
    error = answer.json()
    assert error["error"] == "province_login_failed" and error["function_id"] == "sys0001"
    assert "GDWI_PASSWORD" in error["hint"]
    assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
    login = next(check for check in ready.json()["checks"] if check["name"] == "province_login")
    assert login["ok"] is False and "not-the-password" not in ready.text
    start = [r for r in caplog.records if r.name == "gdwi.gateway" and r.getMessage().startswith("gateway ")]
    assert len(start) == 1 and start[0].levelno == logging.ERROR
    assert "province_login FAILED" in start[0].getMessage()


def test_a_journal_that_takes_no_write_makes_the_gateway_not_ready(served: Served, tmp_path: Path) -> None:
    holder = sqlite3.connect(tmp_path / "journal.sqlite", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock too long
        ready = httpx.get(served.url + "/ready", timeout=10)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    checks = {check["name"]: check for check in ready.json()["checks"]}
    assert ready.status_code == 503 and checks["journal"]["ok"] is False
    assert "locked" in checks["journal"]["detail"]


# --------------------------------------------------------------------------- methods, dates, queries


def test_a_wrong_method_is_405_with_allow(served: Served) -> None:
    answer = served.his.put("/inpatient/90000001/fees", json={})
    assert answer.status_code == 405 and answer.json()["error"] == "method_not_allowed"
    assert set(answer.headers["allow"].split(", ")) == {"GET", "HEAD", "POST", "DELETE"}
    assert served.his.get("/inpatient/admit").status_code == 405


def test_every_date_in_an_answer_is_iso(served: Served) -> None:
    stay = served.ok("POST", "/inpatient/admit", {"stay": a_stay(), "operator": OPERATOR})["visit_no"]
    served.ok("POST", f"/inpatient/{stay}/fees", {"fees": fees(3)})
    served.ok("POST", f"/inpatient/{stay}/discharge", {"discharge": A_DISCHARGE, "operator": OPERATOR})
    served.ok("POST", f"/inpatient/{stay}/settle", {"operator": OPERATOR})
    sheet = served.ok("GET", f"/inpatient/{stay}/settlement")
    for name in ("admission_date", "discharge_date", "settled_on"):
        assert ISO_DAY.match(sheet[name]), (name, sheet[name])


def test_query_parameters_are_validated(served: Served) -> None:
    stay = served.ok("POST", "/inpatient/admit", {"stay": a_stay(), "operator": OPERATOR})["visit_no"]
    served.ok("POST", f"/inpatient/{stay}/fees", {"fees": fees(2)})
    bad = served.his.get(f"/inpatient/{stay}/fees", params={"grouping": "x"})
    assert bad.status_code == 400 and bad.json()["fields"][0]["field"] == "grouping"
    unknown = served.his.get(f"/inpatient/{stay}/fees", params={"groupin": "1"})
    assert unknown.status_code == 400 and unknown.json()["fields"][0]["field"] == "groupin"
    assert len(served.ok("GET", f"/inpatient/{stay}/fees", grouping="1")["lines"]) >= 1


# --------------------------------------------------------------------------- repeated cancels, operators


def test_a_repeated_outpatient_cancel_says_already_cancelled(served: Served) -> None:
    visit = {"person_no": "1000000001", "visit_date": "2019-05-08", "diagnosis": {"icd_code": "S62.001"}}
    visit_no = served.ok("POST", "/outpatient/register", {"visit": visit, "operator": OPERATOR})["visit_no"]
    first = served.ok("POST", f"/outpatient/{visit_no}/cancel", {"operator": OPERATOR})
    again = served.ok("POST", f"/outpatient/{visit_no}/cancel", {"operator": OPERATOR})
    assert (first["already"], again["already"]) == (False, True) and again["done"] == "cancelled"
    never = served.his.post("/outpatient/90000009999/cancel", json={"operator": OPERATOR})
    assert never.status_code == 422 and never.json()["error"] == "business"


def test_a_repeated_stay_cancel_says_already_and_takes_an_operator(
        served: Served, caplog: pytest.LogCaptureFixture) -> None:
    stay = served.ok("POST", "/inpatient/admit", {"stay": a_stay(), "operator": OPERATOR})["visit_no"]
    with caplog.at_level(logging.INFO, logger="gdwi.gateway"):
        modified = served.ok("POST", f"/inpatient/{stay}/modify", {"stay": {"bed_no": "14"}, "operator": OPERATOR})
        first = served.ok("POST", f"/inpatient/{stay}/cancel", {"to": "cancelled", "operator": OPERATOR})
    assert modified["done"] == "modified"
    assert first == {"visit_no": stay, "stage": "cancelled", "reversals": ["bizh120109"], "already": False}
    again = served.ok("POST", f"/inpatient/{stay}/cancel", {"to": "cancelled", "operator": OPERATOR})
    assert again == {"visit_no": stay, "stage": "cancelled", "reversals": [], "already": True}
    audit = [r.getMessage() for r in caplog.records if "by operator" in r.getMessage()]
    assert audit == [f"modify of stay {stay} by operator T001", f"cancel to cancelled of stay {stay} by operator T001"]
    never = served.his.post("/inpatient/90000009999/cancel", json={"to": "cancelled"})
    assert never.status_code == 422  # never admitted here: not "already"


# --------------------------------------------------------------------------- hostile text, secrets


@pytest.mark.parametrize("raw", [
    b'{"patient": {"id_kind": "person_no", "id_value": "\\ud800"}}',  # lone surrogate in a value
    b'{"patient": {"\\udfff": "x"}}',  # ... in a key
    b'{"patient": {"id_value": "\\x41"}}',  # an escape JSON does not have
    b'{"patient": "\xff\xfe"}',  # not UTF-8
])
def test_hostile_text_is_a_json_400_never_5xx(served: Served, raw: bytes) -> None:
    answer = served.his.post("/inpatient/lookup", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.json()["error"] == "input"


def test_a_400_never_echoes_a_citizen_id_even_as_a_key(served: Served) -> None:
    citizen_id = "44190019900101002X"
    body = {"patient": {"id_kind": "citizen_id", "id_value": "1", citizen_id: "x"}}
    answer = served.his.post("/inpatient/lookup", json=body)
    assert answer.status_code == 400 and citizen_id not in answer.text
    assert answer.json()["fields"][0]["field"] == "patient.441900********002X"


def test_a_journal_failing_after_the_send_is_504_with_the_entry(tmp_path: Path) -> None:
    """The province commits the admission; the journal then cannot record it (another process holds
    its write lock): the HIS must hear "outcome unknown", never 500 or "safe to retry"."""
    journal = tmp_path / "journal.sqlite"
    mock_app = create_app()
    armed = threading.Event()

    async def province(scope: Any, receive: Any, send: Any) -> None:
        await mock_app(scope, receive, send)
        if armed.is_set() and not holder.in_transaction:
            holder.execute("BEGIN EXCLUSIVE")  # after the answer left the province, before it is journaled

    client = Client(settings("http://127.0.0.1:9", tmp_path), http_transport=InProcessTransport(province))
    holder = sqlite3.connect(journal, isolation_level=None, check_same_thread=False)  # the journal exists now
    with client, serve(client) as gateway, httpx.Client(base_url=gateway.url, headers=AUTH, timeout=30) as his:
        client.session.get()  # the login is journaled freely
        armed.set()
        answer = his.post("/inpatient/admit", json={"stay": a_stay(), "operator": OPERATOR})
    holder.execute("ROLLBACK")
    holder.close()
    assert answer.status_code == 504, answer.text
    error = answer.json()
    assert error["error"] == "outcome_unknown" and "gdwi journal recover" in error["hint"]
    with sqlite3.connect(journal) as connection:
        [(admission,)] = connection.execute("SELECT id FROM entries WHERE function_id = 'bizh120103'")
    assert error["journal_id"] == admission


# --------------------------------------------------------------------------- the token and the served process


def test_token_strength_and_file_mode(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    token_file.chmod(0o640)
    with pytest.raises(TokenError, match="chmod 600"):
        read_token(token_file, {})
    token_file.chmod(0o600)
    assert read_token(token_file, {}) == TOKEN
    for weak in ("a" * 40, "abababababababababab", "password12345678"):
        with pytest.raises(TokenError, match="easy to guess"):
            read_token(None, {"GDWI_GATEWAY_TOKEN": weak})
    assert read_token(None, {"GDWI_GATEWAY_TOKEN": secrets.token_urlsafe(16)})


def test_served_process_logs_no_query_strings_and_refuses_an_open_token_file(
        mock_province: MockServer, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "GDWI_BASE_URL": mock_province.url, "GDWI_USERID": "ss0028",
           "GDWI_PASSWORD": "mock-pass-1", "GDWI_AKB020": "H44190000001",
           "GDWI_JOURNAL": str(tmp_path / "journal.sqlite"), "GDWI_GATEWAY_TOKEN": TOKEN}
    command = [sys.executable, "-m", "adapter.cli", "gateway", "serve", "--port", str(port)]
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN, encoding="utf-8")
    token_file.chmod(0o644)
    refused = subprocess.run([*command, "--token-file", str(token_file)], env=env, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 3 and "chmod 600" in refused.stderr  # 3: a configuration error
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as server:
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(url)
            assert httpx.get(url + "/health?token=SECRET-IN-QUERY").status_code == 200
            httpx.get(url + "/ready?access_token=SECRET-IN-QUERY")
        finally:
            server.terminate()
            output, _ = server.communicate(timeout=30)
    assert "GET /health" in output and "SECRET-IN-QUERY" not in output
    assert "gateway ready: province_login ok" in output
    # One log format (adapter/logs.py) for uvicorn's lines too, each request with its own id.
    access = re.findall(r"INFO uvicorn\.access \[([0-9a-f]{8})\] .*\"GET /(?:health|ready) HTTP", output)
    assert len(access) >= 2 and len(set(access)) == len(access), output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/health", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the gateway did not come up on {url}")


# --------------------------------------------------------------------------- Idempotency-Key


def admissions_in(journal: Path) -> int:
    with sqlite3.connect(journal) as connection:
        return int(connection.execute(
            "SELECT COUNT(*) FROM entries WHERE function_id = 'bizh120103'").fetchone()[0])


def test_the_same_key_and_call_replays_and_sends_nothing_even_after_a_restart(
        mock_province: MockServer, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    body = {"stay": a_stay(), "operator": OPERATOR}
    same_body_reordered = b'{ "operator": {"name": "\\u6d4b\\u8bd5\\u64cd\\u4f5c\\u5458", "code": "T001"},\n' \
        + b' "stay": ' + json.dumps(a_stay()).encode() + b"}"
    key = {"Idempotency-Key": "admit-ZY20190001-1"}
    with Client(settings(mock_province.url, tmp_path)) as client, serve(client) as gateway, \
            httpx.Client(base_url=gateway.url, headers={**AUTH, **key}, timeout=10) as his:
        first = his.post("/inpatient/admit", json=body)
        again = his.post("/inpatient/admit", content=same_body_reordered,
                         headers={"Content-Type": "application/json"})
    with Client(settings(mock_province.url, tmp_path)) as client, serve(client) as gateway, \
            httpx.Client(base_url=gateway.url, headers={**AUTH, **key}, timeout=10) as his:
        after_restart = his.post("/inpatient/admit", json=body)
        other_call = his.post("/inpatient/admit", json={**body, "stay": {**a_stay(), "bed_no": "99"}})
    assert first.status_code == again.status_code == after_restart.status_code == 200
    assert first.json() == again.json() == after_restart.json()
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == after_restart.headers["idempotent-replayed"] == "true"
    assert other_call.status_code == 409 and other_call.json()["error"] == "idempotency_conflict"
    assert admissions_in(journal) == 1


def test_a_key_whose_call_sent_nothing_may_be_used_again(served: Served, tmp_path: Path) -> None:
    key = {"Idempotency-Key": "admit-retry"}
    wrong = served.his.post("/inpatient/admit", json={"stay": {**a_stay(), "admission_date": "2019/05/08"},
                                                      "operator": OPERATOR}, headers=key)
    right = served.his.post("/inpatient/admit", json={"stay": a_stay(), "operator": OPERATOR}, headers=key)
    assert wrong.status_code == 400 and right.status_code == 200, right.text
    bad_key = served.his.post("/inpatient/admit", json={}, headers={"Idempotency-Key": "x" * 300})
    assert bad_key.status_code == 400 and bad_key.json()["fields"][0]["field"] == "Idempotency-Key"
    assert admissions_in(tmp_path / "journal.sqlite") == 1


def test_a_value_the_wire_cannot_carry_is_named_by_its_place_in_the_whole_list(served: Served) -> None:
    """An amount with 3 decimals in row 320 (the second chunk): located by structure, not by text."""
    stay = served.ok("POST", "/inpatient/admit", {"stay": a_stay(), "operator": OPERATOR})["visit_no"]
    items = fees(350)
    items[320]["amount"] = "1.234"
    answer = served.his.post(f"/inpatient/{stay}/fees", json={"fees": items})
    assert answer.status_code == 400, answer.text
    [detail] = answer.json()["fields"]
    assert (detail["field"], detail["code"], detail["name"]) == ("fees[320].amount", "bka058", "金额")


# --------------------------------------------------------------------------- large bodies, memory


def vm_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in MB (/proc/<pid>/status)."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) // 1024
    return values


def settled_memory(pid: int, below: int) -> dict[str, int]:
    """VmRSS once it is under `below` MB, or after 5 s (memory is returned after the answer is sent,
    by a background task that a busy machine may run a little later)."""
    deadline = time.monotonic() + 5
    status = vm_status(pid)
    while status["VmRSS"] >= below and time.monotonic() < deadline:
        time.sleep(0.1)
        status = vm_status(pid)
    return status


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read VmRSS")
def test_a_large_body_leaves_no_memory_behind_and_an_oversized_one_is_413(
        mock_province: MockServer, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "GDWI_BASE_URL": mock_province.url, "GDWI_USERID": "ss0028",
           "GDWI_PASSWORD": "mock-pass-1", "GDWI_AKB020": "H44190000001",
           "GDWI_JOURNAL": str(tmp_path / "journal.sqlite"), "GDWI_GATEWAY_TOKEN": TOKEN}
    items = [dict(fee(i), dosage_form="片剂", specification="0.25g*24", manufacturer="测试制药有限公司")
             for i in range(22_000)]
    items[-1]["fee_date"] = "2019/05/08"  # refused after reading everything: nothing is sent
    body = json.dumps({"fees": items}, ensure_ascii=False).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    command = [sys.executable, "-m", "adapter.cli", "gateway", "serve", "--port", str(port)]
    with subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(url)
            httpx.post(url + "/inpatient/1/fees", content=b'{"fees": []}', headers=headers)  # warm
            before = vm_status(server.pid)
            after = []
            for _ in range(2):
                answer = httpx.post(url + "/inpatient/1/fees", content=body, headers=headers, timeout=60)
                assert answer.status_code == 400 and answer.json()["fields"][0]["field"] == "fees[21999].fee_date"
                after.append(settled_memory(server.pid, below=before["VmRSS"] + 15))
            oversized = httpx.post(url + "/inpatient/1/fees", content=b" " * (17 * 1024 * 1024), headers=headers,
                                   timeout=60)
        finally:
            server.terminate()
            server.wait(timeout=30)
    peak = after[-1]["VmHWM"]
    assert peak - before["VmRSS"] > 40, (before, after)  # the body did cost memory while it was read
    assert all(sample["VmRSS"] - before["VmRSS"] < 15 for sample in after), (before, after)
    assert oversized.status_code == 413 and oversized.json()["error"] == "too_large"


def test_openapi_documents_the_key_header_and_the_new_statuses(served: Served) -> None:
    document = httpx.get(served.url + "/openapi.json").json()
    admit = document["paths"]["/inpatient/admit"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in admit["parameters"])
    assert {"409", "503"} <= set(admit["responses"])
    kinds = set(document["components"]["schemas"]["GatewayError"]["properties"]["error"]["enum"])
    assert {"method_not_allowed", "province_login_failed", "idempotency_conflict", "unresolved_entry",
            "journal_unavailable"} <= kinds
