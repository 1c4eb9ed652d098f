"""The mock province's network side: the XML wire, faults, admin endpoints, the JSON view.

Most tests run in process (httpx.ASGITransport, no socket); the `test_socket_*` tests open a
real socket on 127.0.0.1 (MockServer: uvicorn in a thread) and drive it with the real Client.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seed_login import AKB020, PASSWORD, USERID
from starlette.applications import Starlette
from typer.testing import CliRunner

from adapter.cli import app as cli_app
from adapter.errors import OutcomeUnknownError
from adapter.mock.app import AnswerDropped, context_of, create_app
from adapter.mock.faults import FaultError, FaultPlan
from adapter.mock.province import MockProvince
from adapter.mock.server import MockServer
from adapter.wire.client import Client
from adapter.wire.codec import decode, encode
from adapter.wire.config import Settings
from adapter.wire.journal import Status
from generated.registry import SPEC

PERSON = "1000000001"  # 测试甲, a seeded person with a valid injury recognition
PERSON_LOOKUP = {"akb020": AKB020, "bka895": "aac001", "bka896": PERSON, "aka130": "42", "bka006": "420"}
OUTPATIENT_REGISTRATION = {
    "akb020": AKB020, "aac001": PERSON, "aka130": "41", "bka006": "410", "bka017": "20190508",
    "bka014": "T001", "bka015": "测试乙", "bka019": "K01", "bka020": "测试科室", "bka021": "K01",
    "bka022": "测试科室", "bka026": "S62.001", "bka025": "MZ20190508001", "bka893": "0",
}


# --------------------------------------------------------------------------- helpers


class InProcess:
    """Synchronous requests to the ASGI app, no socket (httpx.ASGITransport).

    Starlette's TestClient is deprecated with httpx in this Starlette version; this is the
    same idea in a few lines. App exceptions propagate (commit_then_drop relies on it).
    """

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


def wire_post(http: InProcess | httpx.Client, body: bytes, content_type: str | None = SPEC.content_type) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return http.post(SPEC.path, content=body, headers=headers)


def call(
    http: InProcess | httpx.Client, function_id: str, values: dict[str, Any], session_id: str | None = None
) -> dict[str, Any]:
    """One wire exchange: encode, POST, check HTTP 200, decode the answer."""
    response = wire_post(http, encode(function_id, "request", values, session_id=session_id))
    assert response.status_code == 200, response.text
    return decode(response.content, function_id, "response").values


def login(http: InProcess | httpx.Client) -> str:
    answer = call(http, "sys0001", {"userid": USERID, "password": PASSWORD})
    assert answer["return_code"] == "1", answer
    return str(answer["session_id"])


def program(inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="utf-8"?><program>{inner}</program>'.encode()


def refusal_of(response: httpx.Response) -> tuple[str, str]:
    """(return_code, message) of a 200 envelope answer."""
    assert response.status_code == 200, response.text
    values = decode(response.content, "sys0001", "response").values
    return values["return_code"], values.get("return_code_message", "")


@pytest.fixture
def province() -> MockProvince:
    return MockProvince()


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan(seed=7)


@pytest.fixture
def http(province: MockProvince, faults: FaultPlan) -> InProcess:
    return InProcess(create_app(province, faults))


@pytest.fixture
def session(http: InProcess) -> str:
    return login(http)


# --------------------------------------------------------------------------- the wire, in process


def test_login_then_query(http: InProcess, session: str) -> None:
    answer = call(http, "bizh120001", PERSON_LOOKUP, session)
    assert answer["return_code"] == "1"
    assert answer["personinfo"][0]["aac001"] == PERSON


def test_bad_password_is_a_negative_answer(http: InProcess) -> None:
    answer = call(http, "sys0001", {"userid": USERID, "password": "wrong"})
    assert answer["return_code"].startswith("-")


@pytest.mark.parametrize(
    "content_type",
    [SPEC.content_type, "application/xml", "application/x-www-form-urlencoded", "text/plain", None],
)
def test_any_content_type_is_read_as_raw_xml(http: InProcess, content_type: str | None) -> None:
    body = encode("sys0001", "request", {"userid": USERID, "password": PASSWORD})
    response = wire_post(http, body, content_type)
    assert response.status_code == 200
    assert decode(response.content, "sys0001", "response").values["return_code"] == "1"
    assert response.headers["content-type"].startswith("text/xml")


def test_invalid_field_is_refused_naming_code_and_chinese_name(http: InProcess, session: str) -> None:
    too_long = {**PERSON_LOOKUP, "bka896": "9" * 21}
    code, message = refusal_of(wire_post(http, encode("bizh120001", "request", too_long, session_id=session)))
    assert code == "-1"
    assert "bka896 入参值" in message and "longer than 20" in message


def test_missing_required_field_is_refused(http: InProcess, session: str) -> None:
    body = program(f"<session_id>{session}</session_id><function_id>bizh120001</function_id>"
                   f"<akb020>{AKB020}</akb020><bka896>{PERSON}</bka896>")
    code, message = refusal_of(wire_post(http, body))
    assert code == "-1"
    assert "bka895 入参类型: required field missing" in message


@pytest.mark.parametrize("session_part", ["", "<session_id>no-such-session</session_id>"])
def test_a_bad_session_is_answered_minus_9_before_the_message_is_checked(
    http: InProcess, session_part: str
) -> None:
    """Missing or unknown session with an incomplete message: -9, not the message's -1."""
    body = program(f"{session_part}<function_id>bizh120001</function_id><bka896>{PERSON}</bka896>")
    code, _ = refusal_of(wire_post(http, body))
    assert code == SPEC.session_expired_code


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><program>&lol;</program>', "DOCTYPE refused"),
        (b"<?xml version=\"1.0\" encoding=\"gbk\"?><program/>", "only UTF-8"),
        (b"<program><function_id>sys0001</function_id>", "malformed XML"),
        (f"userid={USERID}&password={PASSWORD}".encode(), "malformed XML"),
        (b"", "malformed XML"),
        (b"<html><function_id>sys0001</function_id></html>", "expected <program>"),
        (b"<program>" + b"<a>" * 40 + b"</a>" * 40 + b"</program>", "nesting deeper"),
    ],
)
def test_hostile_or_broken_xml_gets_minus_one_never_5xx(http: InProcess, body: bytes, expected: str) -> None:
    code, message = refusal_of(wire_post(http, body))
    assert code == "-1"
    assert message.startswith("XML refused") and expected in message


