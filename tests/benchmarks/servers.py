"""Servers under test, each in its own process on 127.0.0.1, started and stopped by the bench."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD, AKB020 = "ss0028", "mock-pass-1", "H44190000001"
TOKEN = "bench-gateway-token-0123456789abcdef"


@dataclass
class Running:
    url: str
    port: int
    process: subprocess.Popen[bytes]

    def peak_rss_mb(self) -> float:
        """The server process's own peak RSS (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _process(arguments: list[str], health_path: str, env: dict[str, str] | None = None) -> Iterator[Running]:
    port = free_port()
    command = [sys.executable, "-m", "adapter.cli", *arguments, "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url, health_path, arguments[0])
        yield Running(url, port, process)
    finally:
        process.terminate()
        process.wait(timeout=15)


@contextmanager
def mock() -> Iterator[Running]:
    """`gdwi mock serve`: one uvicorn worker, as an operator would run it."""
    with _process(["mock", "serve"], "/openapi.json") as running:
        yield running


@contextmanager
def floor(answer: Path) -> Iterator[Running]:
    """floors.py: uvicorn as the mock runs it, answering every request with `answer`'s bytes."""
    port = free_port()
    script = Path(__file__).resolve().parent / "floors.py"
    process = subprocess.Popen([sys.executable, str(script), str(port), str(answer)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url, "/", "floors.py")
        yield Running(url, port, process)
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_until_up(process: subprocess.Popen[bytes], url: str, health_path: str, name: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + health_path, timeout=0.5)
            return
        except httpx.HTTPError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start on {url}") from None
            time.sleep(0.05)


def client_env(mock_url: str, journal: Path) -> dict[str, str]:
    return {"GDWI_BASE_URL": mock_url, "GDWI_USERID": USER, "GDWI_PASSWORD": PASSWORD,
            "GDWI_AKB020": AKB020, "GDWI_JOURNAL": str(journal)}


@contextmanager
def gateway(mock_url: str, journal: Path) -> Iterator[Running]:
    """`gdwi gateway serve` in front of the mock, journaling to `journal`."""
    env = {**client_env(mock_url, journal), "GDWI_GATEWAY_TOKEN": TOKEN}
    with _process(["gateway", "serve"], "/openapi.json", env) as running:
        yield running
