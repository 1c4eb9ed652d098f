"""HTTP to the province: one POST of XML bytes, errors sorted by what they mean for a bill.

`SentState` matters more than the exception type: a request that certainly never
left (connect refused) can be resent; one that may have arrived (read timeout)
has an unknown outcome and must be queried first.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time

import httpx

from adapter.errors import (
    ConfigError,
    HttpStatusError,
    MaybeSentError,
    NotSentError,
    ServerFaultError,
    TransportError,
)
from adapter.wire.config import Settings
from generated.registry import SPEC

__all__ = [
    "HEADERS",
    "MaybeSentError",
    "NotSentError",
    "apost",
    "async_client",
    "check_answer",
    "classify",
    "post",
    "ssl_context",
    "sync_client",
]

HEADERS = {"Content-Type": SPEC.content_type}


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """TLS from settings (httpx 0.28 deprecates cert=): CA file and optional client certificate."""
    return tls_context(settings.ca_file, settings.client_cert, settings.client_key,
                       settings.client_key_password)


def tls_context(
    ca_file: str | None, client_cert: str | None, client_key: str | None, key_password: str | None
) -> ssl.SSLContext:
    """The one way gdwi builds TLS to the province (the client and the proxy's upstream)."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"GDWI_CA_FILE: cannot use {ca_file}: {exc}") from None
    if client_cert:
        try:
            context.load_cert_chain(client_cert, client_key, password=key_password)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"GDWI_CLIENT_CERT/GDWI_CLIENT_KEY: cannot use {client_cert}: "
                              f"{type(exc).__name__}") from None
    return context


def _timeout(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)


@functools.cache
def _plain_http_context() -> ssl.SSLContext:
    """The context httpx insists on for an http:// province, where TLS never happens.

    httpx's default loads the whole CA bundle for every client (~85 ms, most of a `gdwi call` and
    of the test suite's client set-ups), for nothing on plain HTTP. This one trusts no CA at all
    (verification on): were it ever used, it would refuse every certificate, not accept one.
    """
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _verify(settings: Settings) -> ssl.SSLContext:
    return ssl_context(settings) if settings.url.startswith("https") else _plain_http_context()


def sync_client(settings: Settings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    return httpx.Client(timeout=_timeout(settings), verify=_verify(settings), transport=transport)


def async_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=_timeout(settings), verify=_verify(settings), transport=transport)


def check_answer(response: httpx.Response) -> bytes:
    """The body of a usable answer; a non-200 or a server-fault body is an error."""
    _check_status(response)
    return _check_body(response.content)


def _check_status(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise HttpStatusError(str(response.request.url), response.status_code)


def _check_body(body: bytes) -> bytes:
    if SPEC.server_fault_text.encode("utf-8") in body:
        raise ServerFaultError(f"the province reported a server exception ({SPEC.server_fault_text})")
    return body


class _Bounded:
    """The answer's bytes as they stream in, refused past `max_bytes` or past `deadline`.

    Reading stops there: an oversized or trickling answer costs at most `max_bytes` of memory and
    `deadline` of time, never the whole body. Either way the request was sent, so the outcome is
    unknown (MaybeSentError), as for a timeout.
    """

    def __init__(self, max_bytes: int | None, deadline: float | None) -> None:
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise MaybeSentError(f"answer larger than the limit of {self.max_bytes} bytes: stopped reading")
        passed_deadline(self.deadline)
        self.parts.append(chunk)

    def body(self) -> bytes:
        return b"".join(self.parts)


def passed_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise MaybeSentError("no complete answer before the call's deadline (call_deadline)")


def _capped(timeout: httpx.Timeout, deadline: float | None) -> httpx.Timeout:
    """The client's timeouts, none longer than what is left until `deadline`."""
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise NotSentError("the call's deadline passed before sending (call_deadline)")

    def cap(value: float | None) -> float:
        return left if value is None else min(value, left)

    return httpx.Timeout(connect=cap(timeout.connect), read=cap(timeout.read), write=cap(timeout.write),
                         pool=cap(timeout.pool))


def classify(exc: httpx.HTTPError, url: str = "") -> TransportError:
    """Map an httpx failure to NotSent (safe to resend) or MaybeSent (outcome unknown)."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return NotSentError(explain(exc, url))
    return MaybeSentError(explain(exc, url))


def explain(exc: httpx.HTTPError, url: str) -> str:
    """`<phase> failed: <cause> (<url>); <hint>`: enough to fix a setting without a traceback."""
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    phase, what, hint = _diagnosis(exc, cause)
    return f"{phase} failed: {what} ({url or 'no URL'}); {hint}"


def _diagnosis(exc: httpx.HTTPError, cause: BaseException) -> tuple[str, str, str]:
    if isinstance(cause, socket.gaierror):
        return "DNS", f"host name not found ({cause.strerror})", "check the host in base_url"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return "TLS", f"certificate not trusted ({cause.verify_message})", \
            "set ca_file (GDWI_CA_FILE) to the province's CA certificate"
    if isinstance(cause, ssl.SSLError):
        return "TLS", f"handshake failed ({cause.reason or cause})", \
            "is the server plain HTTP? then base_url starts with http://"
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return "connect", "timed out", "check host, port and firewall (connect_timeout)"
    if isinstance(cause, ConnectionRefusedError):
        return "connect", "connection refused", "nothing listens there: check the port in base_url"
    if isinstance(exc, httpx.ConnectError):
        return "connect", str(cause) or type(cause).__name__, "check base_url and the network"
    if isinstance(exc, httpx.ReadTimeout):
        return "read", "no answer within read_timeout", \
            "the province may have processed the request: query before resending"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "read", f"the server closed the connection without an answer ({cause})", \
            "if the server speaks HTTPS, base_url must start with https://"
    return "read", f"{type(exc).__name__}: {cause}", "query before resending"


def post(
    client: httpx.Client, url: str, body: bytes, *, max_bytes: int | None = None,
    deadline: float | None = None,
) -> bytes:
    """POST `body`; the answer is streamed and refused past `max_bytes` or `deadline`
    (a time.monotonic() value covering the whole call)."""
    timeout = _capped(client.timeout, deadline)
    try:
        with client.stream("POST", url, content=body, headers=HEADERS, timeout=timeout) as response:
            _check_status(response)
            answer = _Bounded(max_bytes, deadline)
            for chunk in response.iter_bytes():
                answer.add(chunk)
    except httpx.HTTPError as exc:
        raise classify(exc, url) from exc
    return _check_body(answer.body())


async def apost(
    client: httpx.AsyncClient, url: str, body: bytes, *, max_bytes: int | None = None,
    deadline: float | None = None,
) -> bytes:
    timeout = _capped(client.timeout, deadline)
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        async with asyncio.timeout(left):
            async with client.stream("POST", url, content=body, headers=HEADERS, timeout=timeout) as response:
                _check_status(response)
                answer = _Bounded(max_bytes, deadline)
                async for chunk in response.aiter_bytes():
                    answer.add(chunk)
    except httpx.HTTPError as exc:
        raise classify(exc, url) from exc
    except TimeoutError:
        passed_deadline(deadline)
        raise
    return _check_body(answer.body())
