"""Serve the mock province over real HTTP with uvicorn: in a thread (tests, demo) or in front.

    with MockServer() as server:          # 127.0.0.1, a free port
        Settings(base_url=server.url, ...)
        server.faults.add("http500", times=1)

uvicorn's httptools protocol (the C HTTP parser: ~1.7x the calls/s of h11 on one worker, D41),
with two things its stock protocol does not do added per connection (`_MockProtocol`):
  - TCP_NODELAY, set explicitly. uvicorn writes the status line + headers and the body in two
    writes; with Nagle on, the second waits for the client's delayed ACK (~40 ms on Linux).
    asyncio already sets it on its own transports; saying so here keeps the guarantee visible
    and independent of the event-loop implementation.
  - the drop hook (app.DROP_EXTENSION) through which commit_then_drop closes the connection
    without a response, so the client sees the answer lost after the province committed.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from adapter.mock.app import DROP_EXTENSION, ProvinceAPI, RequestLog, context_of, create_app
from adapter.mock.faults import FaultPlan
from adapter.mock.style import AnswerStyle
from adapter.serving import LOCALHOST, ThreadedServer, bind

__all__ = ["MockServer", "serve"]



class _MockProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with TCP_NODELAY and the per-connection drop hook."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _set_nodelay(transport)
        super().connection_made(transport)
        self.app = _with_drop_hook(self.app, transport)


def _set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _with_drop_hook(app: ASGIApp, transport: asyncio.Transport) -> ASGIApp:
    """Wrap the app so each HTTP request can close its own connection without answering."""

    async def with_hook(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # abort(), not close(): nothing buffered is flushed, the peer just sees the end.
            extensions = {**(scope.get("extensions") or {}), DROP_EXTENSION: transport.abort}
            scope = {**scope, "extensions": extensions}
        await app(scope, receive, send)

    return with_hook


def _config(
    app: Starlette,
    host: str = LOCALHOST,
    port: int = 0,
    *,
    log_level: str = "warning",
    quiet_logging: bool = True,
) -> uvicorn.Config:
    # Quiet (tests): leave the host process's logging setup alone. No access log either way:
    # a line per request costs ~12% of the mock's throughput, and /admin/requests keeps them.
    options: dict[str, Any] = {"log_config": None} if quiet_logging else {}
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=_MockProtocol,
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=2,
        **options,
    )


class MockServer(ThreadedServer):
    """The mock province on a real socket, served by uvicorn in a background thread."""

    def __init__(
        self,
        province: ProvinceAPI | None = None,
        faults: FaultPlan | None = None,
        *,
        host: str = LOCALHOST,
        port: int = 0,
        style: AnswerStyle | None = None,
    ) -> None:
        self.faults = faults if faults is not None else FaultPlan()
        self.app = create_app(province, self.faults, style=style)
        context = context_of(self.app)
        self.province: ProvinceAPI = context.province
        self.requests: RequestLog = context.requests
        super().__init__(_config(self.app), bind(host, port), name="gdwi-mock")


def serve(
    host: str = LOCALHOST,
    port: int = 8080,
    seed_path: str | Path | None = None,
    persist_path: str | Path | None = None,
    style: AnswerStyle | None = None,
    city: str | None = None,
    admin_token: str | None = None,
) -> None:
    """Run the mock province in the foreground until Ctrl+C (the `gdwi mock serve` command).

    `style` / `city` None: the seed's answer style (strict unless the seed file says otherwise) and
    city profile (the spec's default unless the seed file says otherwise).
    """
    from adapter.mock.province import MockProvince
    from adapter.mock.seed import load_seed

    seed = load_seed(seed_path) if seed_path is not None else None
    province = MockProvince(seed, persist_path=persist_path, city=city)
    app = create_app(province, style=style, admin_token=admin_token)
    # uvicorn's records go to the root logger, set up by the CLI in the one gdwi format.
    uvicorn.Server(_config(app, host, port, log_level="info", quiet_logging=True)).run()
