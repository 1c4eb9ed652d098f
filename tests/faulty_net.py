"""Real sockets that misbehave, for the reliability tests: a TCP proxy that drops connections and a
fake province that trickles or floods its answers. All on 127.0.0.1, started and stopped by tests.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

from adapter.wire.codec import encode

LOOPBACK = "127.0.0.1"


def _listener(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, port))
    sock.listen(64)
    sock.settimeout(0.1)  # accept polls, so a stop or a refusal never waits on a blocked accept
    return sock


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


class DroppingProxy:
    """Forwards 127.0.0.1:port to a target port, byte for byte, until told to misbehave:

    - `refuse_for(seconds)`: close every open connection and stop listening for a while, so the
      client's next connect is refused (the request certainly never leaves).
    - `swallow_next()`: close every open connection; the next one is read and closed
      unanswered, never forwarded (the client cannot tell it was not delivered).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._server = _listener()
        self.port = self._server.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._swallow = False
        self.refused_until = 0.0
        self.swallowed = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def __enter__(self) -> DroppingProxy:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stopped.set()
        self._close_all()
        with contextlib.suppress(OSError):
            self._server.close()
        self._thread.join(timeout=5)

    def refuse_for(self, seconds: float) -> None:
        with self._lock:
            self.refused_until = time.monotonic() + seconds
            # shutdown first: a bare close leaves the kernel listener alive while another thread
            # sits in accept(), and a connect landing there is reset after the request went out.
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
        self._close_all()

    def swallow_next(self) -> None:
        self._swallow = True
        self._close_all()

    def _close_all(self) -> None:
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            wait = self.refused_until - time.monotonic()
            if wait > 0:
                time.sleep(wait)
                with self._lock:
                    self._server = _listener(self.port)
            try:
                client, _ = self._server.accept()
            except OSError:
                continue  # a poll timeout, or closed by refuse_for or __exit__
            client.settimeout(None)
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        upstream = socket.create_connection((LOOPBACK, self.target_port))
        with self._lock:
            self._open.update((client, upstream))
        if self._swallow:
            self._swallow = False
            self.swallowed += 1
            self._drain_and_close(client, upstream)
            return
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        _pump(client, upstream)

    def _drain_and_close(self, client: socket.socket, upstream: socket.socket) -> None:
        client.settimeout(0.2)
        with contextlib.suppress(OSError):
            while client.recv(65536):
                pass
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.close()


def login_answer() -> bytes:
    return encode("sys0001", "response", {"return_code": "1", "return_code_message": "成功",
                                          "session_id": "00000000-0000-0000-0000-000000000001"})


class FakeProvince:
    """An HTTP/1.1 server on 127.0.0.1 that logs in anyone and answers every other call with
    `answer(connection)`, a function writing whatever it likes to the raw socket."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.answer = answer
        self._server = _listener()
        self.port = self._server.getsockname()[1]
        self._stopped = threading.Event()
        self.calls = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def __enter__(self) -> FakeProvince:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._server.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            for request in _requests(conn):
                if b"<function_id>sys0001</function_id>" in request:
                    body = login_answer()
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n"
                                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
                else:
                    self.calls += 1
                    self.answer(conn)
                    return


def _requests(conn: socket.socket) -> Iterator[bytes]:
    """Each HTTP request's body on a keep-alive connection (Content-Length framing only)."""
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(buffer) < length:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
        body, buffer = buffer[:length], buffer[length:]
        yield body


def trickle(interval: float) -> Callable[[socket.socket], None]:
    """Headers, then one byte of a never-ending body every `interval` seconds."""
    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100000000\r\n\r\n<program>")
        while True:
            time.sleep(interval)
            conn.sendall(b" ")
    return answer


def flood(total_bytes: int) -> Callable[[socket.socket], None]:
    """A 200 answer of `total_bytes` (chunked), as fast as the client reads it."""
    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"<x>" + b"9" * 65530 + b"</x>"
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        sent = 0
        while sent < total_bytes:
            conn.sendall(chunk)
            sent += len(piece)
        conn.sendall(b"0\r\n\r\n")
    return answer
