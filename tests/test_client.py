"""Client and AsyncClient against an in-process province (httpx.MockTransport).

The fake province answers every function from the spec's examples, and can expire
sessions, fail, time out or refuse on demand. No sockets are opened.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapter.errors import BusinessError, InputError, OutcomeUnknownError, TransportError
from adapter.wire.client import AsyncClient, Client, converters
from adapter.wire.codec import decode, encode, parse_document
from adapter.wire.config import ConfigError, Settings
from adapter.wire.journal import Status
from adapter.wire.session import SyncSession, next_midnight
from generated.registry import FUNCTIONS

EXAMPLES: dict[str, Any] = json.loads(
    resources.files("generated").joinpath("examples.json").read_text(encoding="utf-8")
)
PASSWORD = "s3cret-pw-123"
CITIZEN_ID = "44190019900101001X"


class FakeProvince:
    """Answers from the spec's examples; faults are set per test."""

    def __init__(self) -> None:
        self.logins = 0
        self.calls: list[str] = []
        self.valid_sessions: set[str] = set()
        self.fail_next: list[Exception | int | str] = []
        self.login_delay = 0.0
        self.lock = threading.Lock()

    def answer(self, request: httpx.Request) -> httpx.Response:
        function_id = parse_document(request.content).findtext("function_id") or ""
        decoded = decode(request.content, function_id, "request")
        with self.lock:
            self.calls.append(function_id)
            fault = self.fail_next.pop(0) if self.fail_next else None
        if isinstance(fault, Exception):
            raise fault
        if isinstance(fault, int):
            return httpx.Response(fault, content=b"boom")
        if fault is not None:
            return self._reply(function_id, {"return_code": fault, "return_code_message": "拒绝: 测试"})
        if function_id == "sys0001":
            return self._login(decoded.values)
        if decoded.session_id not in self.valid_sessions:
            return self._reply(function_id, {"return_code": "-9", "return_code_message": "session过期"})
        return self._reply(function_id, EXAMPLES[function_id][0]["response"])

    def _login(self, values: dict[str, Any]) -> httpx.Response:
        time.sleep(self.login_delay)
        if values.get("password") != PASSWORD:
            return self._reply("sys0001", {"return_code": "-1", "return_code_message": "密码错误"})
        with self.lock:
            self.logins += 1
            session_id = f"00000000-0000-0000-0000-{self.logins:012d}"
            self.valid_sessions.add(session_id)
        return self._reply("sys0001", {"return_code": "1", "return_code_message": "成功",
                                       "session_id": session_id})

    def _reply(self, function_id: str, values: dict[str, Any]) -> httpx.Response:
        return httpx.Response(200, content=encode(function_id, "response", values))

    def expire_all(self) -> None:
        self.valid_sessions.clear()


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "base_url": "http://127.0.0.1:9",
        "userid": "ss0028",
        "password": PASSWORD,
        "akb020": "H44190000001",
        "journal_path": str(tmp_path / "journal.sqlite"),
        "retry_backoff": 0.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def province() -> FakeProvince:
    return FakeProvince()


@pytest.fixture
def client(tmp_path: Path, province: FakeProvince) -> Client:
    return Client(settings(tmp_path), http_transport=httpx.MockTransport(province.answer))


def example_request(function_id: str) -> Any:
    return converters(function_id).parse_request(EXAMPLES[function_id][0]["request"])


@pytest.mark.parametrize("function_id", [f for f in FUNCTIONS if f != "sys0001"])
def test_every_function_through_the_typed_client(client: Client, function_id: str) -> None:
    method: Callable[[Any], Any] = getattr(client, function_id)
    response = method(example_request(function_id))
    expected = EXAMPLES[function_id][0]["response"]
    assert converters(function_id).build_answer(response) == expected
    entries = client.journal.list(function_id=function_id)
    assert [e.status for e in entries] == [Status.OK]


def test_login_once_and_session_reused(client: Client, province: FakeProvince) -> None:
    for _ in range(3):
        client.bizh120001(example_request("bizh120001"))
    assert province.logins == 1
    assert province.calls.count("sys0001") == 1


def test_session_expiry_is_invisible_to_the_caller(client: Client, province: FakeProvince) -> None:
    client.bizh120102(example_request("bizh120102"))
    province.expire_all()
    client.bizh120102(example_request("bizh120102"))
    assert province.logins == 2
    statuses = [e.status for e in client.journal.list(function_id="bizh120102")]
    assert statuses == [Status.OK, Status.REJECTED, Status.OK]  # newest first


def test_session_renewed_after_midnight_beijing() -> None:
    now = [datetime(2026, 11, 26, 15, 59, tzinfo=UTC)]  # 23:59 in Beijing
    logins: list[str] = []

    def login() -> str:
        logins.append("x")
        return f"s{len(logins)}"

    session = SyncSession(login, clock=lambda: now[0])
    assert session.get() == "s1"
    assert session.get() == "s1"
    now[0] += timedelta(minutes=2)  # 00:01 next day in Beijing
    assert session.get() == "s2"
    assert next_midnight(now[0]).hour == 0


def test_single_flight_login_across_threads(client: Client, province: FakeProvince) -> None:
    province.login_delay = 0.05
    errors: list[BaseException] = []

    def work() -> None:
        try:
            client.bizh120001(example_request("bizh120001"))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert province.logins == 1


