"""Exactly-once at the edges (issue 11): no resend of an unresolved change, a journal that fails
after the send, owners of entries, over a real loopback MockServer (and a real tmpfs when root).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from faulty_net import DroppingProxy, FakeProvince, flood, trickle
from real_world import fill, fill_when_pending, tmpfs

from adapter.errors import OutcomeUnknownError, UnresolvedEntryError
from adapter.his import FeeItem, InpatientService, Operator
from adapter.mock.server import MockServer
from adapter.ops.recovery import recover
from adapter.wire.client import Client
from adapter.wire.config import Settings
from adapter.wire.journal import BODY_LIMIT, Journal, Status

USERID, PASSWORD, AKB020 = "ss0028", "mock-pass-1", "H44190000001"
IN_PERSON, OTHER_PERSON = "1000000002", "1000000006"
ADMISSION = {"aac001": IN_PERSON, "aka130": "42", "bka006": "420", "bka014": "T001", "bka015": "测试操作员",
             "bka017": "20190508", "bka019": "ZYK01", "bka020": "内科", "bka021": "BQ01", "bka022": "内科病区",
             "bka023": "ZY2019001", "bka025": "12", "bka026": "S62.501"}
FEES = [{"ake005": "XY0001", "ake006": "测试药品甲片", "bka056": "3.1250", "bka057": "4.00", "bka058": "12.50",
         "bka051": "20190508", "bka063": "T001", "bka064": "测试操作员"}]


def settings(server: MockServer | DroppingProxy, journal: Path, read_timeout: float = 5.0,
             retry_backoff: float = 0.01) -> Settings:
    return Settings(base_url=server.url, userid=USERID, password=PASSWORD, akb020=AKB020,
                    journal_path=str(journal), read_timeout=read_timeout, retry_backoff=retry_backoff)


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as running:
        yield running


@pytest.fixture
def mock(server: MockServer) -> MockServer:
    server.province.reset()
    server.faults.clear()
    server.requests.clear()
    return server


@pytest.fixture
def client(mock: MockServer, tmp_path: Path) -> Iterator[Client]:
    with Client(settings(mock, tmp_path / "journal.sqlite")) as opened:
        yield opened


def uploads(server: MockServer) -> int:
    return sum(r.function_id == "bizh120002" for r in server.requests.records())


def fee_rows(client: Client, aaz218: str) -> int:
    return len(client.call_wire("bizh120113", {"aaz218": aaz218, "operate": "2"})["list"])


def admit(client: Client, person: str = IN_PERSON) -> str:
    return str(client.call_wire("bizh120103", {**ADMISSION, "aac001": person})["aaz218"])


# --------------------------------------------------------------------------- rule 1


def test_a_change_on_a_business_with_an_unknown_entry_is_refused_until_recovered(
    client: Client, mock: MockServer
) -> None:
    aaz218 = admit(client)
    mock.faults.add("commit_then_drop", function_id="bizh120002", times=1)
    with pytest.raises(OutcomeUnknownError) as lost:
        client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": FEES})
    sent = uploads(mock)
    with pytest.raises(UnresolvedEntryError) as refused:
        client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": FEES})  # the HIS resends
    message = str(refused.value)
    assert f"journal entry {lost.value.journal_id}" in message and "gdwi journal recover" in message
    assert f"aaz218 {aaz218}" in message and "nothing sent" in message
    assert uploads(mock) == sent  # the resend never left
    assert fee_rows(client, aaz218) == 1  # reading the business is not refused
    results = recover(client)
    assert [(r.entry_id, r.after) for r in results if r.function_id == "bizh120002"] == [
        (lost.value.journal_id, Status.OK)]
    client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": FEES})  # a new upload, once settled
    assert fee_rows(client, aaz218) == 2


def test_an_unresolved_opener_blocks_the_same_person_only(mock: MockServer, tmp_path: Path) -> None:
    mock.faults.add("http500", function_id="bizh120103", times=1)
    # A 1 s read timeout: recovery waits out the sender's answer window before "not committed".
    with Client(settings(mock, tmp_path / "journal.sqlite", read_timeout=1.0)) as client:
        with pytest.raises(OutcomeUnknownError) as lost:
            admit(client)
        with pytest.raises(UnresolvedEntryError, match=f"aac001 {IN_PERSON}.*journal entry {lost.value.journal_id}"):
            admit(client)
        admit(client, OTHER_PERSON)  # another person is another business
        recover(client)  # http500: not committed
        assert lost.value.journal_id is not None
        entry = client.journal.get(lost.value.journal_id)
        assert entry is not None and entry.status == Status.FAILED
        admit(client)


def test_the_guard_holds_across_processes(client: Client, mock: MockServer, tmp_path: Path) -> None:
    """Another process on the same journal file is refused too (one transaction: check + insert)."""
    aaz218 = admit(client)
    mock.faults.add("commit_then_drop", function_id="bizh120002", times=1)
    with pytest.raises(OutcomeUnknownError):
        client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": FEES})
    script = (
        "import sys, json\n"
        "from adapter.wire.client import Client\nfrom adapter.wire.config import Settings\n"
        "from adapter.errors import UnresolvedEntryError\n"
        "s = Settings(**json.loads(sys.argv[1]))\n"
        "with Client(s) as c:\n"
        "    try:\n"
        f"        c.call_wire('bizh120002', {{'aaz218': '{aaz218}', 'feeinfo': {FEES!r}}})\n"
        "    except UnresolvedEntryError as e:\n"
        "        print('REFUSED', e)\n"
    )
    config = {"base_url": mock.url, "userid": USERID, "password": PASSWORD, "akb020": AKB020,
              "journal_path": str(client.journal.path)}
    done = subprocess.run([sys.executable, "-c", script, json.dumps(config)], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.startswith("REFUSED"), done.stdout + done.stderr


# --------------------------------------------------------------------------- rule 2


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs, mounted for this test (needs root; CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the suite as root)")
    try:
        with tmpfs("2m", under=tmp_path) as mount_point:
            yield mount_point
    except OSError as exc:
        pytest.skip(str(exc))


def test_a_full_disk_after_sending_is_an_unknown_outcome_and_never_a_duplicate(
    mock: MockServer, small_disk: Path
) -> None:
    path = small_disk / "journal.sqlite"
    with Client(settings(mock, path)) as client:
        aaz218 = admit(client)
        rows = [{**FEES[0], "bka057": f"{n + 1}.00", "bka058": f"{3.125 * (n + 1):.2f}"} for n in range(300)]
        mock.faults.add("latency", function_id="bizh120002", times=1, ms=400)
        filling = fill_when_pending(path, "bizh120002", small_disk)
        with pytest.raises(OutcomeUnknownError) as lost:
            client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": rows})
        filling.join(timeout=10)
        assert lost.value.journal_id is not None
        assert "journal could not record" in str(lost.value)
        with pytest.raises(UnresolvedEntryError, match=f"journal entry {lost.value.journal_id}"):
            client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": rows})  # the HIS resends
        (small_disk / "filler").unlink()  # the operator frees the disk
        with pytest.raises(UnresolvedEntryError):
            client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": rows})  # still refused
        results = recover(client)  # this process no longer has the call in flight: taken at once
        [settled] = [r for r in results if r.entry_id == lost.value.journal_id]
        assert (settled.before, settled.after) == (Status.PENDING, Status.OK), settled.how
        assert fee_rows(client, aaz218) == 300  # once: ¥ billed once
        assert uploads(mock) == 1


def test_a_full_disk_before_sending_sends_nothing(mock: MockServer, small_disk: Path) -> None:
    path = small_disk / "journal.sqlite"
    with Client(settings(mock, path)) as client:
        aaz218 = admit(client)
        filler = fill(small_disk)
        with pytest.raises(Exception, match="nothing sent") as raised:
            client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": FEES})
        assert type(raised.value).__name__ == "JournalError"
        assert uploads(mock) == 0
        filler.unlink()
        client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": FEES})
        assert fee_rows(client, aaz218) == 1


# --------------------------------------------------------------------------- rule 4: not sent means retry


OPERATOR = Operator("T001", "测试操作员")


def fee_items(count: int) -> list[FeeItem]:
    """Distinct rows (own hospital fee id, own quantity), so a lost or doubled row shows."""
    return [FeeItem(item_code="XY0001", item_name="测试药品甲片", unit_price=Decimal("1.0000"),
                    quantity=Decimal(n + 1), amount=Decimal(n + 1).quantize(Decimal("0.01")),
                    fee_date=date(2019, 5, 8), hospital_fee_id=f"F{n:06d}", entered_by=OPERATOR)
            for n in range(count)]


def province_rows(mock: MockServer, aaz218: str) -> Counter[str]:
    """The stay's fee rows as the province holds them, by hospital fee id (bka071)."""
    stay = mock.province.snapshot()["stays"][aaz218]
    return Counter(str(row.get("bka071")) for row in stay["fees"])


