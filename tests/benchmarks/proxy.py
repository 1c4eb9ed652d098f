"""The proxy's cost: latency it adds to one call, and calls per second through one proxy process.

    python tests/benchmarks/proxy.py        # alone: prints the figures
    figures(scratch)                        # from make bench: (figures, notes)

Everything runs in processes of its own on 127.0.0.1: the mock province (`gdwi mock serve`), the
proxy (`gdwi proxy serve`, journal on disk in `scratch`), and for throughput a canned upstream
that answers every POST with one fixed answer, so the figure measures the proxy and not the
mock. This process is the HIS: http.client for latency (as tests/string_his.py), a bare asyncio
client for load.

Interleaved, because the machine is shared and noisy: latency alternates A (HIS -> proxy ->
mock) and B (HIS -> mock) call by call in batches; each batch is a pair, its added latency is
median(A) - median(B) and its ratio median(A) / median(B). Throughput alternates A (load
through the proxy) and B (the same load straight at the canned upstream) run by run. Each
figure is the median over the pairs, with min-max.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATH = "/hygeia_esb_sj/api/call.action"
USER, PASSWORD, AKB020 = "ss0028", "mock-pass-1", "H44190000001"
PAIRS = 7
BATCH = 60
LOAD_SECONDS = 2.0
CALLERS = 8
ADDED_GOAL_MS = 1.0
THROUGHPUT_GOAL = 1000.0


@dataclass
class Figure:
    """One measured figure: median over pairs, min-max, the goal, what it was compared with."""

    name: str
    values: list[float]
    unit: str
    goal: float
    baseline: str
    at_least: bool = False

    @property
    def value(self) -> float:
        return statistics.median(self.values)

    @property
    def passed(self) -> bool:
        return self.value >= self.goal if self.at_least else self.value <= self.goal

    def line(self) -> str:
        sign = ">=" if self.at_least else "<="
        verdict = "PASS" if self.passed else "MISS"
        return (f"bench {self.name}: {self.value:.3g} {self.unit} (goal {sign} {self.goal:g}) {verdict}  "
                f"[min-max {min(self.values):.3g}-{max(self.values):.3g} over {len(self.values)} pairs; "
                f"{self.baseline}]")


# --------------------------------------------------------------------------- processes


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _process(arguments: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, *arguments], cwd=ROOT, env=dict(os.environ),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{arguments} did not start on port {port}") from None
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=15)


@contextmanager
def mock() -> Iterator[int]:
    port = _free_port()
    with _process(["-m", "adapter.cli", "mock", "serve", "--host", "127.0.0.1", "--port", str(port)], port):
        yield port


@contextmanager
def proxy(upstream_port: int, journal: Path) -> Iterator[int]:
    port = _free_port()
    arguments = ["-m", "adapter.cli", "proxy", "serve", "--upstream", f"http://127.0.0.1:{upstream_port}",
                 "--listen", f"127.0.0.1:{port}", "--db", str(journal)]
    with _process(arguments, port):
        yield port


CANNED_SERVER = """
import asyncio, sys
ANSWER = sys.argv[2].encode()
HEAD = b"HTTP/1.1 200 OK\\r\\nContent-Type: text/xml; charset=utf-8\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(ANSWER)
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\\r\\n")[0])
            await reader.readexactly(length)
            writer.write(HEAD + ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
asyncio.run(main())
"""


@contextmanager
def canned(answer: bytes) -> Iterator[int]:
    """An upstream that costs almost nothing: one fixed answer to every POST."""
    port = _free_port()
    with _process(["-c", CANNED_SERVER, str(port), answer.decode()], port):
        yield port


# --------------------------------------------------------------------------- the HIS side


def _tag(code: str, value: str) -> str:
    return f"<{code}>{value}</{code}>"


def login_body() -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><program>' + _tag("function_id", "sys0001")
            + _tag("userid", USER) + _tag("password", PASSWORD) + "</program>").encode()


def lookup_body(session_id: str) -> bytes:
    fields = {"session_id": session_id, "function_id": "bizh120001", "akb020": AKB020, "bka895": "aac001",
              "bka896": "1000000002", "aka130": "42", "bka006": "420"}
    return ('<?xml version="1.0" encoding="utf-8"?><program>'
            + "".join(_tag(code, value) for code, value in fields.items()) + "</program>").encode()


@dataclass
class His:
    port: int
    connection: http.client.HTTPConnection = field(init=False)

    def __post_init__(self) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def post(self, body: bytes) -> bytes:
        self.connection.request("POST", PATH, body=body, headers={"Content-Type": "text/xml; charset=utf-8"})
        return self.connection.getresponse().read()

    def login(self) -> str:
        found = re.search(rb"<session_id>(.*?)</session_id>", self.post(login_body()))
        if found is None:
            raise RuntimeError("the mock refused the bench login")
        return found.group(1).decode()


def _timed_ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


# --------------------------------------------------------------------------- load


async def _caller(port: int, request: bytes, deadline: float, done: list[int], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200") or b"<return_code>1</return_code>" not in body:
                errors.append(1)
            done.append(1)
    finally:
        writer.close()


async def _load(port: int, request: bytes, seconds: float, callers: int) -> tuple[float, int]:
    done: list[int] = []
    errors: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(*(_caller(port, request, started + seconds, done, errors) for _ in range(callers)))
    return len(done) / (time.perf_counter() - started), len(errors)


def calls_per_second(port: int, body: bytes, seconds: float = LOAD_SECONDS, callers: int = CALLERS) -> tuple[float, int]:
    request = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    return asyncio.run(_load(port, request, seconds, callers))


# --------------------------------------------------------------------------- the figures


def added_latency(scratch: Path, pairs: int = PAIRS, batch: int = BATCH) -> tuple[list[Figure], list[str]]:
    """A call through the proxy against the same call straight to the mock, alternating."""
    with mock() as mock_port, proxy(mock_port, scratch / "latency-journal.sqlite") as proxy_port:
        through, direct = His(proxy_port), His(mock_port)
        body = lookup_body(through.login())
        for _ in range(20):  # warm both paths (connections, caches)
            through.post(body)
            direct.post(body)
        added, ratios, a_all, b_all = [], [], [], []
        for index in range(pairs):
            a_times, b_times = [], []
            for _ in range(batch):
                order = ((a_times, through), (b_times, direct))
                for times, his in order if index % 2 == 0 else reversed(order):
                    times.append(_timed_ms(lambda his=his: his.post(body)))
            added.append(statistics.median(a_times) - statistics.median(b_times))
            ratios.append(statistics.median(a_times) / statistics.median(b_times))
            a_all += a_times
            b_all += b_times
    baseline = f"HIS -> mock direct p50 {statistics.median(b_all):.3g} ms, through the proxy {statistics.median(a_all):.3g} ms"
    figures = [
        Figure("proxy added latency p50 (bizh120001)", added, "ms", ADDED_GOAL_MS, baseline),
    ]
    notes = [f"proxy latency ratio (through / direct): median {statistics.median(ratios):.3g}x, "
             f"min-max {min(ratios):.3g}-{max(ratios):.3g} over {pairs} pairs of {batch} calls each"]
    return figures, notes


def throughput(scratch: Path, pairs: int = 5) -> tuple[list[Figure], list[str]]:
    """Calls/s through one proxy process to a canned upstream, against the canned upstream alone."""
    with mock() as mock_port:
        answer = His(mock_port).post(lookup_body(His(mock_port).login()))
    body = lookup_body("0a9c782c-d375-4780-a377-ed506ec0cfce")
    with canned(answer) as upstream_port, proxy(upstream_port, scratch / "load-journal.sqlite") as proxy_port:
        calls_per_second(proxy_port, body, 0.5)  # warm
        through, direct, errors = [], [], 0
        for index in range(pairs):
            runs = [(through, proxy_port), (direct, upstream_port)]
            for values, port in runs if index % 2 == 0 else reversed(runs):
                rate, failed = calls_per_second(port, body)
                values.append(rate)
                errors += failed
    baseline = f"the canned upstream alone: {statistics.median(direct):,.0f} calls/s; {CALLERS} callers; errors {errors}"
    figures = [Figure("proxy throughput (one process, journal on disk)", through, "calls/s",
                      THROUGHPUT_GOAL, baseline, at_least=True)]
    return figures, []


def figures(scratch: Path) -> tuple[list[Figure], list[str]]:
    latency, latency_notes = added_latency(scratch)
    rate, rate_notes = throughput(scratch)
    return latency + rate, latency_notes + rate_notes


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gdwi-proxy-bench-") as scratch:
        measured, notes = figures(Path(scratch))
    for figure in measured:
        print(figure.line())
    for note in notes:
        print(f"  {note}")
    return 0 if all(figure.passed for figure in measured) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
