"""Wire benchmarks against the mock province on 127.0.0.1 (called by run.py).

`python tests/benchmarks/wire.py upload N` runs the N-row upload in its own process and
prints `seconds peak_rss_mb`, so the peak RSS belongs to that run alone.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from adapter.mock.server import MockServer  # noqa: E402
from adapter.wire.client import Client  # noqa: E402
from adapter.wire.codec import decode, encode  # noqa: E402
from adapter.wire.config import Settings  # noqa: E402
from generated.registry import SPEC  # noqa: E402

USER, PASSWORD, AKB020 = "ss0028", "mock-pass-1", "H44190000001"
LOOKUP = {"akb020": AKB020, "bka895": "aac002", "bka896": "44190019900101001X", "bka006": "410"}
ROW = {"ake005": "XY0001", "ake006": "测试药品甲片", "bka056": "3.1250", "bka057": "4.00",
       "bka058": "12.50", "bka051": "20190508", "bka063": "T001", "bka064": "测试操作员"}


def settings(url: str, journal: Path) -> Settings:
    return Settings(base_url=url, userid=USER, password=PASSWORD, akb020=AKB020,
                    journal_path=str(journal))


def login(http: httpx.Client, url: str) -> str:
    body = encode("sys0001", "request", {"userid": USER, "password": PASSWORD})
    answer = decode(http.post(url, content=body).content, "sys0001", "response")
    return str(answer.values["session_id"])


def median_ms(action: object, rounds: int) -> float:
    assert callable(action)
    for _ in range(20):
        action()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def client_overhead(rounds: int = 300) -> tuple[float, float]:
    """(median ms of Client.call_wire, median ms of a raw httpx POST of prebuilt bytes)."""
    with tempfile.TemporaryDirectory() as scratch, MockServer() as server:
        url = server.url + SPEC.path
        with httpx.Client() as http:
            body = encode("bizh110001", "request", LOOKUP, session_id=login(http, url))
            raw = median_ms(lambda: http.post(url, content=body).content, rounds)
        with Client(settings(server.url, Path(scratch) / "j.sqlite")) as client:
            full = median_ms(lambda: client.call_wire("bizh110001", LOOKUP), rounds)
    return full, raw


@contextmanager
def mock_process() -> Iterator[str]:
    """The mock in its own process (one uvicorn worker), so the load generator does not share its GIL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "adapter.cli", "mock", "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/openapi.json", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _connection(port: int, request: bytes, deadline: float) -> int:
    """One keep-alive connection sending the same request until the deadline.

    A bare asyncio client: a full HTTP client costs more CPU per call than the mock does,
    and would measure itself instead of the server.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
            assert b"<return_code>1</return_code>" in body, body[:200]
            done += 1
    finally:
        writer.close()
    return done


async def _load(url: str, body: bytes, seconds: float, concurrency: int) -> int:
    parsed = httpx.URL(url)
    request = (
        f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: {SPEC.content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    deadline = time.perf_counter() + seconds
    port = parsed.port or 80
    counts = await asyncio.gather(*(_connection(port, request, deadline) for _ in range(concurrency)))
    return sum(counts)


def mock_throughput(seconds: float = 3.0, concurrency: int = 8) -> float:
    """bizh110001 calls per second answered by one mock worker over loopback."""
    with mock_process() as base, httpx.Client() as http:
        url = base + SPEC.path
        body = encode("bizh110001", "request", LOOKUP, session_id=login(http, url))
        started = time.perf_counter()
        done = asyncio.run(_load(url, body, seconds, concurrency))
        return done / (time.perf_counter() - started)


def upload(rows: int) -> tuple[float, float]:
    """(seconds, peak RSS MB) of admitting a stay and uploading `rows` fee rows end to end."""
    journal_dir = tempfile.TemporaryDirectory()
    with journal_dir as scratch, MockServer() as server, Client(
        settings(server.url, Path(scratch) / "j.sqlite")
    ) as client:
        admission = {"aka130": "42", "bka006": "420", "aac001": "1000000002", "bka017": "20190508",
                     "bka014": "T001", "bka015": "测试操作员", "bka026": "S62.501"}
        aaz218 = client.call_wire("bizh120103", admission)["aaz218"]
        cap = SPEC.fee_rows_per_call
        started = time.perf_counter()
        for start in range(0, rows, cap):
            chunk = [ROW] * min(cap, rows - start)
            client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": chunk})
        elapsed = time.perf_counter() - started
    peak_mb = peak_rss_mb()
    return elapsed, peak_mb


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
