"""Serve the gateway with uvicorn: in the foreground (`gdwi gateway serve`) or in a thread (tests).

    with GatewayServer(create_gateway(client, token=token)) as server:   # 127.0.0.1, a free port
        httpx.post(server.url + "/inpatient/lookup", ...)

uvicorn's h11 protocol, like the mock (decisions.md D13): no extra C dependency. Lifespan is off:
the app has no startup work (the client logs in on first use).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

__all__ = ["LOCALHOST", "GatewayServer", "is_loopback", "serve"]

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


def _config(app: ASGIApp, host: str, port: int, *, quiet: bool) -> uvicorn.Config:
    # Quiet (tests, threads): leave the host process's logging alone and log no requests.
    options: dict[str, Any] = {"log_config": None} if quiet else {}
    return uvicorn.Config(
        app, host=host, port=port, http="h11", lifespan="off", access_log=not quiet,
        log_level="warning" if quiet else "info", timeout_graceful_shutdown=5, server_header=False,
        **options,
    )


def serve(app: ASGIApp, host: str = LOCALHOST, port: int = 8090) -> None:
    """Run until Ctrl+C (the `gdwi gateway serve` command)."""
    uvicorn.Server(_config(app, host, port, quiet=False)).run()


class GatewayServer:
    """The gateway on a real socket, served by uvicorn in a background thread."""

    def __init__(self, app: ASGIApp, *, host: str = LOCALHOST, port: int = 0) -> None:
        # Bound before uvicorn starts, so the port (a free one for port 0) is known up front.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self.host, self.port = self._socket.getsockname()[:2]
        self._server = uvicorn.Server(_config(app, host, port, quiet=True))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> GatewayServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("GatewayServer already started")
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="gdwi-gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gateway did not start on {self.url}")
            time.sleep(0.002)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
            self._thread = None
        self._socket.close()
