"""Real processes and real disks, shared by the tests and the reliability benchmark.

A mock provincial server in a process of its own (so its memory and its death are its own), a
tmpfs that really fills up, and the moment a call is at the province (journaled as pending).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from adapter.wire.journal import Journal, Status
from generated.registry import SPEC

ROOT = Path(__file__).resolve().parents[1]

# 4.6 MB: one element with 300,000 attributes, which a parser would turn into ~100 MB of tree.
ATTRIBUTE_FLOOD = (b'<?xml version="1.0" encoding="utf-8"?><program><session_id>s</session_id>'
                   b"<function_id>bizh120001</function_id><akb020 "
                   + b" ".join(b'at%d="12"' % n for n in range(300_000))
                   + b">H44190000001</akb020></program>")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class MockProcess:
    process: subprocess.Popen[str]
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + SPEC.path


def _serving(base: str) -> bool:
    try:
        httpx.get(base + "/openapi.json", timeout=1)
    except httpx.HTTPError:
        return False
    return True


@contextmanager
def mock_process(*options: str, env: dict[str, str] | None = None, output: int | IO[Any] = subprocess.DEVNULL,
                 ready: Callable[[str], bool] = _serving, timeout: float = 20) -> Iterator[MockProcess]:
    """`gdwi mock serve` on a free port; yields once it answers, terminates it afterwards."""
    port = free_port()
    command = [sys.executable, "-m", "adapter.cli", "mock", "serve", "--port", str(port), *options]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=output, text=True)
    mock = MockProcess(process, port)
    try:
        deadline = time.monotonic() + timeout
        while not ready(mock.base):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the mock did not start (exit {process.poll()})")
            time.sleep(0.05)
        yield mock
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)


def peak_rss_kb(pid: int) -> int:
    """VmHWM: the most resident memory the process has had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for {pid}")


@contextmanager
def tmpfs(size: str = "2m", under: Path | None = None) -> Iterator[Path]:
    """A real tmpfs of `size`, mounted for the block (needs root; CI runs as root)."""
    mount_point = Path(tempfile.mkdtemp(prefix="gdwi-small-", dir=under))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        raise OSError(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(folder: Path) -> Path:
    """Write zeros until the file system is full; returns the filler file."""
    filler = folder / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


def wait_pending(journal: Path, function_id: str, timeout: float = 20) -> None:
    """Until a call of `function_id` is journaled as pending: it is on its way to the province."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with Journal(journal) as reader:
            if reader.list(function_id=function_id, status=Status.PENDING):
                return
        time.sleep(0.005)
    raise AssertionError(f"no pending {function_id} in the journal after {timeout} s")


def fill_when_pending(journal: Path, function_id: str, folder: Path) -> threading.Thread:
    """Fill the disk once the call is journaled as pending (i.e. while it is at the province)."""
    def watch() -> None:
        wait_pending(journal, function_id, timeout=10)
        fill(folder)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread
