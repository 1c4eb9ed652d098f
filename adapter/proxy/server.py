"""Serve the proxy with uvicorn: in the foreground (`gdwi proxy serve`) or in a thread (tests).

    with ProxyServer(ProxyConfig(upstream=mock.url, journal_path=...)) as proxy:
        his_posts_to(proxy.url + SPEC.path)

uvicorn's h11 protocol as for the mock and the gateway (no C extension to install); the app
below it is a bare ASGI callable (app.py). TCP_NODELAY is set on every accepted socket: uvicorn
writes the status line and the body in two writes, and with Nagle on the second one waits for
the HIS's delayed ACK (measured: 56 ms per call instead of about 1).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from adapter.proxy.app import ProxyApp
from adapter.proxy.config import ProxyConfig
from adapter.proxy.exchange import Exchange
from adapter.proxy.upstream import Upstream
from adapter.serving import LOCALHOST, ThreadedServer, bind
from adapter.wire.journal import Journal

__all__ = ["ProxyServer", "create_proxy", "serve"]


def create_proxy(config: ProxyConfig, journal: Journal | None = None) -> ProxyApp:
    """The ASGI app for `config`; the journal is opened from config.journal_path unless given."""
    journal = journal if journal is not None else Journal(config.journal_path)
    return ProxyApp(Exchange(config, journal, Upstream(config)))


class _NoDelayProtocol(H11Protocol):
    """uvicorn's h11 protocol with TCP_NODELAY on the accepted socket."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def _config(app: ProxyApp, host: str, port: int, *, quiet: bool) -> uvicorn.Config:
    # Quiet (tests, threads): leave the host process's logging alone and log no requests.
    options: dict[str, Any] = {"log_config": None} if quiet else {}
    return uvicorn.Config(
        app, host=host, port=port, http=_NoDelayProtocol, lifespan="on", access_log=False,
        log_level="warning" if quiet else "info", timeout_graceful_shutdown=5,
        server_header=False, date_header=False, **options,
    )


def serve(config: ProxyConfig, host: str = LOCALHOST, port: int = 8091) -> None:
    """Run until Ctrl+C (the `gdwi proxy serve` command)."""
    app = create_proxy(config)
    try:
        uvicorn.Server(_config(app, host, port, quiet=False)).run()
    finally:
        app.exchange.journal.close()


class ProxyServer(ThreadedServer):
    """The proxy on a real socket, served by uvicorn in a background thread."""

    def __init__(self, config: ProxyConfig, *, host: str = LOCALHOST, port: int = 0) -> None:
        self.app = create_proxy(config)
        self.journal = self.app.exchange.journal
        super().__init__(_config(self.app, host, port, quiet=True), bind(host, port), name="gdwi-proxy")

    def stop(self) -> None:
        super().stop()
        self.journal.close()