@pytest.fixture
def proxied(mock: MockServer, tmp_path: Path) -> Iterator[tuple[DroppingProxy, Client]]:
    port = urlsplit(mock.url).port
    assert port is not None
    # Backoff 0.2 s: three resends span 1.4 s, well past the proxy's 0.3 s refusal. A 1.5 s read
    # timeout: how long a swallowed chunk is waited for.
    with DroppingProxy(port) as proxy, \
            Client(settings(proxy, tmp_path / "journal.sqlite", read_timeout=1.5, retry_backoff=0.2)) as client:
        yield proxy, client


def test_a_refused_connection_mid_upload_is_resent_not_compensated(
    mock: MockServer, proxied: tuple[DroppingProxy, Client]
) -> None:
    proxy, client = proxied
    aaz218 = admit(client)

    def blip(done: int, total: int) -> None:
        if done == 1500:  # after chunk 5 of 10: the next connect is refused for a moment
            proxy.refuse_for(0.3)

    upload = InpatientService(client).upload_fees(aaz218, fee_items(3000), progress=blip)
    assert (upload.rows, upload.calls) == (3000, 10)
    held = province_rows(mock, aaz218)
    assert len(held) == 3000 and set(held.values()) == {1}  # every row once
    assert uploads(mock) == 10 and not [r for r in mock.requests.records() if r.function_id == "bizh120004"]
    statuses = [e.status for e in client.journal.list(function_id="bizh120002", limit=100)]
    assert statuses.count(Status.OK) == 10 and Status.FAILED in statuses  # refused attempts: journaled


