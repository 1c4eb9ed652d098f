"""gdwi proxy: a HIS that builds XML by string concatenation, through the proxy, to the mock.

Every test runs real servers on 127.0.0.1: the mock province (uvicorn), the proxy (uvicorn, its
own upstream client) and, where the test needs an answer the mock would never give, a stdlib
`http.server` upstream. The HIS side is tests/string_his.py (http.client, no gdwi code).
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from string_his import (
    AKB020,
    FORM,
    PASSWORD,
    TEXT_XML,
    USERID,
    StringHis,
    admit,
    fee_rows,
    lookup,
    whole_stay,
)
from typer.testing import CliRunner

from adapter.cli.app import app as cli
from adapter.mock.server import MockServer
from adapter.mock.style import style_named
from adapter.ops.recovery import recover
from adapter.proxy import Mode, ProxyConfig, ProxyServer
from adapter.wire.client import Client
from adapter.wire.config import Settings
from adapter.wire.deviations import DeviationKind
from adapter.wire.journal import Journal, Status
from generated.registry import SPEC

PERSON = "1000000002"  # free to be admitted (the mock's seed)
CITIZEN_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9])")


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture
def province(mock: MockServer) -> MockServer:
    mock.province.reset()
    mock.faults.clear()
    mock.requests.clear()
    return mock


@contextmanager
def proxied(upstream: str, tmp_path: Path, **options: Any) -> Iterator[ProxyServer]:
    config = ProxyConfig(upstream=upstream, journal_path=str(tmp_path / "journal.sqlite"), **options)
    with ProxyServer(config) as proxy:
        yield proxy


def entries(proxy: ProxyServer) -> list[Any]:
    return list(reversed(proxy.journal.list(limit=1000)))


# --------------------------------------------------------------------------- a whole stay


@pytest.mark.parametrize("mode", [Mode.OBSERVE, Mode.ENFORCE])
@pytest.mark.parametrize("content_type", [TEXT_XML, FORM])
def test_a_whole_inpatient_stay_passes_through_and_is_journaled(
    province: MockServer, tmp_path: Path, mode: Mode, content_type: str
) -> None:
    with proxied(province.url, tmp_path, mode=mode) as proxy:
        his = StringHis(proxy.url, content_type)
        steps = whole_stay(his, PERSON)
        his.close()
        journal = entries(proxy)
    assert [(fid, answer.status, answer.code) for fid, answer in steps] == [
        (fid, 200, "1") for fid, _ in steps]
    assert [entry.function_id for entry in journal] == [fid for fid, _ in steps]
    assert all(entry.status == Status.OK for entry in journal)
    aaz218 = steps[2][1].value("aaz218")
    assert aaz218 and all(entry.aaz218 == aaz218 for entry in journal[2:])
    # The province's bytes reached the HIS unchanged: the journal holds what came from upstream.
    assert [entry.response_xml.encode() for entry in journal] == [answer.body for _, answer in steps]
    assert steps[-1][1].rows("list") == 6  # both fee chunks reached the province
    assert PASSWORD not in journal[0].request_xml and "<password>******" in journal[0].request_xml
    assert len(province.requests.records()) == len(steps)


def test_the_journal_serves_gdwi_journal_list_and_show(province: MockServer, tmp_path: Path) -> None:
    with proxied(province.url, tmp_path) as proxy:
        his = StringHis(proxy.url)
        his.login()
        lookup(his, PERSON)
        his.close()
    db = str(tmp_path / "journal.sqlite")
    listed = CliRunner().invoke(cli, ["journal", "list", "--db", db])
    shown = CliRunner().invoke(cli, ["journal", "show", "2", "--db", db])
    assert listed.exit_code == 0 and "journal: 2 entries" in listed.output
    assert shown.exit_code == 0 and "bizh120001" in shown.output and "personinfo" in shown.output
    assert not CITIZEN_ID.search(shown.output)  # the answer's aac002 is masked on display


# --------------------------------------------------------------------------- modes


def bad_lookup(his: StringHis) -> Any:
    """bka896 longer than its 20 characters, and bka895 outside its (closed) code list."""
    return his.call("bizh120001", {"bka895": "aac009", "bka896": "1" * 21, "aka130": "42", "bka006": "420"})


def test_enforce_answers_a_spec_breaking_request_locally(province: MockServer, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), proxied(province.url, tmp_path, mode=Mode.ENFORCE) as proxy:
        his = StringHis(proxy.url)
        his.login()
        before = len(province.requests.records())
        answer = bad_lookup(his)
        unknown = his.call("bizh110010", {"bka006": "420"})
        his.close()
        entry = entries(proxy)[-1]
    assert answer.status == 200 and answer.code == "-1"
    message = answer.value("return_code_message") or ""
    assert "bka896 入参值" in message and "bka895" in message
    assert len(province.requests.records()) == before  # never forwarded
    assert entry.status == Status.FAILED and "enforce" in (entry.message or "")
    assert "(did you mean bizh110001?)" in (unknown.value("return_code_message") or "")
    refusals = [record.getMessage() for record in caplog.records if "refused (enforce)" in record.getMessage()]
    assert len(refusals) == 2 and "bizh120001" in refusals[0] and "bka896" in refusals[0], refusals


def test_observe_forwards_it_and_records_the_problems(province: MockServer, tmp_path: Path) -> None:
    with proxied(province.url, tmp_path, mode=Mode.OBSERVE) as proxy:
        his = StringHis(proxy.url)
        his.login()
        before = len(province.requests.records())
        answer = bad_lookup(his)
        his.close()
        entry = entries(proxy)[-1]
    assert len(province.requests.records()) == before + 1
    assert answer.code == "-1"  # the province's own refusal, passed through
    assert entry.status == Status.REJECTED and entry.response_xml.encode() == answer.body
    assert "request breaks the spec (observe mode, sent): " in (entry.message or "")
    assert "bka896 入参值" in (entry.message or "")


def test_a_per_function_override_enforces_one_function(province: MockServer, tmp_path: Path) -> None:
    with proxied(province.url, tmp_path, mode=Mode.OBSERVE, overrides={"bizh120001": Mode.ENFORCE}) as proxy:
        his = StringHis(proxy.url)
        his.login()
        before = len(province.requests.records())
        refused = bad_lookup(his)
        forwarded = his.call("bizh120003", {"aaz218": "1" * 21, "bka438": "1"})
        his.close()
    assert refused.code == "-1" and "gdwi proxy (enforce)" in (refused.value("return_code_message") or "")
    assert forwarded.code == "-1" and len(province.requests.records()) == before + 1


def test_login_and_session_expiry_pass_through_untouched(province: MockServer, tmp_path: Path) -> None:
    with proxied(province.url, tmp_path, mode=Mode.ENFORCE) as proxy:
        his = StringHis(proxy.url)
        wrong = his.login(password="not-the-password")
        his.login()
        province.province.expire_sessions()
        answer = lookup(his, PERSON)  # -9, then the HIS logs in again by itself
        his.close()
        statuses = [(entry.function_id, entry.status, entry.return_code) for entry in entries(proxy)]
    assert wrong.code != "1" and answer.code == "1"
    assert statuses == [("sys0001", Status.REJECTED, wrong.code), ("sys0001", Status.OK, "1"),
                        ("bizh120001", Status.REJECTED, SPEC.session_expired_code),
                        ("sys0001", Status.OK, "1"), ("bizh120001", Status.OK, "1")]


# --------------------------------------------------------------------------- refusals


HOSTILE = [
    '<?xml version="1.0"?><!DOCTYPE program [<!ENTITY x "y">]><program><function_id>bizh120001'
    "</function_id>&x;</program>",
    '<?xml version="1.0" encoding="GBK"?><program><function_id>bizh120001</function_id></program>',
    "<program><function_id>bizh120001</function_id><akb020>",
    "<html>not a program</html>",
    "<program><akb020>H1</akb020></program>",
]


@pytest.mark.parametrize("body", HOSTILE)
def test_hostile_or_unreadable_xml_is_refused_and_never_forwarded(
    province: MockServer, tmp_path: Path, body: str
) -> None:
    with proxied(province.url, tmp_path, mode=Mode.OBSERVE) as proxy:
        his = StringHis(proxy.url)
        answer = his.post(body)
        his.close()
        journal = entries(proxy)
    assert answer.status == 200 and answer.code == "-1"
    assert "XML refused" in (answer.value("return_code_message") or "")
    assert province.requests.records() == [] and journal == []


def test_an_oversized_body_is_refused_before_it_is_read_whole(province: MockServer, tmp_path: Path) -> None:
    with proxied(province.url, tmp_path, max_body_bytes=1000) as proxy:
        answer = StringHis(proxy.url).post("<program>" + "x" * 2000 + "</program>")
    assert answer.code == "-1" and "larger than the limit of 1000 bytes" in answer.text
    assert province.requests.records() == []


def test_other_paths_and_methods_are_refused(province: MockServer, tmp_path: Path) -> None:
    with proxied(province.url, tmp_path) as proxy:
        connection = http.client.HTTPConnection(proxy.host, proxy.port, timeout=10)
        connection.request("POST", "/admin/reset", body=b"{}")
        elsewhere = connection.getresponse()
        elsewhere.read()
        connection.request("GET", SPEC.path)
        wrong_method = connection.getresponse()
        wrong_method.read()
        connection.close()
    assert (elsewhere.status, wrong_method.status) == (404, 405)
    assert province.requests.records() == []


# --------------------------------------------------------------------------- failures


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_upstream_is_a_failed_entry_and_a_minus_one(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), proxied(f"http://127.0.0.1:{closed_port()}", tmp_path) as proxy:
        his = StringHis(proxy.url)
        answer = his.login()
        his.close()
        journal = entries(proxy)
    assert answer.status == 502 and answer.code == "-1"
    assert "nothing was sent" in (answer.value("return_code_message") or "")
    assert [(entry.function_id, entry.status) for entry in journal] == [("sys0001", Status.FAILED)]
    assert [record.getMessage() for record in caplog.records if "(502" in record.getMessage()] != []
    assert PASSWORD not in caplog.text


def recovery_env(province: MockServer, tmp_path: Path) -> dict[str, str]:
    return {"GDWI_BASE_URL": province.url, "GDWI_USERID": USERID, "GDWI_PASSWORD": PASSWORD,
            "GDWI_AKB020": AKB020, "GDWI_JOURNAL": str(tmp_path / "journal.sqlite")}


def test_a_dropped_answer_is_unknown_then_settled_by_journal_recover(
    province: MockServer, tmp_path: Path
) -> None:
    with proxied(province.url, tmp_path) as proxy:
        his = StringHis(proxy.url)
        his.login()
        province.faults.add("commit_then_drop", function_id="bizh120103", times=1)
        lost = admit(his, PERSON)
        his.close()
        entry = entries(proxy)[-1]
    assert lost.status == 504 and lost.code == "-1"  # an error, never a fake success
    assert f"journal entry {entry.id}" in lost.text and "未知" in lost.text
    assert (entry.function_id, entry.status) == ("bizh120103", Status.UNKNOWN)
    result = CliRunner().invoke(cli, ["journal", "recover"], env=recovery_env(province, tmp_path))
    assert result.exit_code == 0, result.output
    with Journal(tmp_path / "journal.sqlite") as journal:
        settled = journal.get(entry.id)
    stays = province.province.snapshot()["stays"]
    assert settled is not None and settled.status == Status.OK and settled.aaz218 in stays


def free_port() -> int:
    return closed_port()


@contextmanager
def proxy_process(upstream: str, journal: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`gdwi proxy serve` in a process of its own, so the test can kill it mid-call."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "adapter.cli", "proxy", "serve", "--upstream", upstream,
         "--listen", f"127.0.0.1:{port}", "--db", str(journal)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the proxy did not start"
                time.sleep(0.05)
        process.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
        yield process
    finally:
        process.kill()
        process.wait(10)


def test_a_proxy_killed_mid_call_loses_nothing_that_was_journaled(
    province: MockServer, tmp_path: Path
) -> None:
    path = tmp_path / "journal.sqlite"
    province.faults.add("latency", function_id="bizh120103", ms=1500, times=1)
    with proxy_process(province.url, path) as process:
        his = StringHis(process.url)  # type: ignore[attr-defined]
        his.login()
        lost: list[BaseException] = []

        def call() -> None:
            try:
                admit(his, PERSON)
            except (OSError, http.client.HTTPException) as exc:  # the proxy died under the HIS
                lost.append(exc)

        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        with Journal(path) as journal:
            deadline = time.monotonic() + 10
            while not journal.list(function_id="bizh120103"):
                assert time.monotonic() < deadline, "the admission was never journaled"
                time.sleep(0.01)
        while province.faults.rules():  # the one-shot latency is used up: the province has the call
            assert time.monotonic() < deadline, "the admission never reached the province"
            time.sleep(0.01)
        process.kill()  # mid-call: the request is at the province, the answer has nowhere to go
        process.wait(10)
    caller.join(10)
    assert lost, "the HIS got an answer from a killed proxy"
    deadline = time.monotonic() + 10
    while not province.requests.records("bizh120103"):  # the province still commits it
        assert time.monotonic() < deadline
        time.sleep(0.05)
    settings = Settings(base_url=province.url, userid=USERID, password=PASSWORD, akb020=AKB020,
                        journal_path=str(path))
    with Journal(path) as journal, Client(settings, journal=journal) as client:
        pending = journal.list(function_id="bizh120103")[0]
        assert pending.status == Status.PENDING
        results = recover(client, stale_pending_after=timedelta(0))
        settled = journal.get(pending.id)
    assert [(r.entry_id, r.before, r.after) for r in results] == [(pending.id, Status.PENDING, Status.OK)]
    assert settled is not None and settled.aaz218 in province.province.snapshot()["stays"]


def test_an_upstream_error_page_is_passed_on_and_journaled_unknown(province: MockServer, tmp_path: Path) -> None:
    with proxied(province.url, tmp_path) as proxy:
        his = StringHis(proxy.url)
        his.login()
        province.faults.add("http500", function_id="bizh120001", times=1)
        answer = lookup(his, PERSON)
        his.close()
        entry = entries(proxy)[-1]
    assert answer.status == 500 and SPEC.server_fault_text in answer.text  # as the HIS saw it before
    assert entry.status == Status.UNKNOWN and entry.response_xml.encode() == answer.body


# --------------------------------------------------------------------------- byte fidelity and drift


class Upstream(ThreadingHTTPServer):
    """A stdlib HTTP server standing in for the province: records requests, answers by `answer`."""

    def __init__(self, answer: Callable[[bytes], tuple[bytes, bool]]) -> None:
        self.answer = answer
        self.received: list[tuple[str, bytes]] = []
        super().__init__(("127.0.0.1", 0), _UpstreamHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.headers["Content-Type"], body))
        answer, chunked = self.server.answer(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/xml;charset=UTF-8")
        if chunked:  # as a Java servlet container streams a large answer
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(answer), 7):
                piece = answer[start:start + 7]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def upstream(answer: Callable[[bytes], tuple[bytes, bool]]) -> Iterator[Upstream]:
    server = Upstream(answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# What a real platform sends and the spec does not say: an element the spec does not list, a
# code outside a closed list, a date in another format, a required field left out, extra places.
DRIFTING_PERSON = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<program>\n  <return_code>1</return_code>\n'
    "  <return_code_message>成功</return_code_message>\n  <personinfo>\n    <row>\n"
    "      <aac003>测试乙</aac003><aac004>3</aac004><aac002>44190019900101002X00000000</aac002>\n"
    "      <aac006>1990-01-01</aac006><bkz999>新字段</bkz999>\n    </row>\n  </personinfo>\n</program>\n"
).encode()


@pytest.mark.parametrize("chunked", [False, True])
def test_bytes_pass_unchanged_both_ways_and_drift_is_recorded(tmp_path: Path, chunked: bool) -> None:
    with upstream(lambda body: (DRIFTING_PERSON, chunked)) as fake, proxied(fake.url, tmp_path) as proxy:
        his = StringHis(proxy.url, FORM)
        his.session_id = "0a9c782c-d375-4780-a377-ed506ec0cfce"
        answer = lookup(his, PERSON)
        his.close()
        entry = entries(proxy)[-1]
        found = proxy.journal.deviations(entry_id=entry.id)
    sent_type, sent_body = fake.received[0]
    assert sent_type == FORM and sent_body.decode() == entry.request_xml  # the HIS's bytes, unchanged
    assert answer.body == DRIFTING_PERSON and entry.status == Status.OK
    kinds = {(deviation.path, deviation.kind) for _, _, deviation in found}
    assert {("personinfo[0].bkz999", DeviationKind.UNKNOWN_ELEMENT),
            ("personinfo[0].aac004", DeviationKind.UNLISTED_CODE),
            ("personinfo[0].aac006", DeviationKind.BAD_VALUE),
            ("personinfo[0].aac001", DeviationKind.MISSING_FIELD),
            ("personinfo[0].aac002", DeviationKind.BAD_VALUE)} <= kinds
    samples = " ".join(deviation.sample for _, _, deviation in found)
    assert "44190019900101002X" not in samples and "441900" in samples  # PII masked
    assert all(deviation.function_id == "bizh120001" for _, _, deviation in found)


def test_extra_decimal_places_are_recorded_as_such(tmp_path: Path) -> None:
    examples = json.loads((Path(__file__).parents[1] / "generated" / "examples.json").read_text("utf-8"))
    values = dict(examples["bizh120206"][0]["response"])
    answer_xml = "<program>" + "".join(
        f"<{code}>{value}</{code}>" for code, value in values.items() if isinstance(value, str)
    ).replace("<bka979>3560.00</bka979>", "<bka979>3560.005</bka979>") + "</program>"
    with upstream(lambda body: (answer_xml.encode(), False)) as fake, proxied(fake.url, tmp_path) as proxy:
        his = StringHis(proxy.url)
        his.session_id = "s"
        his.call("bizh120206", {"aaz218": "44190000012019000002"})
        his.close()
        found = proxy.journal.deviations()
    # Read exactly, the half cent also breaks the total's identity: the proxy checks it as the client does.
    assert [(d.path, d.kind, d.sample) for _, _, d in found] == [
        ("bka979", DeviationKind.EXTRA_PLACES, "3560.005"),
        ("bka979", DeviationKind.BROKEN_INVARIANT, "3560.005")]


def test_drift_from_the_real_shaped_mock_is_recorded_per_entry(tmp_path: Path) -> None:
    with MockServer(style=style_named("real")) as real, proxied(real.url, tmp_path) as proxy:
        his = StringHis(proxy.url)
        steps = whole_stay(his, PERSON, fee_chunks=1)
        his.close()
        journal = entries(proxy)
        found = proxy.journal.deviations()
    assert all(answer.code == "1" for _, answer in steps) and all(e.status == Status.OK for e in journal)
    assert all(b'encoding="UTF-8"' in answer.body for _, answer in steps)  # the real shape, unchanged
    kinds = {deviation.kind for _, _, deviation in found}
    assert {DeviationKind.EMPTY_ELEMENT, DeviationKind.UNKNOWN_ELEMENT} <= kinds
    by_entry = {(entry_id, deviation.path, deviation.kind) for _, entry_id, deviation in found}
    fee_list = next(entry for entry in journal if entry.function_id == "bizh120113")
    assert (fee_list.id, "list[*].aae100", DeviationKind.UNKNOWN_ELEMENT) in by_entry  # once for all its rows
    assert not CITIZEN_ID.search(" ".join(d.sample for _, _, d in found))
    report = CliRunner().invoke(cli, ["spec", "drift", "--json", "--db", str(tmp_path / "journal.sqlite")])
    assert report.exit_code == 0, report.output
    groups = {(item["function_id"], item["kind"]) for item in json.loads(report.output)}
    assert ("bizh120113", "unknown_element") in groups and ("bizh120113", "empty_element") in groups


# --------------------------------------------------------------------------- concurrency


def test_eight_his_callers_at_once(province: MockServer, tmp_path: Path) -> None:
    """8 workstations, each its own session, upload fee chunks to one stay and look people up."""
    callers, chunks = 8, 4
    with proxied(province.url, tmp_path, mode=Mode.ENFORCE) as proxy:
        nurse = StringHis(proxy.url)
        nurse.login()
        aaz218 = admit(nurse, PERSON).value("aaz218") or ""
        answers: list[Any] = []
        lock = threading.Lock()

        def workstation(number: int) -> None:
            his = StringHis(proxy.url, FORM if number % 2 else TEXT_XML)
            his.login()
            for chunk in range(chunks):
                uploaded = his.call("bizh120002", {"aaz218": aaz218}, {"feeinfo": fee_rows(3, chunk)})
                looked_up = lookup(his, "1000000001")
                with lock:
                    answers.extend([uploaded, looked_up])
            his.close()

        threads = [threading.Thread(target=workstation, args=(n,)) for n in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        fee_list = nurse.call("bizh120113", {"aaz218": aaz218, "operate": "2", "secfalg": "0"})
        nurse.close()
        journal = entries(proxy)
    assert len(answers) == callers * chunks * 2 and all(a.status == 200 and a.code == "1" for a in answers)
    assert fee_list.rows("list") == callers * chunks * 3  # every row once
    assert len(journal) == 2 + callers * (1 + 2 * chunks) + 1
    assert all(entry.status == Status.OK for entry in journal)


# --------------------------------------------------------------------------- the command line


def test_serve_refuses_a_remote_address_without_allow_remote() -> None:
    result = CliRunner().invoke(cli, ["proxy", "serve", "--upstream", "http://127.0.0.1:1",
                                      "--listen", "0.0.0.0:8091"])
    assert result.exit_code == 2 and "not a loopback address" in result.output


@pytest.mark.parametrize("args, problem", [
    (["--upstream", "ftp://x"], "--upstream"),
    (["--upstream", "http://127.0.0.1:1", "--mode", "strict"], "--mode"),
    (["--upstream", "http://127.0.0.1:1", "--override", "bizh999999=enforce"], "--override"),
    (["--upstream", "http://127.0.0.1:1", "--override", "bizh120001:enforce"], "--override"),
])
def test_serve_names_a_bad_option(args: list[str], problem: str) -> None:
    result = CliRunner().invoke(cli, ["proxy", "serve", *args])
    assert result.exit_code == 2 and problem in result.output


# --------------------------------------------------------------------------- replay and export


def login_env(target: MockServer) -> dict[str, str]:
    return {"GDWI_USERID": USERID, "GDWI_PASSWORD": PASSWORD, "GDWI_AKB020": AKB020}


def recorded_stay(province: MockServer, tmp_path: Path) -> str:
    with proxied(province.url, tmp_path) as proxy:
        his = StringHis(proxy.url)
        steps = whole_stay(his, PERSON, fee_chunks=1)
        his.close()
    return steps[2][1].value("aaz218") or ""


def replay_cli(target: str, tmp_path: Path, *extra: str) -> Any:
    env = {"GDWI_USERID": USERID, "GDWI_PASSWORD": PASSWORD, "GDWI_AKB020": AKB020}
    return CliRunner().invoke(cli, ["proxy", "replay", "--target", target,
                                    "--db", str(tmp_path / "journal.sqlite"), *extra], env=env)


def test_replay_sends_recorded_queries_again_and_finds_no_difference(
    province: MockServer, tmp_path: Path
) -> None:
    recorded_stay(province, tmp_path)
    before = len(province.requests.records())
    result = replay_cli(province.url, tmp_path)
    replayed = [r.function_id for r in province.requests.records()[before:]]
    assert result.exit_code == 0, result.output
    assert replayed == ["sys0001", "bizh120001", "bizh120003", "bizh120206", "bizh120113"]  # queries only
    assert "replayed 4: 4 same" in result.output


def test_replay_shows_what_changed(province: MockServer, tmp_path: Path) -> None:
    recorded_stay(province, tmp_path)
    province.province.reset()  # a "new platform" that no longer knows the stay
    result = replay_cli(province.url, tmp_path, "--function", "bizh120206")
    assert result.exit_code == 1
    assert "bizh120206 different" in result.output and "return_code: '1' -> '-1'" in result.output
    assert not CITIZEN_ID.search(result.output)


def test_state_changing_requests_are_replayed_only_to_a_mock_on_request(
    province: MockServer, tmp_path: Path
) -> None:
    recorded_stay(province, tmp_path)
    refused = replay_cli(province.url, tmp_path, "--include-state-changing")
    with upstream(lambda body: (DRIFTING_PERSON, False)) as fake:
        not_a_mock = replay_cli(fake.url, tmp_path, "--include-state-changing", "--to-mock")
    assert refused.exit_code == 2 and "--to-mock" in refused.output
    assert not_a_mock.exit_code == 2 and "not gdwi's mock" in not_a_mock.output and fake.received == []
    province.province.reset()
    before = len(province.requests.records())
    replayed = replay_cli(province.url, tmp_path, "--include-state-changing", "--to-mock")
    functions = [r.function_id for r in province.requests.records()[before:]]
    assert "bizh120103" in functions and "bizh120106" in functions, replayed.output


def test_export_writes_masked_fixtures_that_contract_tests_load(tmp_path: Path) -> None:
    from adapter.proxy.recorded import load_fixtures
    from adapter.wire.codec import decode
    from adapter.wire.validation import validate_message

    with MockServer(style=style_named("real")) as real:
        recorded_stay(real, tmp_path)
    out = tmp_path / "fixtures"
    result = CliRunner().invoke(cli, ["proxy", "export", "--out", str(out), "--db", str(tmp_path / "journal.sqlite")])
    assert result.exit_code == 0 and "exported 8 exchange(s)" in result.output
    exchanges = load_fixtures(out)
    assert [e.function_id for e in exchanges] == ["bizh120001", "bizh120103", "bizh120002", "bizh120003",
                                                  "bizh120105", "bizh120106", "bizh120206", "bizh120113"]
    text = "".join(path.read_text("utf-8") for path in out.iterdir())
    assert not CITIZEN_ID.search(text) and PASSWORD not in text and "测试乙" not in text
    assert "masked-session" in text and not re.search(r"<session_id>[0-9a-f-]{36}</session_id>", text)
    for exchange in exchanges:
        request = decode(exchange.request, exchange.function_id, "request")
        validate_message(exchange.function_id, "request", request.values)  # still a valid request
        answer = decode(exchange.response, exchange.function_id, "response")
        assert answer.values["return_code"] == exchange.return_code == "1"
    assert any(d["kind"] == "empty_element" for e in exchanges for d in e.deviations)


def test_reconcile_and_sheet_work_on_a_proxied_day(tmp_path: Path) -> None:
    """A stay the HIS settled through the proxy reconciles against the province and prints."""
    import csv
    from datetime import date, datetime

    from adapter.mock.province import MockProvince

    with MockServer(MockProvince(clock=datetime.now)) as province:  # local days, as the journal's
        with proxied(province.url, tmp_path) as proxy:
            his = StringHis(proxy.url)
            steps = dict(whole_stay(his, PERSON, fee_chunks=1))
            his.close()
        settled, aaz218 = steps["bizh120106"], steps["bizh120103"].value("aaz218") or ""
        export = tmp_path / "his-export.csv"
        with export.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("date", "kind", "aaz218", "bka001", "total", "personal", "fund", "his_ref"))
            writer.writerow((date.today().isoformat(), "inpatient", aaz218, "", settled.value("akc264"),
                             settled.value("bka831"), settled.value("bka832"), "HIS0001"))
        env = recovery_env(province, tmp_path)
        reconciled = CliRunner().invoke(cli, ["reconcile", "--date", date.today().isoformat(),
                                              "--his", str(export)], env=env)
        sheet = CliRunner().invoke(cli, ["sheet", aaz218, "--html", str(tmp_path / "sheet.html")], env=env)
    assert reconciled.exit_code == 0, reconciled.output
    assert sheet.exit_code == 0, sheet.output
    assert aaz218 in (tmp_path / "sheet.html").read_text("utf-8")


# --------------------------------------------------------------------------- the HTTP the HIS speaks


def raw_exchange(proxy: ProxyServer, data: bytes, *, expect_continue: bool = False) -> bytes:
    """Send bytes as a HIS's HTTP library would put them on the wire; everything until close."""
    with socket.create_connection((proxy.host, proxy.port), timeout=10) as sock:
        if expect_continue:  # .NET: head first, the body only after "100 Continue"
            head, body = data.split(b"\r\n\r\n", 1)
            sock.sendall(head + b"\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
            data = body
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_chunked_expect_continue_and_http_1_0_requests_are_read(province: MockServer, tmp_path: Path) -> None:
    login = ('<?xml version="1.0" encoding="utf-8"?><program><function_id>sys0001</function_id><userid>'
             + USERID + "</userid><password>" + PASSWORD + "</password></program>").encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(login[i:i + 50]), login[i:i + 50]) for i in range(0, len(login), 50))
    with proxied(province.url, tmp_path) as proxy:
        answers = [
            raw_exchange(proxy, f"POST {SPEC.path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                f"Connection: close\r\n\r\n".encode() + chunked + b"0\r\n\r\n"),
            raw_exchange(proxy, f"POST {SPEC.path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                f"Content-Length: {len(login)}\r\nConnection: close\r\n\r\n".encode() + login,
                         expect_continue=True),
            raw_exchange(proxy, f"POST {SPEC.path} HTTP/1.0\r\nContent-Length: {len(login)}\r\n\r\n".encode()
                                + login),
        ]
        garbage = raw_exchange(proxy, b"HELLO\r\n\r\n")
        journal = entries(proxy)
    assert all(answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"<return_code>1</return_code>" in answer
               for answer in answers)
    assert garbage.startswith(b"HTTP/1.1 400 ")
    assert [entry.status for entry in journal] == [Status.OK] * 3


def test_one_kept_alive_connection_carries_call_after_call(province: MockServer, tmp_path: Path) -> None:
    login = ('<program><function_id>sys0001</function_id><userid>' + USERID + "</userid><password>"
             + PASSWORD + "</password></program>").encode()
    request = f"POST {SPEC.path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(login)}\r\n\r\n".encode() + login
    with proxied(province.url, tmp_path) as proxy, \
            socket.create_connection((proxy.host, proxy.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        for _ in range(5):
            sock.sendall(request)
            status = reader.readline()
            headers = {}
            while (line := reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            body = reader.read(int(headers["content-length"]))
            assert status.startswith(b"HTTP/1.1 200") and b"<return_code>1</return_code>" in body
            assert "connection" not in headers  # kept alive
        reader.close()


def test_a_journal_failure_never_sends_unrecorded_and_never_hides_a_committed_answer(
    province: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adapter.errors import JournalError

    def broken(*args: object, **kwargs: object) -> None:
        raise JournalError("journal broken (test)")

    with proxied(province.url, tmp_path) as proxy:
        his = StringHis(proxy.url)
        his.login()
        monkeypatch.setattr(proxy.journal, "finish", broken)  # the answer cannot be recorded
        admitted = admit(his, PERSON)
        monkeypatch.setattr(proxy.journal, "begin", broken)  # nothing can be recorded
        before = len(province.requests.records())
        refused = lookup(his, PERSON)
        after = len(province.requests.records())
        his.close()
        pending = proxy.journal.list(function_id="bizh120103")
    assert admitted.status == 200 and admitted.code == "1"  # committed: the HIS hears it
    assert [entry.status for entry in pending] == [Status.PENDING]  # for `gdwi journal recover`
    assert refused.status == 503 and refused.code == "-1" and after == before  # never sent unrecorded


def test_an_upstream_given_as_the_full_endpoint_url_is_not_doubled() -> None:
    from adapter.proxy.config import ProxyConfig
    from generated.registry import SPEC

    for upstream in ("http://127.0.0.1:8080", "http://127.0.0.1:8080/", f"http://127.0.0.1:8080{SPEC.path}"):
        assert ProxyConfig(upstream=upstream).upstream_url == f"http://127.0.0.1:8080{SPEC.path}"
