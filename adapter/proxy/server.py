"""Run the proxy: in the foreground (`gdwi proxy serve`) or on a thread of its own (tests).

    with ProxyServer(ProxyConfig(upstream=mock.url, journal_path=...)) as proxy:
        his_posts_to(proxy.url + SPEC.path)

One asyncio event loop serves every HIS connection (app.py) and holds the kept-alive upstream
connections (upstream.py); journal writes run beside it (exchange.py). The socket is bound before
the loop starts, so the URL is known at once (port 0: a free port).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading

from adapter.proxy.app import HEAD_LIMIT, ProxyApp
from adapter.proxy.config import ProxyConfig
from adapter.proxy.exchange import Exchange
from adapter.proxy.upstream import Upstream
from adapter.serving import LOCALHOST, BackgroundServer, bind
from adapter.wire.journal import Journal, open_journal

__all__ = ["ProxyServer", "create_proxy", "serve"]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
GRACE = 5.0  # seconds in-flight calls get to finish (and be journaled) when the proxy stops


def create_proxy(config: ProxyConfig, journal: Journal | None = None) -> ProxyApp:
    """The proxy for `config`; the journal is opened from config.journal_path unless given."""
    journal = journal if journal is not None else open_journal(config.journal_path)
    return ProxyApp(Exchange(config, journal, Upstream(config)))


async def _run(app: ProxyApp, sock: socket.socket, started: threading.Event, stop: asyncio.Event) -> None:
    server = await asyncio.start_server(app.serve_connection, sock=sock, limit=HEAD_LIMIT)
    started.set()
    try:
        await stop.wait()
    finally:
        server.close()  # no new connections; calls in flight finish and are journaled
        await app.close(GRACE)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(GRACE):
                await server.wait_closed()
        await app.exchange.upstream.aclose()


def serve(config: ProxyConfig, host: str = LOCALHOST, port: int = 8091) -> None:
    """Run until Ctrl+C or SIGTERM (the `gdwi proxy serve` command)."""
    app = create_proxy(config)
    sock = bind(host, port)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await _run(app, sock, threading.Event(), stop)

    try:
        asyncio.run(main())
    finally:
        app.exchange.journal.close()


class ProxyServer(BackgroundServer):
    """The proxy on a real socket, its event loop on a background thread."""

    def __init__(self, config: ProxyConfig, *, host: str = LOCALHOST, port: int = 0) -> None:
        self.app = create_proxy(config)
        self.journal = self.app.exchange.journal
        self._socket = bind(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._started = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("gdwi-proxy already started")
        run = _run(self.app, self._socket, self._started, self._stop)
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(run,),
                                        name="gdwi-proxy", daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT):
            self.stop()
            raise RuntimeError(f"gdwi-proxy did not start on {self.url}")

    def stop(self) -> None:
        if self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(STOP_TIMEOUT)
            self._thread = None
            self._loop.close()
        self._socket.close()
        self.journal.close()
