"""The proxy's side of the province: one POST of the HIS's bytes over a kept-alive connection.

A small HTTP/1.1 client on asyncio streams rather than httpx: measured on loopback against the
mock, httpx's async client spent about 3 ms per call where the same exchange on a bare stream
took 0.35 ms, and the proxy's whole budget is 1 ms (decisions.md, "the proxy's stack"). It does
only what this one exchange needs: POST with a Content-Length, answers framed by Content-Length,
chunked encoding or the end of the connection, TLS from the client's `transport.tls_context`.

Failures are sorted as the client sorts them (adapter/wire/transport.py): `NotSentError` when
no connection could be made (nothing reached the province), `MaybeSentError` once the bytes may
have left (the outcome is unknown). A kept-alive connection idle for longer than `IDLE_REUSE`
is closed rather than reused: reusing one the server is closing at that moment would turn a
sure "not sent" into an unknown outcome.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from adapter.errors import MaybeSentError, NotSentError
from adapter.proxy.config import ProxyConfig
from adapter.wire.transport import tls_context

__all__ = ["IDLE_REUSE", "Answer", "Upstream"]

IDLE_REUSE = 4.0  # seconds; below uvicorn's (5 s) and Tomcat's (20 s) keep-alive timeouts
MAX_IDLE = 32
HEAD_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """What the province sent back, byte for byte."""

    status: int
    body: bytes
    content_type: str | None


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float) -> bool:
        fresh = now - self.idle_since < IDLE_REUSE
        return fresh and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class _Head:
    """Status and the headers that matter for framing."""

    def __init__(self, raw: bytes) -> None:
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise MaybeSentError(f"not an HTTP answer: {lines[0][:60]!r}")
        self.version = parts[0]
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                self.headers[name.strip().lower()] = value.strip()

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        return connection != "close" and (self.version != "HTTP/1.0" or connection == "keep-alive")


class Upstream:
    """Connections to the province; use from one event loop."""

    def __init__(self, config: ProxyConfig) -> None:
        target = urlsplit(config.upstream_url)
        self.secure = target.scheme == "https"
        self.host = target.hostname or ""
        self.port = target.port or (443 if self.secure else 80)
        self.path = target.path or "/"
        self.host_header = target.netloc
        self.max_bytes = config.max_body_bytes
        self.connect_timeout = config.connect_timeout
        self.read_timeout = config.read_timeout
        self._tls: ssl.SSLContext | None = None
        if self.secure:
            self._tls = tls_context(config.ca_file, config.client_cert, config.client_key,
                                    config.client_key_password)
        self._idle: list[_Connection] = []

    async def post(self, body: bytes, content_type: str, query: str = "") -> Answer:
        """POST `body` unchanged with the HIS's Content-Type; NotSentError / MaybeSentError."""
        connection = await self._connection()
        target = f"{self.path}?{query}" if query else self.path
        head = (f"POST {target} HTTP/1.1\r\nHost: {self.host_header}\r\n"
                f"Content-Type: {_one_line(content_type)}\r\nContent-Length: {len(body)}\r\n\r\n")
        try:
            connection.writer.write(head.encode("latin-1") + body)  # one write: no Nagle stall
            async with asyncio.timeout(self.read_timeout):
                answer, reusable = await self._read(connection.reader)
        except MaybeSentError:
            connection.close()
            raise
        except TimeoutError:
            connection.close()
            raise MaybeSentError(f"no answer within {self.read_timeout:g} s") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            connection.close()
            raise MaybeSentError(f"no answer: {type(exc).__name__}") from None
        if reusable:
            self._release(connection)
        else:
            connection.close()
        return answer

    async def _connection(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.usable(now):
                return connection
            connection.close()
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self._tls, limit=HEAD_LIMIT,
                    server_hostname=self.host if self.secure else None,
                )
        except TimeoutError:
            raise NotSentError(f"could not connect within {self.connect_timeout:g} s") from None
        except (OSError, ssl.SSLError) as exc:
            raise NotSentError(f"could not connect: {type(exc).__name__}") from None
        return _Connection(reader, writer)

    def _release(self, connection: _Connection) -> None:
        if len(self._idle) >= MAX_IDLE:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        self._idle.append(connection)

    async def _read(self, reader: asyncio.StreamReader) -> tuple[Answer, bool]:
        head = _Head(await reader.readuntil(b"\r\n\r\n"))
        while 100 <= head.status < 200:  # interim answers carry no body
            head = _Head(await reader.readuntil(b"\r\n\r\n"))
        encoding = head.headers.get("transfer-encoding", "").lower()
        length = head.headers.get("content-length")
        reusable = head.keep_alive
        if "chunked" in encoding:
            body = await self._chunked(reader)
        elif length is not None:
            size = int(length)
            self._check_size(size)
            body = await reader.readexactly(size)
        else:
            body = await self._until_closed(reader)
            reusable = False
        return Answer(head.status, body, head.headers.get("content-type")), reusable

    async def _chunked(self, reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers
                return b"".join(chunks)
            total += size
            self._check_size(total)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)  # the CRLF after each chunk

    async def _until_closed(self, reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while chunk := await reader.read(65536):
            total += len(chunk)
            self._check_size(total)
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_size(self, size: int) -> None:
        if size > self.max_bytes:
            raise MaybeSentError(f"answer larger than the limit of {self.max_bytes} bytes")

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


def _one_line(value: str) -> str:
    """A header value as one line: the HIS's Content-Type cannot inject headers upstream."""
    return value.replace("\r", " ").replace("\n", " ")
