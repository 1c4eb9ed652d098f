"""Concurrent callers over keep-alive connections: calls/s, p50/p99 latency, errors.

A bare asyncio HTTP/1.1 client: a full HTTP client costs more CPU per call than the servers
do, and would measure itself instead of them.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Load:
    callers: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def calls_per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")

    def describe(self) -> str:
        return (f"{self.callers} callers: {self.calls_per_second:,.0f} calls/s, p50 {self.p50:.2f} ms, "
                f"p99 {self.p99:.2f} ms, errors {self.errors}")


def request_bytes(path: str, body: bytes, content_type: str, extra: str = "") -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"{extra}Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _caller(port: int, request: bytes, success: bytes, deadline: float, load: Load) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200") or success not in body:
                load.errors += 1
            load.latencies_ms.append((time.perf_counter() - started) * 1000)
    finally:
        writer.close()


async def _run(port: int, request: bytes, success: bytes, seconds: float, callers: int) -> Load:
    load = Load(callers)
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_caller(port, request, success, deadline, load) for _ in range(callers)))
    load.seconds = time.perf_counter() - started
    return load


def run(port: int, request: bytes, success: bytes, *, seconds: float, callers: int) -> Load:
    """`callers` connections sending `request` until `seconds` pass; `success` must be in each answer."""
    return asyncio.run(_run(port, request, success, seconds, callers))
