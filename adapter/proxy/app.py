"""The HIS side of the proxy: a small HTTP/1.1 server on asyncio streams, one route.

No framework and no uvicorn between socket and exchange (decisions.md, "the proxy's stack"): the
proxy may add 1 ms per call, and on this path uvicorn's h11 protocol cost more CPU than the whole
exchange, and wrote each response in two sends. Here each response leaves in one write, on a
socket with TCP_NODELAY.

What a HIS sends is handled: Content-Length and chunked bodies, `Expect: 100-continue` (.NET's
default for a POST), keep-alive (HTTP/1.1) and HTTP/1.0. Limits: the request head (64 KB), the
body (the client's body limit; larger is answered -1 without reading on), an idle keep-alive
connection (closed after `KEEP_ALIVE` seconds) and a body that trickles in (the read timeout).

Only the spec's path is served: a request elsewhere is answered 404 and never forwarded, because
everything that reaches the province through gdwi must be journaled and checked, and the
platform has no other endpoint. Other methods than POST get 405.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from adapter.errors import GdwiError
from adapter.proxy.exchange import Exchange, Reply, envelope

__all__ = ["HEAD_LIMIT", "KEEP_ALIVE", "ProxyApp"]

HEAD_LIMIT = 64 * 1024
KEEP_ALIVE = 5.0  # seconds an idle HIS connection stays open
_TEXT = "text/plain; charset=utf-8"
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout"}


class _BadRequest(GdwiError):
    """A request that is not HTTP this server can read; answered 400 and the connection closed."""


class _TooLarge(GdwiError):
    """The body passed the limit; answered -1 without reading on."""


@dataclass(frozen=True)
class _Head:
    method: str
    path: str
    query: str
    version: str
    headers: dict[str, str]

    @classmethod
    def parse(cls, raw: bytes) -> _Head:
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(f"not an HTTP/1.x request line: {lines[0][:60]!r}")
        path, _, query = parts[1].partition("?")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise _BadRequest("malformed header line")
            headers[name.lower()] = value.strip()
        return cls(parts[0], path, query, parts[2], headers)

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


class ProxyApp:
    """Serves HIS connections for one `Exchange` (use `serve_connection` with asyncio.start_server)."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.path = exchange.config.path
        self.limit = exchange.config.max_body_bytes
        self.body_timeout = exchange.config.read_timeout
        self.connections: set[asyncio.Task[None]] = set()
        self.busy = 0  # requests being answered now

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _set_nodelay(writer)
        task = asyncio.current_task()
        if task is not None:
            self.connections.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, asyncio.CancelledError):
            pass  # the HIS went away or went quiet, or the proxy is stopping between calls
        finally:
            writer.close()
            if task is not None:
                self.connections.discard(task)

    async def close(self, grace: float) -> None:
        """Let calls in flight finish (and be journaled) for up to `grace` s, then drop every
        connection: an idle kept-alive one has nothing to lose."""
        deadline = asyncio.get_running_loop().time() + grace
        while self.busy and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*list(self.connections), return_exceptions=True)

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is to be closed."""
        try:
            async with asyncio.timeout(KEEP_ALIVE):
                raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                await _write(writer, Reply(400, b"incomplete request\n", _TEXT), keep_alive=False)
            return False
        except (asyncio.LimitOverrunError, ValueError):
            await _write(writer, Reply(400, b"request head too large\n", _TEXT), keep_alive=False)
            return False
        self.busy += 1
        try:
            head = _Head.parse(raw)
            reply = await self._reply(head, reader, writer)
        except _BadRequest as exc:
            await _write(writer, Reply(400, f"{exc}\n".encode(), _TEXT), keep_alive=False)
            return False
        except _TooLarge:
            message = f"gdwi proxy: XML refused, not sent: body larger than the limit of {self.limit} bytes"
            await _write(writer, Reply(200, envelope(message)), keep_alive=False)
            return False
        finally:
            self.busy -= 1
        await _write(writer, reply, keep_alive=head.keep_alive)
        return head.keep_alive

    async def _reply(self, head: _Head, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Reply:
        if head.path != self.path:
            await self._discard_body(head, reader, writer)
            return Reply(404, f"gdwi proxy serves only {self.path}\n".encode(), _TEXT)
        if head.method != "POST":
            await self._discard_body(head, reader, writer)
            return Reply(405, b"POST only\n", _TEXT)
        async with asyncio.timeout(self.body_timeout):
            body = await self._body(head, reader, writer)
        return await self.exchange.handle(body, head.headers.get("content-type"), head.query)

    async def _discard_body(
        self, head: _Head, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Read (within the limit) so the connection stays in step for the next request.
        async with asyncio.timeout(self.body_timeout):
            await self._body(head, reader, writer)

    async def _body(self, head: _Head, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        chunked = "chunked" in head.headers.get("transfer-encoding", "").lower()
        length = head.headers.get("content-length")
        if length is not None and not length.isdigit():
            raise _BadRequest("bad Content-Length")
        if length is not None and int(length) > self.limit:
            raise _TooLarge
        if not chunked and not length:
            return b""
        if head.headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if chunked:
            return await self._chunked(reader)
        return await reader.readexactly(int(length or 0))

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = (await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise _BadRequest("bad chunk size") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > self.limit:
                raise _TooLarge
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)  # the CRLF after each chunk


def _set_nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _write(writer: asyncio.StreamWriter, reply: Reply, *, keep_alive: bool) -> None:
    """Status line, headers and body in one write."""
    head = (f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}\r\n"
            f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n"
            f"{'' if keep_alive else 'Connection: close' + chr(13) + chr(10)}\r\n")
    writer.write(head.encode("latin-1") + reply.body)
    await writer.drain()
