"""The proxy as a bare ASGI app: one path, one method, no framework between socket and exchange.

A proxy's whole budget is about a millisecond per call, and it serves exactly one route, so it
skips Starlette's routing, request and response objects (decisions.md: "the proxy's stack").
Only the spec's path is served: a POST elsewhere is answered 404 and never forwarded, because
everything that reaches the province through gdwi must be journaled and checked, and the
platform has no other endpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from adapter.errors import GdwiError
from adapter.proxy.exchange import Exchange, Reply, envelope

__all__ = ["ProxyApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_TEXT = "text/plain; charset=utf-8"


class _TooLarge(GdwiError):
    """The body passed the limit; answered -1 without reading on."""


class ProxyApp:
    """ASGI callable: `uvicorn.Config(ProxyApp(exchange), ...)`."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.path = exchange.config.path
        self.limit = exchange.config.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets are not served
        if scope["path"] != self.path:
            await _send(send, Reply(404, f"gdwi proxy serves only {self.path}\n".encode(), _TEXT))
            return
        if scope["method"] != "POST":
            await _send(send, Reply(405, b"POST only\n", _TEXT))
            return
        try:
            body = await self._body(scope, receive)
        except _TooLarge:
            message = f"gdwi proxy: XML refused, not sent: body larger than the limit of {self.limit} bytes"
            await _send(send, Reply(200, envelope(message)))
            return
        query = scope.get("query_string", b"").decode("latin-1")
        reply = await self.exchange.handle(body, _content_type(scope), query)
        await _send(send, reply)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.exchange.upstream.aclose()  # in the loop its connections belong to
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _content_type(scope: Scope) -> str | None:
    return _header(scope, b"content-type")


async def _send(send: Send, reply: Reply) -> None:
    headers = [(b"content-type", reply.content_type.encode("latin-1")),
               (b"content-length", str(len(reply.body)).encode())]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