def test_single_flight_login_across_tasks(tmp_path: Path, province: FakeProvince) -> None:
    async def run() -> None:
        async with AsyncClient(
            settings(tmp_path), http_transport=httpx.MockTransport(province.answer)
        ) as client:
            await asyncio.gather(*(client.bizh120001(example_request("bizh120001")) for _ in range(8)))

    asyncio.run(run())
    assert province.logins == 1


def test_business_refusal_raises_typed_error_and_is_journaled(client: Client, province: FakeProvince) -> None:
    client.bizh120001(example_request("bizh120001"))  # log in first
    province.fail_next.append("-1")
    with pytest.raises(BusinessError) as caught:
        client.bizh120103(example_request("bizh120103"))
    assert (caught.value.function_id, caught.value.code) == ("bizh120103", "-1")
    assert "拒绝" in caught.value.message
    assert client.journal.list(function_id="bizh120103")[0].status == Status.REJECTED


def test_connect_failure_is_failed_not_unknown_and_resent(client: Client, province: FakeProvince) -> None:
    """Certainly not sent: journaled failed, and sent again (a state change too)."""
    client.bizh120001(example_request("bizh120001"))
    province.fail_next.append(httpx.ConnectError("refused"))
    client.bizh120103(example_request("bizh120103"))
    assert [e.status for e in client.journal.list(function_id="bizh120103")] == [Status.OK, Status.FAILED]
    assert province.calls.count("bizh120103") == 2  # the fake counts the refused attempt too


def test_connect_failures_are_resent_a_bounded_number_of_times(client: Client, province: FakeProvince) -> None:
    client.bizh120001(example_request("bizh120001"))
    retries = client.settings.send_retries
    province.fail_next.extend(httpx.ConnectError("refused") for _ in range(retries + 1))
    with pytest.raises(TransportError, match="connect failed"):
        client.bizh120103(example_request("bizh120103"))
    assert [e.status for e in client.journal.list(function_id="bizh120103")] == [Status.FAILED] * (retries + 1)


def test_timeout_on_state_change_leaves_unknown_and_is_not_retried(
    client: Client, province: FakeProvince
) -> None:
    client.bizh120001(example_request("bizh120001"))
    province.fail_next.append(httpx.ReadTimeout("slow"))
    with pytest.raises(OutcomeUnknownError) as caught:
        client.bizh120106(example_request("bizh120106"))
    assert province.calls.count("bizh120106") == 1
    entry = client.journal.get(caught.value.journal_id or -1)
    assert entry is not None and entry.status == Status.UNKNOWN
    assert [e.id for e in client.journal.unknown_entries()] == [entry.id]


def test_read_only_query_is_retried_then_succeeds(client: Client, province: FakeProvince) -> None:
    client.bizh120001(example_request("bizh120001"))
    province.fail_next.extend([httpx.ReadTimeout("slow"), httpx.ConnectError("down")])
    client.bizh120102(example_request("bizh120102"))
    assert province.calls.count("bizh120102") == 3
    statuses = [e.status for e in client.journal.list(function_id="bizh120102")]
    assert statuses == [Status.OK, Status.FAILED, Status.UNKNOWN]


def test_http_500_is_a_clear_error(client: Client, province: FakeProvince) -> None:
    client.bizh120001(example_request("bizh120001"))
    province.fail_next.append(500)
    with pytest.raises(OutcomeUnknownError, match="HTTP 500"):
        client.bizh120105(example_request("bizh120105"))


def test_bad_input_refused_before_sending(client: Client, province: FakeProvince) -> None:
    values = dict(EXAMPLES["bizh110001"][0]["request"], bka896="9" * 21)
    with pytest.raises(InputError) as caught:
        client.call_wire("bizh110001", values)
    assert "bka896 入参值: longer than 20" in [str(p) for p in caught.value.problems]
    assert province.calls == []


def test_institution_code_must_be_this_clients(client: Client, province: FakeProvince) -> None:
    values = dict(EXAMPLES["bizh120102"][0]["request"], akb020="ss0028")
    with pytest.raises(InputError, match="akb020 医疗机构编码"):
        client.call_wire("bizh120102", values)
    assert province.calls == []


def test_akb020_shape_is_checked_in_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="akb020 医疗机构编码"):
        settings(tmp_path, akb020="H 4419")


def test_password_never_journaled_or_logged(
    client: Client, province: FakeProvince, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gdwi")
    values = dict(EXAMPLES["bizh110001"][0]["request"], bka895="aac002", bka896=CITIZEN_ID)
    client.call_wire("bizh110001", values)
    client.journal.close()
    raw = Path(client._core.settings.journal_path).read_bytes()
    assert PASSWORD.encode() not in raw
    assert PASSWORD not in caplog.text
    assert CITIZEN_ID not in caplog.text
    assert "441900" in caplog.text  # the masked form keeps the first six


def test_settings_from_env_keeps_userid_and_akb020_apart(tmp_path: Path) -> None:
    env = {
        "GDWI_BASE_URL": "http://127.0.0.1:8080",
        "GDWI_USERID": "login01",
        "GDWI_PASSWORD": PASSWORD,
        "GDWI_AKB020": "H44190000001",
        "GDWI_JOURNAL": str(tmp_path / "j.sqlite"),
        "GDWI_READ_TIMEOUT": "30",
    }
    loaded = Settings.from_env(env)
    assert (loaded.userid, loaded.akb020, loaded.read_timeout) == ("login01", "H44190000001", 30.0)
    assert PASSWORD not in repr(loaded)
    with pytest.raises(ConfigError, match="GDWI_PASSWORD"):
        Settings.from_env({k: v for k, v in env.items() if k != "GDWI_PASSWORD"})