FUZZ_APP = InProcess(create_app())
VALID_BODY = encode("bizh120001", "request", PERSON_LOOKUP, session_id="no-such-session")


@settings(max_examples=80, deadline=None)
@given(position=st.integers(0, len(VALID_BODY)), junk=st.binary(max_size=24), cut=st.integers(0, 24))
def test_spliced_bodies_never_get_a_5xx(position: int, junk: bytes, cut: int) -> None:
    body = VALID_BODY[:position] + junk + VALID_BODY[position + cut :]
    code, message = refusal_of(wire_post(FUZZ_APP, body))
    assert code in ("-1", "-9") and message


def test_missing_or_unknown_function_id(http: InProcess) -> None:
    assert refusal_of(wire_post(http, program("<userid>x</userid>"))) == (
        "-1", "function_id 交易号: required field missing")
    code, message = refusal_of(wire_post(http, program("<function_id>bizh999999</function_id>")))
    assert code == "-1" and "unknown function_id 'bizh999999'" in message


def test_unknown_or_missing_session_is_minus_nine(http: InProcess) -> None:
    assert call(http, "bizh120001", PERSON_LOOKUP, "no-such-session")["return_code"] == "-9"
    assert call(http, "bizh120001", PERSON_LOOKUP, None)["return_code"] == "-9"


def test_request_log_records_every_request(http: InProcess, session: str) -> None:
    call(http, "bizh120001", PERSON_LOOKUP, session)
    wire_post(http, b"not xml")
    records = context_of(http.app).requests.records()
    assert [(r.function_id, r.return_code) for r in records] == [
        ("sys0001", "1"), ("bizh120001", "1"), (None, "-1")]
    assert all(r.view == "wire" and r.time > 0 for r in records)