def test_an_unanswered_chunk_resumes_after_recovery_without_duplicates(
    mock: MockServer, proxied: tuple[DroppingProxy, Client]
) -> None:
    proxy, client = proxied
    aaz218 = admit(client)
    service = InpatientService(client)
    items = fee_items(3000)

    def drop(done: int, total: int) -> None:
        if done == 1500:  # chunk 6 is read by the proxy and dropped: never delivered, no answer
            proxy.swallow_next()

    with pytest.raises(OutcomeUnknownError) as lost:
        service.upload_fees(aaz218, items, progress=drop)
    assert "1500 of 3000 fee rows were saved" in "".join(lost.value.__notes__)
    assert proxy.swallowed == 1 and len(province_rows(mock, aaz218)) == 1500
    with pytest.raises(UnresolvedEntryError):
        service.upload_fees(aaz218, items)  # the unknown chunk must be settled first
    results = recover(client)
    assert [r.after for r in results if r.function_id == "bizh120002"] == [Status.FAILED]
    upload = service.upload_fees(aaz218, items)  # again, the same list: resumes at chunk 6
    assert (upload.rows, upload.calls) == (3000, 5)
    held = province_rows(mock, aaz218)
    assert len(held) == 3000 and set(held.values()) == {1}
    assert service.upload_fees(aaz218, items).calls == 0  # all saved: nothing is sent twice


# --------------------------------------------------------------------------- rule 5: bounded answers


