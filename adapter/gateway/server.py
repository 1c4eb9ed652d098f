"""Serve the gateway with uvicorn: in the foreground (`gdwi gateway serve`) or in a thread (tests).

    with GatewayServer(create_gateway(client, token=token)) as server:   # 127.0.0.1, a free port
        httpx.post(server.url + "/inpatient/lookup", ...)

uvicorn's httptools protocol, like the mock (the C parser; h11 parsed each request in Python,
decisions D61). Lifespan is on: at start the app checks the province login and the journal once
and logs one line (health.py).
"""

from __future__ import annotations

import logging
import signal

import uvicorn
from starlette.types import ASGIApp

from adapter.serving import LOCALHOST, ThreadedServer, bind, is_loopback

__all__ = ["LOCALHOST", "GatewayServer", "is_loopback", "serve"]



class PathOnly(logging.Filter):
    """Access lines name the path without its query string: a HIS that puts the token (or a
    citizen ID) into the URL must not have it written to the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn's access record: (client, method, path with query, http version, status)
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def _config(app: ASGIApp, host: str, port: int, *, quiet: bool) -> uvicorn.Config:
    # Quiet (tests, threads): log no requests. Either way uvicorn configures no handlers of its own
    # (log_config=None): its records reach the root logger, in the one format of adapter/logs.py.
    config = uvicorn.Config(
        app, host=host, port=port, http="httptools", lifespan="on", access_log=not quiet,
        log_level="warning" if quiet else "info", timeout_graceful_shutdown=5, server_header=False,
        log_config=None,
    )
    access = logging.getLogger("uvicorn.access")  # configured by uvicorn.Config just above
    if not any(isinstance(existing, PathOnly) for existing in access.filters):
        access.addFilter(PathOnly())
    return config


def serve(app: ASGIApp, host: str = LOCALHOST, port: int = 8090) -> None:
    """Run until Ctrl+C or SIGTERM (the `gdwi gateway serve` command).

    After its graceful shutdown uvicorn raises the signal again under the handler it found; for
    SIGTERM that handler is ours and raises SystemExit (exit status 143, as for SIGTERM), so the
    caller's clean-up still runs: the node says goodbye, the journal is closed. Python's default
    would end the process at once."""
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        uvicorn.Server(_config(app, host, port, quiet=False)).run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, frame: object) -> None:
    del frame
    raise SystemExit(128 + signum)


class GatewayServer(ThreadedServer):
    """The gateway on a real socket, served by uvicorn in a background thread."""

    def __init__(self, app: ASGIApp, *, host: str = LOCALHOST, port: int = 0) -> None:
        sock = bind(host, port)
        super().__init__(_config(app, host, port, quiet=True), sock, name="gdwi-gateway")