# --------------------------------------------------------------------------- faults, in process


def test_latency_fixed_is_applied(http: InProcess, faults: FaultPlan, session: str) -> None:
    faults.add("latency", function_id="bizh120001", times=1, ms=120)
    started = time.perf_counter()
    call(http, "bizh120001", PERSON_LOOKUP, session)
    assert time.perf_counter() - started >= 0.12
    assert faults.rules() == []  # its one use is spent


def test_http500_carries_the_server_fault_text(http: InProcess, faults: FaultPlan, session: str) -> None:
    faults.add("http500", function_id="bizh120001", times=1)
    body = encode("bizh120001", "request", PERSON_LOOKUP, session_id=session)
    response = wire_post(http, body)
    assert response.status_code == 500 and SPEC.server_fault_text in response.text
    assert wire_post(http, body).status_code == 200  # times=1: back to normal


@pytest.mark.parametrize("mode", ["truncated", "not_xml"])
def test_malformed_answer_is_not_xml(http: InProcess, faults: FaultPlan, session: str, mode: str) -> None:
    faults.add("malformed", function_id="bizh120001", mode=mode)
    response = wire_post(http, encode("bizh120001", "request", PERSON_LOOKUP, session_id=session))
    assert response.status_code == 200
    with pytest.raises(ValueError, match=r"refused|malformed"):
        decode(response.content, "bizh120001", "response")


def test_session_expired_fault_answers_minus_nine_but_not_to_the_login(
    http: InProcess, faults: FaultPlan
) -> None:
    faults.add("session_expired", times=1)
    session = login(http)  # the rule does not apply to sys0001 and is not used up by it
    assert call(http, "bizh120001", PERSON_LOOKUP, session)["return_code"] == "-9"
    assert call(http, "bizh120001", PERSON_LOOKUP, session)["return_code"] == "1"


def test_fail_then_succeed_fails_n_times(http: InProcess, faults: FaultPlan, session: str) -> None:
    faults.add("fail_then_succeed", function_id="bizh120001", n=2, code="-3", message="系统繁忙")
    codes = [call(http, "bizh120001", PERSON_LOOKUP, session)["return_code"] for _ in range(3)]
    assert codes == ["-3", "-3", "1"]


def test_commit_then_drop_in_process_raises_after_the_commit(
    http: InProcess, faults: FaultPlan, province: MockProvince, session: str
) -> None:
    faults.add("commit_then_drop", function_id="bizh110104", times=1)
    with pytest.raises(AnswerDropped):
        wire_post(http, encode("bizh110104", "request", OUTPATIENT_REGISTRATION, session_id=session))
    [record] = context_of(http.app).requests.records("bizh110104")
    assert record.return_code == "1" and record.http_status is None and record.fault == "commit_then_drop"
    assert province.stage_of(str(record.aaz218)) == "registered"


def test_faults_match_by_aaz218(http: InProcess, faults: FaultPlan, session: str) -> None:
    registered = call(http, "bizh110104", OUTPATIENT_REGISTRATION, session)
    faults.add("fail_then_succeed", aaz218=registered["aaz218"])
    query = {"akb020": AKB020, "bka895": "aaz218", "bka896": registered["aaz218"], "bka006": "410"}
    assert call(http, "bizh110102", query, session)["return_code"] == "1"  # no aaz218 element
    assert call(http, "bizh120001", PERSON_LOOKUP, session)["return_code"] == "1"


# --------------------------------------------------------------------------- the fault plan itself


def test_log_normal_latency_is_reproducible_and_centred_on_the_median() -> None:
    def draws(plan: FaultPlan) -> list[float]:
        plan.add("latency", median_ms=50, sigma=0.4)
        return [plan.decide("bizh120001", None).delay_ms for _ in range(400)]

    first, second = draws(FaultPlan(seed=3)), draws(FaultPlan(seed=3))
    assert first == second
    assert 40 < statistics.median(first) < 60
    plan = FaultPlan(seed=3)
    assert draws(plan)[:5] == first[:5]
    plan.clear()  # clearing reseeds: the same rule replays the same delays
    assert draws(plan)[:5] == first[:5]


