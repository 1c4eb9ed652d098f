"""HTTP to the province: one POST of XML bytes, errors sorted by what they mean for a bill.

`SentState` matters more than the exception type: a request that certainly never
left (connect refused) can be resent; one that may have arrived (read timeout)
has an unknown outcome and must be queried first.
"""

from __future__ import annotations

import ssl

import httpx

from adapter.errors import HttpStatusError, MaybeSentError, NotSentError, ServerFaultError, TransportError
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
    context = ssl.create_default_context(cafile=settings.ca_file)
    if settings.client_cert:
        context.load_cert_chain(
            settings.client_cert, settings.client_key, password=settings.client_key_password
        )
    return context


def _timeout(settings: Settings) -> httpx.Timeout:
    return httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)


def sync_client(settings: Settings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    verify: ssl.SSLContext | bool = ssl_context(settings) if settings.url.startswith("https") else True
    return httpx.Client(timeout=_timeout(settings), verify=verify, transport=transport)


def async_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    verify: ssl.SSLContext | bool = ssl_context(settings) if settings.url.startswith("https") else True
    return httpx.AsyncClient(timeout=_timeout(settings), verify=verify, transport=transport)


def check_answer(response: httpx.Response) -> bytes:
    """The body of a usable answer; a non-200 or a server-fault body is an error."""
    if response.status_code != 200:
        raise HttpStatusError(str(response.request.url), response.status_code)
    body = response.content
    if SPEC.server_fault_text.encode("utf-8") in body:
        raise ServerFaultError(f"the province reported a server exception ({SPEC.server_fault_text})")
    return body


def classify(exc: httpx.HTTPError) -> TransportError:
    """Map an httpx failure to NotSent (safe to resend) or MaybeSent (outcome unknown)."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return NotSentError(f"could not connect: {type(exc).__name__}")
    return MaybeSentError(f"no answer: {type(exc).__name__}")


def post(client: httpx.Client, url: str, body: bytes) -> bytes:
    try:
        response = client.post(url, content=body, headers=HEADERS)
    except httpx.HTTPError as exc:
        raise classify(exc) from exc
    return check_answer(response)


async def apost(client: httpx.AsyncClient, url: str, body: bytes) -> bytes:
    try:
        response = await client.post(url, content=body, headers=HEADERS)
    except httpx.HTTPError as exc:
        raise classify(exc) from exc
    return check_answer(response)
