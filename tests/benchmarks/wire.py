"""Wire figures: the client, the mock and the gateway, each server in its own process (run.py).

`python tests/benchmarks/wire.py upload N` runs the N-row upload in its own process and
prints `seconds peak_rss_mb`, so the peak RSS belongs to that run alone.
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402
import servers  # noqa: E402
from measure import Spread, interleave, timed_ms  # noqa: E402
from peer import Peer  # noqa: E402
from report import Figure  # noqa: E402
from servers import AKB020, PASSWORD, TOKEN, USER, Running  # noqa: E402

from adapter.mock.server import MockServer  # noqa: E402
from adapter.wire.client import Client  # noqa: E402
from adapter.wire.codec import encode  # noqa: E402
from adapter.wire.config import Settings  # noqa: E402
from generated.registry import SPEC  # noqa: E402

LOOKUP = {"akb020": AKB020, "bka895": "aac002", "bka896": "44190019900101001X", "bka006": "410"}
ROW = {"ake005": "XY0001", "ake006": "测试药品甲片", "bka056": "3.1250", "bka057": "4.00",
       "bka058": "12.50", "bka051": "20190508", "bka063": "T001", "bka064": "测试操作员"}
# Seeded catalogue items (code, name, unit price, quantity, amount): rows that differ, as real ones do.
ITEMS = [("XY0001", "测试药品甲片", "3.1250", "4.00", "12.50"),
         ("HY0001", "测试血常规", "25.0000", "1.00", "25.00"),
         ("CW0001", "测试床位费", "45.0000", "1.00", "45.00"),
         ("XY0002", "测试药品乙注射液", "12.8000", "2.00", "25.60"),
         ("Z0001", "测试诊疗项目", "20.0000", "3.00", "60.00")]


def fee_rows(count: int) -> list[dict[str, str]]:
    rows = []
    for index in range(count):
        code, name, price, quantity, amount = ITEMS[index % len(ITEMS)]
        rows.append({"ake005": code, "ake006": name, "bka056": price, "bka057": quantity, "bka058": amount,
                     "bka051": f"201905{8 + index % 20:02d}", "bka063": "T001", "bka064": "测试操作员"})
    return rows


def admission(person: str) -> dict[str, str]:
    return {"aka130": "42", "bka006": "420", "aac001": person, "bka017": "20190508",
            "bka014": "T001", "bka015": "测试操作员", "bka026": "S62.501"}


def settings(url: str, journal: Path) -> Settings:
    return Settings(base_url=url, userid=USER, password=PASSWORD, akb020=AKB020, journal_path=str(journal))


# --------------------------------------------------------------------------- the client


def client_figures(mock: Running, scratch: Path) -> list[Figure]:
    """The full client path against its floors, each pair interleaved on the same mock."""
    url = mock.url + SPEC.path
    with Client(settings(mock.url, scratch / "client.sqlite")) as client, httpx.Client() as http:
        client.call_wire("bizh110001", LOOKUP)
        session_id = client.session.get()
        lookup_body = encode("bizh110001", "request", LOOKUP, session_id=session_id)
        read_only = interleave(lambda: client.call_wire("bizh110001", LOOKUP),
                               lambda: http.post(url, content=lookup_body).content)

        aaz218 = client.call_wire("bizh120103", admission("1000000002"))["aaz218"]
        clear = lambda: client.call_wire("bizh120004", {"aaz218": aaz218})  # noqa: E731
        one_row = {"aaz218": aaz218, "feeinfo": fee_rows(1)}
        one_row_body = encode("bizh120002", "request", {"akb020": AKB020, **one_row}, session_id=session_id)
        sink = os.open(scratch / "fsync-floor", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        state_changing = interleave(
            lambda: client.call_wire("bizh120002", one_row),
            lambda: (http.post(url, content=one_row_body).content, _write_fsync(sink, one_row_body)),
            between=clear,
        )
        os.close(sink)

        rows = fee_rows(300)
        peer = Peer(mock.port, USER, PASSWORD)
        upload = interleave(lambda: client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": rows}),
                            lambda: peer.upload_fees(AKB020, aaz218, rows), batch=15, between=clear)
        peer.close()
        bytes_per_entry = _journal_bytes_per_upload(mock, scratch, aaz218, rows)
    raw_ms, floor_ms, peer_ms = read_only.b_median, state_changing.b_median, upload.b_median
    return [
        Figure.ratio("fee_upload_300_rows_vs_peer", upload, 1.2,
                     f"peer script (f-strings + http.client) median {peer_ms:.2f} ms"),
        Figure.ratio("read_only_call_vs_raw_post", read_only, 1.25,
                     f"raw httpx POST of prebuilt bytes median {raw_ms:.2f} ms"),
        Figure.ratio("state_changing_call_vs_raw_post_fsync", state_changing, 1.25,
                     f"raw POST + one fsync of the body's size median {floor_ms:.2f} ms"),
        Figure("journal_bytes_per_300_row_upload", bytes_per_entry, "B", 16384,
               "file growth per entry, WAL checkpointed"),
    ]


def _write_fsync(descriptor: int, data: bytes) -> None:
    os.write(descriptor, data)
    os.fsync(descriptor)


def _journal_bytes_per_upload(mock: Running, scratch: Path, aaz218: str, rows: list[dict[str, str]]) -> float:
    """How much a fresh journal file grows per 300-row upload (entry, answer and indexes)."""
    import sqlite3

    path = scratch / "bytes.sqlite"
    uploads = 20
    with Client(settings(mock.url, path)) as client:
        client.call_wire("bizh110001", LOOKUP)
        _checkpoint(path)
        before = path.stat().st_size
        for _ in range(uploads):
            client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": rows})
        client.call_wire("bizh120004", {"aaz218": aaz218})
    _checkpoint(path)
    with sqlite3.connect(path) as connection:
        free = connection.execute("PRAGMA freelist_count").fetchone()[0]
        page = connection.execute("PRAGMA page_size").fetchone()[0]
    return (path.stat().st_size - free * page - before) / (uploads + 1)


def _checkpoint(path: Path) -> None:
    import sqlite3

    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


# --------------------------------------------------------------------------- the mock


def lookup_request(mock: Running) -> bytes:
    with httpx.Client() as http:
        login = encode("sys0001", "request", {"userid": USER, "password": PASSWORD})
        answer = http.post(mock.url + SPEC.path, content=login).text
    session_id = answer.split("<session_id>")[1].split("</session_id>")[0]
    body = encode("bizh110001", "request", LOOKUP, session_id=session_id)
    return load.request_bytes(SPEC.path, body, SPEC.content_type)


def mock_figures(mock: Running, scratch: Path) -> tuple[list[Figure], list[str]]:
    request = lookup_request(mock)
    success = b"<return_code>1</return_code>"
    answer = scratch / "lookup-answer.xml"
    answer.write_bytes(httpx.post(mock.url + SPEC.path, content=request.split(b"\r\n\r\n", 1)[1]).content)
    windows, floor = Spread(), Spread()
    with servers.floor(answer) as fixed:  # interleaved windows: the mock, then the bare HTTP stack
        for _ in range(5):
            windows.values.append(load.run(mock.port, request, success, seconds=1.0, callers=8).calls_per_second)
            floor.values.append(load.run(fixed.port, request, success, seconds=1.0, callers=8).calls_per_second)
    scale = [load.run(mock.port, request, success, seconds=3.0, callers=callers) for callers in (8, 64)]
    figures = [
        Figure.of("mock_throughput_bizh110001", windows, "calls/s", 4000,
                  "one uvicorn worker, 8 keep-alive callers, 1 s windows; the same uvicorn answering fixed "
                  f"bytes: {floor.median:,.0f} calls/s (min-max {floor.low:,.0f}-{floor.high:,.0f})",
                  at_least=True),
        *(Figure(f"mock_{s.callers}_callers_errors", s.errors, "errors", 0, s.describe()) for s in scale),
    ]
    return figures, [f"mock bizh110001, {s.describe()}" for s in scale]


# --------------------------------------------------------------------------- the gateway


def _gateway_post(connection: http.client.HTTPConnection, path: str, data: object) -> Any:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    connection.request("POST", path, json.dumps(data, ensure_ascii=False).encode(), headers)
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200, body[:300]
    return json.loads(body)


def gateway_figures(mock: Running, scratch: Path) -> tuple[list[Figure], list[str]]:
    """The gateway (own process) vs calling the mock directly with the client (this process)."""
    with servers.gateway(mock.url, scratch / "gateway.sqlite") as gateway, \
            Client(settings(mock.url, scratch / "direct.sqlite")) as client:
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port)
        path = "/functions/bizh110001"
        latency = interleave(lambda: _gateway_post(connection, path, LOOKUP),
                             lambda: client.call_wire("bizh110001", LOOKUP))
        connection.close()
        body = json.dumps(LOOKUP).encode()
        request = load.request_bytes(path, body, "application/json", f"Authorization: Bearer {TOKEN}\r\n")
        success = b'"return_code":'
        throughput = Spread()
        for _ in range(5):
            through_gateway = load.run(gateway.port, request, success, seconds=1.0, callers=8)
            direct = _direct_calls_per_second(client, callers=8, seconds=1.0)
            throughput.values.append(through_gateway.calls_per_second / direct)
        scale = [load.run(gateway.port, request, success, seconds=3.0, callers=c) for c in (8, 64)]
    figures = [
        Figure.ratio("gateway_p50_vs_direct", latency, 1.25,
                     f"client.call_wire direct median {latency.b_median:.2f} ms"),
        Figure.of("gateway_throughput_8_callers_vs_direct", throughput, "x", 0.8,
                  "8 callers: gateway calls/s over 8 threads sharing one Client, interleaved 1 s windows",
                  at_least=True),
        *(Figure(f"gateway_{s.callers}_callers_errors", s.errors, "errors", 0, s.describe()) for s in scale),
    ]
    return figures, [f"gateway /functions/bizh110001, {s.describe()}" for s in scale]


def _direct_calls_per_second(client: Client, *, callers: int, seconds: float) -> float:
    counts = [0] * callers
    deadline = time.perf_counter() + seconds

    def caller(index: int) -> None:
        while time.perf_counter() < deadline:
            client.call_wire("bizh110001", LOOKUP)
            counts[index] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def big_stay_figures(scratch: Path, rows: int = 10_000) -> tuple[list[Figure], list[str]]:
    """A 10,000-row stay end to end through the gateway: admit, upload, list; peak RSS of each server."""
    with servers.mock() as mock, servers.gateway(mock.url, scratch / "stay.sqlite") as gateway:
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port)
        stay = {"person_no": "1000000006", "admission_date": "2019-05-08",
                "diagnosis": {"icd_code": "S62.501", "name": "掌骨骨折"}, "hospital_stay_no": "ZY20190001",
                "ward": {"code": "W03", "name": "骨科病区"}, "department": {"code": "0301", "name": "骨科"},
                "bed_no": "12", "bed_type": "1", "doctor_code": "D0001"}
        operator = {"code": "T001", "name": "测试操作员"}
        visit = _gateway_post(connection, "/inpatient/admit", {"stay": stay, "operator": operator})["visit_no"]
        fees = []
        for index in range(rows):
            code, name, price, quantity, amount = ITEMS[index % len(ITEMS)]
            fees.append({"item_code": code, "item_name": name, "unit_price": price, "quantity": quantity,
                         "amount": amount, "fee_date": "2019-05-08", "hospital_fee_id": f"F{index:06d}",
                         "entered_by": operator})
        upload_ms = timed_ms(lambda: _gateway_post(connection, f"/inpatient/{visit}/fees", {"fees": fees}))
        connection.request("GET", f"/inpatient/{visit}/fees", headers={"Authorization": f"Bearer {TOKEN}"})
        listed = json.loads(connection.getresponse().read())
        assert len(listed["lines"]) == rows, len(listed["lines"])
        connection.close()
        gateway_mb, mock_mb = gateway.peak_rss_mb(), mock.peak_rss_mb()
    figures = [Figure("stay_10000_rows_gateway_peak_rss", gateway_mb, "MB", 200,
                      f"upload {upload_ms / 1000:.2f} s through the gateway; mock peak {mock_mb:.0f} MB")]
    return figures, [f"10,000-row stay through the gateway: upload {upload_ms / 1000:.2f} s, "
                     f"gateway peak RSS {gateway_mb:.0f} MB, mock peak RSS {mock_mb:.0f} MB"]


# --------------------------------------------------------------------------- a big upload, in-process


def upload(rows: int) -> tuple[float, float]:
    """(seconds, peak RSS MB) of admitting a stay and uploading `rows` fee rows end to end."""
    with tempfile.TemporaryDirectory() as scratch, MockServer() as server, Client(
        settings(server.url, Path(scratch) / "j.sqlite")
    ) as client:
        aaz218 = client.call_wire("bizh120103", admission("1000000002"))["aaz218"]
        cap = SPEC.fee_rows_per_call
        started = time.perf_counter()
        for start in range(0, rows, cap):
            chunk = [ROW] * min(cap, rows - start)
            client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": chunk})
        elapsed = time.perf_counter() - started
    return elapsed, peak_rss_mb()


def peak_rss_mb() -> float:
    """This process's own peak RSS.

    VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec, so a child started from a big
    test process would report its parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    if sys.argv[1:2] == ["upload"]:
        seconds, peak = upload(int(sys.argv[2]))
        print(f"{seconds} {peak}")