def test_outcome_rules_fire_in_order_and_latency_adds_up() -> None:
    plan = FaultPlan()
    plan.add("latency", ms=10)
    plan.add("latency", function_id="bizh120003", ms=5)
    plan.add("http500", times=1)
    plan.add("malformed", times=1)
    first, second, third = (plan.decide("bizh120003", "A1") for _ in range(3))
    assert (first.kind, second.kind, third.kind) == ("http500", "malformed", None)
    assert first.delay_ms == 15 and plan.decide("bizh120001", None).delay_ms == 10


@pytest.mark.parametrize(
    ("kind", "params", "problem"),
    [
        ("explode", {}, "not one of"),
        ("latency", {}, "either ms"),
        ("latency", {"ms": 5, "median_ms": 5}, "either ms"),
        ("latency", {"ms": -1}, ">= 0"),
        ("latency", {"ms": "5"}, "must be a number"),
        ("http500", {"ms": 5}, "unknown parameter"),
        ("malformed", {"mode": "zip"}, "mode"),
        ("fail_then_succeed", {"code": "1"}, "negative"),
        ("fail_then_succeed", {"n": 2, "times": 3}, "disagree"),
        ("http500", {"times": 0}, "times"),
        ("http500", {"function_id": "bizh000000"}, "unknown function_id"),
    ],
)
def test_bad_rules_are_refused_with_a_reason(kind: str, params: dict[str, Any], problem: str) -> None:
    with pytest.raises(FaultError, match=problem):
        FaultPlan().add(kind, **params)


# --------------------------------------------------------------------------- admin


def test_admin_faults_add_list_clear(http: InProcess, session: str) -> None:
    added = http.post("/admin/faults", json={"kind": "fail_then_succeed", "function_id": "bizh120001", "n": 1})
    assert added.status_code == 200 and added.json()["rule"]["remaining"] == 1
    assert http.get("/admin/faults").json()["rules"][0]["kind"] == "fail_then_succeed"
    assert call(http, "bizh120001", PERSON_LOOKUP, session)["return_code"] == "-1"
    http.post("/admin/faults", json={"kind": "http500"})
    assert http.delete("/admin/faults").json() == {"cleared": 1}
    assert call(http, "bizh120001", PERSON_LOOKUP, session)["return_code"] == "1"


@pytest.mark.parametrize("body", [{"kind": "nope"}, {"kind": "latency"}, [1], {"times": 2}])
def test_admin_bad_fault_is_400_with_reason(http: InProcess, body: object) -> None:
    response = http.post("/admin/faults", json=body)
    assert response.status_code == 400 and response.json()["error"]


def test_admin_expire_sessions(http: InProcess, session: str) -> None:
    assert http.post("/admin/sessions/expire").status_code == 200
    assert call(http, "bizh120001", PERSON_LOOKUP, session)["return_code"] == "-9"


def test_admin_stage_jump_requests_state_reset(http: InProcess, session: str) -> None:
    aaz218 = call(http, "bizh110104", OUTPATIENT_REGISTRATION, session)["aaz218"]
    jumped = http.post(f"/admin/stays/{aaz218}/stage", json={"stage": "charged"})
    assert jumped.json() == {"aaz218": aaz218, "stage": "charged"}
    assert http.post(f"/admin/stays/{aaz218}/stage", json={}).status_code == 400
    logged = http.get("/admin/requests").json()["requests"]
    assert [r["function_id"] for r in logged] == ["sys0001", "bizh110104"]
    assert logged[1]["aaz218"] == aaz218  # taken from the answer: registration creates it
    assert aaz218 in json.dumps(http.get("/admin/state").json())
    assert http.post("/admin/reset").json() == {"reset": True}
    assert aaz218 not in json.dumps(http.get("/admin/state").json())
    assert http.get("/admin/requests").json() == {"requests": []}