def quick_settings(url: str, journal: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {"base_url": url, "userid": USERID, "password": PASSWORD, "akb020": AKB020,
                              "journal_path": str(journal), "retry_backoff": 0.05, **changes}
    return Settings(**values)


LOOKUP = {"bka895": "aac001", "bka896": IN_PERSON, "aka130": "42", "bka006": "420"}


def test_a_trickling_province_is_cut_at_the_call_deadline_retries_included(tmp_path: Path) -> None:
    with FakeProvince(trickle(0.2)) as province, \
            Client(quick_settings(province.url, tmp_path / "j.sqlite", read_timeout=1.0,
                                  call_deadline=1.5)) as client:
        started = time.monotonic()
        with pytest.raises(OutcomeUnknownError, match="deadline"):
            client.call_wire("bizh120001", LOOKUP)  # a query: retried, within the same deadline
        elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 0.5, elapsed  # deadline plus at most one trickle interval and slack


def test_an_oversized_answer_is_cut_at_the_limit_and_not_journaled(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    with FakeProvince(flood(200 * 1024 * 1024)) as province, \
            Client(quick_settings(province.url, journal, max_body_bytes=1024 * 1024, query_retries=0)) as client:
        before = peak_rss_kib()
        started = time.monotonic()
        with pytest.raises(OutcomeUnknownError, match="larger than the limit"):
            client.call_wire("bizh120001", LOOKUP)
        elapsed = time.monotonic() - started
        grown_mib = (peak_rss_kib() - before) / 1024
    assert elapsed < 5, elapsed
    assert grown_mib < 50, grown_mib  # a 200 MB answer read whole would add hundreds of MB
    assert journal.stat().st_size + wal_size(journal) < 2 * 1024 * 1024


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def wal_size(journal: Path) -> int:
    wal = journal.with_name(journal.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_the_journal_keeps_a_bounded_prefix_of_a_long_answer(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        entry_id = journal.begin("bizh120113", "query", "<program/>")
        answer = "<program>" + "x" * (BODY_LIMIT + 1000) + "</program>"
        journal.finish(entry_id, Status.UNKNOWN, response_xml=answer, message="unreadable")
        entry = journal.get(entry_id)
    assert entry is not None and entry.response_xml is not None
    assert len(entry.response_xml) == BODY_LIMIT
    assert entry.response_bytes == len(answer.encode())
    assert entry.response_sha256 == hashlib.sha256(answer.encode()).hexdigest()


# --------------------------------------------------------------------------- rule 3: owners, real processes

CHILD_UPLOAD = """
import json, sys
from adapter.wire.client import Client
from adapter.wire.config import Settings
config, aaz218, rows = json.loads(sys.argv[1])
with Client(Settings(**config)) as client:
    client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": rows})
"""


def wire_rows(count: int) -> list[dict[str, str]]:
    return [{**FEES[0], "bka057": f"{n + 1}.00", "bka058": f"{3.125 * (n + 1):.2f}", "bka071": f"F{n:06d}"}
            for n in range(count)]


def upload_in_a_child(mock: MockServer, journal: Path, aaz218: str, rows: list[dict[str, str]],
                      **changes: Any) -> subprocess.Popen[bytes]:
    config = {"base_url": mock.url, "userid": USERID, "password": PASSWORD, "akb020": AKB020,
              "journal_path": str(journal), **changes}
    return subprocess.Popen([sys.executable, "-c", CHILD_UPLOAD, json.dumps([config, aaz218, rows])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_pending(journal: Journal) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pending = journal.list(function_id="bizh120002", status=Status.PENDING)
        if pending:
            return pending[0].id
        time.sleep(0.01)
    raise AssertionError("the child never journaled its upload")


# The mock commits as the request arrives and answers after the latency: killed at once, the
# request may or may not have arrived; killed after 0.6 s, it was committed, the answer not yet back.
@pytest.mark.parametrize("kill_after", [0.0, 0.6])
def test_a_killed_process_entry_is_recovered_at_once(client: Client, mock: MockServer, kill_after: float) -> None:
    aaz218 = admit(client)
    rows = wire_rows(300)
    mock.faults.add("latency", function_id="bizh120002", times=1, ms=1000)
    child = upload_in_a_child(mock, client.journal.path, aaz218, rows, read_timeout=1.5)
    entry_id = wait_pending(client.journal)
    time.sleep(kill_after)
    child.send_signal(signal.SIGKILL)
    child.wait()
    entry = client.journal.get(entry_id)
    assert entry is not None and entry.status == Status.PENDING and entry.owner_pid == child.pid
    assert client.journal.owner_alive(entry) is False
    started = time.monotonic()
    [result] = [r for r in recover(client) if r.entry_id == entry_id]  # default stale_after: 10 min
    assert result.before == Status.PENDING and result.after in (Status.OK, Status.FAILED), result.how
    assert time.monotonic() - started < 5  # no stale timer: at once (at most the 1.5 s answer window)
    if result.after == Status.FAILED:
        client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": rows})
    held = [row.get("bka071") for row in mock.province.snapshot()["stays"][aaz218]["fees"]]
    assert sorted(held) == sorted(row["bka071"] for row in rows)  # every row once


def test_recover_never_touches_an_entry_whose_owner_runs(client: Client, mock: MockServer) -> None:
    aaz218 = admit(client)
    mock.faults.add("latency", function_id="bizh120002", times=1, ms=1500)
    child = upload_in_a_child(mock, client.journal.path, aaz218, wire_rows(300), read_timeout=10)
    entry_id = wait_pending(client.journal)
    assert [r for r in recover(client, stale_pending_after=timedelta(0)) if r.entry_id == entry_id] == []
    assert child.wait(timeout=30) == 0  # the live call finishes normally
    entry = client.journal.get(entry_id)
    assert entry is not None and entry.status == Status.OK


def test_a_live_answer_after_recovery_reconciles_instead_of_failing(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        agree = journal.begin("bizh120002", "state_changing", "<program/>", aaz218="1")
        journal.take_over(agree, "test")
        journal.resolve(agree, Status.OK, "committed: found")
        journal.finish(agree, Status.OK, response_xml="<program/>", return_code="1")
        disagree = journal.begin("bizh120002", "state_changing", "<program/>", aaz218="2")
        journal.take_over(disagree, "test")
        journal.resolve(disagree, Status.FAILED, "not committed: not found")
        journal.finish(disagree, Status.OK, response_xml="<program/>", return_code="1")
        first, second = journal.get(agree), journal.get(disagree)
    assert first is not None and first.status == Status.OK and "agrees" in (first.message or "")
    assert second is not None and second.status == Status.OK and "CONFLICT" in (second.message or "")
