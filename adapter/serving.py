"""uvicorn in a background thread on a socket bound up front: the mock and the gateway.

Binding before uvicorn starts makes the port (a free one for port 0) known at once, so tests
and the demo can hand out the URL before the first request.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

import uvicorn

LOCALHOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.x, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class BackgroundServer(ABC):
    """A server on a socket bound up front, run on a thread: `with` starts and stops it."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class ThreadedServer(BackgroundServer):
    """uvicorn on a thread. Start with `with`, or start()/stop(); `url` is ready before the first request."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket, *, name: str) -> None:
        self._socket = sock
        self.host, self.port = sock.getsockname()[:2]
        self._server = uvicorn.Server(config)
        self._name = name
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self._name} already started")
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=self._name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self._name} did not start on {self.url}")
            time.sleep(0.002)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
            self._thread = None
        self._socket.close()  # uvicorn closes it too; closing twice is harmless