# --------------------------------------------------------------------------- JSON view


def test_openapi_document_is_served(http: InProcess) -> None:
    served = http.get("/openapi.json")
    expected = resources.files("generated").joinpath("openapi.json").read_bytes()
    assert served.status_code == 200 and served.content == expected


def test_json_view_answers_from_the_same_province(http: InProcess) -> None:
    request = {k: v for k, v in PERSON_LOOKUP.items() if k != "akb020"}  # akb020 defaults
    answer = http.post("/functions/bizh120001", json=request).json()
    assert answer["return_code"] == "1" and answer["personinfo"][0]["aac001"] == PERSON
    registered = http.post("/functions/bizh110104", json=OUTPATIENT_REGISTRATION).json()
    assert context_of(http.app).province.stage_of(registered["aaz218"]) == "registered"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (json.dumps({**PERSON_LOOKUP, "bka895": "passport"}).encode(), "bka895 入参类型"),
        (json.dumps({**PERSON_LOOKUP, "extra": "1"}).encode(), "extra: not a field"),
        (json.dumps({**PERSON_LOOKUP, "bka896": 42}).encode(), "bka896 入参值: must be text"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_json_view_bad_input_is_an_error_response(http: InProcess, body: bytes, problem: str) -> None:
    response = http.post("/functions/bizh120001", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"return_code", "return_code_message"}  # the ErrorResponse schema
    assert answer["return_code"] == "-1" and problem in answer["return_code_message"]


def test_json_view_unknown_function(http: InProcess) -> None:
    answer = http.post("/functions/bizh000000", json={}).json()
    assert answer["return_code"] == "-1" and "unknown function_id" in answer["return_code_message"]


# --------------------------------------------------------------------------- over a real socket


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as running:
        yield running


@pytest.fixture
def live(server: MockServer) -> MockServer:
    """The shared server, back to its seed with no faults and an empty request log."""
    server.province.reset()
    server.faults.clear()
    server.requests.clear()
    return server


@pytest.fixture
def client(live: MockServer, tmp_path: Path) -> Iterator[Client]:
    settings = Settings(base_url=live.url, userid=USERID, password=PASSWORD, akb020=AKB020,
                        journal_path=str(tmp_path / "journal.sqlite"), retry_backoff=0.01, read_timeout=5)
    with Client(settings) as running:
        yield running


def test_socket_round_trip_with_the_real_client(client: Client, live: MockServer) -> None:
    answer = client.call_wire("bizh120001", PERSON_LOOKUP)
    assert answer["personinfo"][0]["aac001"] == PERSON
    assert [r.function_id for r in live.requests.records()] == ["sys0001", "bizh120001"]
    assert live.url.startswith("http://127.0.0.1:")


def test_socket_session_expiry_is_handled_by_relogin(client: Client, live: MockServer) -> None:
    client.call_wire("bizh120001", PERSON_LOOKUP)
    live.faults.add("session_expired", times=1)
    assert client.call_wire("bizh120001", PERSON_LOOKUP)["return_code"] == "1"
    assert client.session.logins == 2
    live.province.expire_sessions()  # the province's own expiry: same path
    assert client.call_wire("bizh120001", PERSON_LOOKUP)["return_code"] == "1"
    assert client.session.logins == 3


def test_socket_query_retried_through_fail_then_succeed(client: Client, live: MockServer) -> None:
    client.call_wire("bizh120001", PERSON_LOOKUP)
    live.faults.add("fail_then_succeed", function_id="bizh120001", n=2, answer="http500")
    assert client.call_wire("bizh120001", PERSON_LOOKUP)["return_code"] == "1"
    statuses = [r.http_status for r in live.requests.records("bizh120001")]
    assert statuses == [200, 500, 500, 200]


def test_socket_http500_and_malformed_leave_state_changes_unknown(client: Client, live: MockServer) -> None:
    live.faults.add("http500", function_id="bizh110104", times=1)
    live.faults.add("malformed", function_id="bizh110104", times=1)
    for _ in range(2):
        with pytest.raises(OutcomeUnknownError) as raised:
            client.call_wire("bizh110104", OUTPATIENT_REGISTRATION)
        entries = [e.status for e in client.journal.list()]
        assert entries[0] == Status.UNKNOWN
        # Settled by hand, as recovery would: the next registration of this person is refused
        # while one is unresolved.
        client.journal.resolve(raised.value.journal_id or 0, Status.FAILED, "not committed: test")


def test_socket_commit_then_drop(client: Client, live: MockServer) -> None:
    live.faults.add("commit_then_drop", function_id="bizh110104", times=1)
    with pytest.raises(OutcomeUnknownError) as raised:
        client.call_wire("bizh110104", OUTPATIENT_REGISTRATION)
    entry = client.journal.get(raised.value.journal_id or 0)
    assert entry is not None and entry.status == Status.UNKNOWN
    [record] = live.requests.records("bizh110104")
    assert record.return_code == "1" and record.http_status is None
    assert live.province.stage_of(str(record.aaz218)) == "registered"  # the province did commit
    assert client.call_wire("bizh120001", PERSON_LOOKUP)["return_code"] == "1"  # and serves on


def test_socket_latency_is_measured(client: Client, live: MockServer) -> None:
    client.call_wire("bizh120001", PERSON_LOOKUP)
    live.faults.add("latency", function_id="bizh120001", times=1, ms=150)
    started = time.perf_counter()
    client.call_wire("bizh120001", PERSON_LOOKUP)
    assert 0.15 <= time.perf_counter() - started < 1.0


def test_socket_latency_does_not_hold_up_other_requests(client: Client, live: MockServer) -> None:
    client.call_wire("bizh120001", PERSON_LOOKUP)
    live.faults.add("latency", function_id="bizh120001", times=1, ms=400)
    slow = threading.Thread(target=client.call_wire, args=("bizh120001", PERSON_LOOKUP))
    slow.start()
    deadline = time.monotonic() + 5
    while live.faults.rules():  # the latency is used up: the slow request is held at the mock
        assert time.monotonic() < deadline, "the slow request never reached the mock"
        time.sleep(0.005)
    with httpx.Client(base_url=live.url) as http:
        login(http)
    assert slow.is_alive(), "the login waited for the slow request's 400 ms"
    slow.join()


def test_socket_bad_input_and_admin_over_http(live: MockServer) -> None:
    with httpx.Client(base_url=live.url) as http:
        code, message = refusal_of(wire_post(http, b"<!DOCTYPE x><program/>", "application/xml"))
        assert code == "-1" and "DOCTYPE" in message
        assert http.post("/admin/faults", json={"kind": "http500", "times": 1}).status_code == 200
        assert wire_post(http, encode("sys0001", "request", {"userid": USERID, "password": PASSWORD})).status_code == 500
        assert http.get("/admin/faults").json() == {"rules": []}


def test_socket_round_trip_has_no_nagle_stall(live: MockServer) -> None:
    """Keep-alive loopback round trips: a Nagle + delayed-ACK stall would show as ~40 ms."""
    body = encode("sys0001", "request", {"userid": USERID, "password": PASSWORD})
    timings = []
    with httpx.Client(base_url=live.url) as http:
        for _ in range(60):
            started = time.perf_counter()
            assert wire_post(http, body).status_code == 200
            timings.append((time.perf_counter() - started) * 1000)
    assert statistics.median(timings[10:]) < 10, timings


# --------------------------------------------------------------------------- CLI


def test_cli_mock_seed_lists_the_synthetic_seed() -> None:
    result = CliRunner().invoke(cli_app, ["mock", "seed"])
    assert result.exit_code == 0
    assert f"{USERID}" in result.output and AKB020 in result.output and PERSON in result.output


def test_cli_mock_seed_reports_a_bad_seed_file(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("institutions: {}\nusers: []\npersons: []\ntypo: 1\n", encoding="utf-8")
    result = CliRunner().invoke(cli_app, ["mock", "seed", "--seed", str(seed)])
    assert result.exit_code == 2 and "typo" in result.output
