"""The gateway as an ASGI app (Starlette): HIS JSON in, the province's answer in HIS words out.

    app = create_gateway(client, token=token)      # served by `gdwi gateway serve` (uvicorn)

Routes: the HIS endpoints of endpoints.ENDPOINTS, `POST /functions/{function_id}` (raw wire codes
through client.call_wire), and the public `GET /openapi.json`, `GET /docs`, `GET /health` (the
process answers) and `GET /ready` (province login and journal work, health.py). Everything else
needs the bearer token (auth.py). A path served with another method is a 405 method_not_allowed
with `Allow`.

The services and the client are synchronous (one journal write and one province round trip per
call), so each request runs in Starlette's thread pool; the event loop only reads bodies and
writes answers. Every answer is JSON in UTF-8 with an explicit charset (HIS stacks on Chinese
Windows otherwise guess GBK).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from adapter import logs
from adapter.errors import ConfigError, JournalUnavailable, TokenError
from adapter.gateway import convert
from adapter.gateway.auth import BearerAuth, check_token
from adapter.gateway.convert import BodyError, Problem
from adapter.gateway.endpoints import ENDPOINTS, Endpoint, Services
from adapter.gateway.errors import (
    ErrorContext,
    NotFound,
    TooLarge,
    error_body,
    error_reply,
    idempotency_conflict,
)
from adapter.gateway.health import ReadinessProbe, log_start_check
from adapter.gateway.idempotency import HEADER, REPLAYED_HEADER, IdempotencyStore, fingerprint, valid_key
from adapter.gateway.memory import TRIM_AFTER_BYTES, return_memory
from adapter.gateway.openapi import build_document, docs_html
from adapter.his import WireCaller
from adapter.wire.client import Client
from adapter.wire.database import mask_dsn
from generated.registry import FUNCTIONS, LOGIN

__all__ = ["DEFAULT_MAX_BODY_BYTES", "PUBLIC_PATHS", "Tenant", "create_gateway", "create_group_gateway"]

log = logging.getLogger("gdwi.gateway")
JSON_MEDIA_TYPE = "application/json; charset=utf-8"
PUBLIC_PATHS = frozenset({"/docs", "/openapi.json", "/health", "/ready"})
# Thousands of fee lines fit easily (~400 bytes a line); a runaway body does not.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
Answer = tuple[int, dict[str, Any]]


def create_gateway(
    client: Client, *, token: str, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """The gateway app over `client` (shared by every request: thread-safe).

    `token` is the bearer token the HIS must send (auth.check_token); TokenError otherwise.
    When served with lifespan (`serve`, GatewayServer), the readiness check runs once at start and
    logs one line.
    """
    check_token(token)
    akb020 = client.settings.akb020
    # One institution: Idempotency-Keys unscoped, as they were stored before institutions existed.
    return _gateway({akb020: Tenant(akb020, client, Services.over(client), "")}, {token: akb020},
                    ReadinessProbe(client), max_body_bytes)


def create_group_gateway(
    clients: Sequence[Client], tokens: Mapping[str, str], *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """One gateway for several institutions: a client each (`clients`, one journal shared), and
    `tokens` mapping each bearer token to the akb020 it acts for. A request acts only as its
    token's institution: its client, session and credentials; another institution's visits and
    stays are 404 to it, and its Idempotency-Keys are its own."""
    tenants = {client.settings.akb020: Tenant(client.settings.akb020, client, Services.over(client),
                                              client.settings.akb020) for client in clients}
    if len(tenants) != len(clients):
        raise ConfigError("create_group_gateway: two clients for the same institution")
    journals = {client.journal.location for client in clients}
    if len(journals) != 1:
        raise ConfigError(f"create_group_gateway: institutions share one journal, not {len(journals)}")
    for token, akb020 in tokens.items():
        check_token(token)
        if akb020 not in tenants:
            raise ConfigError(f"a gateway token is bound to {akb020}, which has no client here")
    missing = set(tenants) - set(tokens.values())
    if missing:
        raise TokenError(f"no gateway token for {', '.join(sorted(missing))}")
    probe = ReadinessProbe({akb020: tenant.client for akb020, tenant in tenants.items()})
    return _gateway(tenants, tokens, probe, max_body_bytes)


def _gateway(tenants: Mapping[str, Tenant], tokens: Mapping[str, str], probe: ReadinessProbe,
             max_body_bytes: int) -> Starlette:
    first = next(iter(tenants.values()))
    keys = IdempotencyStore(first.client.journal.target)
    document = build_document()
    openapi_body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    docs_body = docs_html(document).encode("utf-8")
    reading = Reading(max_body_bytes, keys)
    guard = len(tenants) > 1 or first.key_scope != ""
    routes = [_his_route(path, group, tenants, reading, guard) for path, group in _by_path().items()]
    routes += [
        Route("/functions/{function_id}", _raw_view(tenants, reading, guard), methods=["POST"]),
        Route("/openapi.json", _static(openapi_body, JSON_MEDIA_TYPE), methods=["GET"]),
        Route("/docs", _static(docs_body, "text/html; charset=utf-8"), methods=["GET"]),
        Route("/health", _static(b'{"status": "ok"}', JSON_MEDIA_TYPE), methods=["GET"]),
        Route("/ready", _ready_view(probe), methods=["GET"]),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        del app
        await run_in_threadpool(log_start_check, probe)
        yield

    return Starlette(
        routes=routes,
        middleware=[Middleware(RequestIds), Middleware(BearerAuth, tokens=tokens, public_paths=PUBLIC_PATHS)],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )


@dataclass(frozen=True)
class Tenant:
    """One institution behind the gateway: its client (session, credentials), its services, and
    the scope its Idempotency-Keys are stored under ("" for a single-institution gateway)."""

    akb020: str
    client: Client
    services: Services
    key_scope: str


def _tenant(request: Request, tenants: Mapping[str, Tenant]) -> Tenant:
    """The institution the request's token is bound to (BearerAuth put it in the scope)."""
    return tenants[request.state.institution]


def refuse_foreign(tenant: Tenant, number: str) -> None:
    """A visit or stay the journal holds for another institution is not found for this one (the
    province would refuse it too, but its answer could name the other institution)."""
    if not number:
        return
    owners = {entry.akb020 for entry in tenant.client.journal.history(number) if entry.akb020}
    if owners - {tenant.akb020}:
        raise NotFound(f"{number}: institution {tenant.akb020} has no visit or stay with this number")


class RequestIds:
    """Each HTTP request gets its own request id in every log line it causes, uvicorn's access line
    included (it is written from the request's own context): the one format of adapter/logs.py."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            logs.new_request_id()
        await self.app(scope, receive, send)


def _by_path() -> dict[str, dict[str, Endpoint[Any]]]:
    """path -> {method: endpoint}: one route per path, so a wrong method's 405 lists every method."""
    grouped: dict[str, dict[str, Endpoint[Any]]] = {}
    for endpoint in ENDPOINTS:
        grouped.setdefault(endpoint.path, {})[endpoint.method] = endpoint
    return grouped


def _his_route(path: str, group: Mapping[str, Endpoint[Any]], tenants: Mapping[str, Tenant], reading: Reading,
               guard: bool) -> Route:
    views = {method: _his_view(endpoint, tenants, reading, guard) for method, endpoint in group.items()}

    async def dispatch(request: Request) -> Response:
        return await views[request.method](request)

    return Route(path, dispatch, methods=list(views))


# --------------------------------------------------------------------------- views

View = Callable[[Request], Awaitable[Response]]
Work = Callable[[], Answer]
# Answers after which nothing reached the province: an Idempotency-Key is released, not kept.
NOTHING_SENT = frozenset({"input", "not_found", "method_not_allowed", "too_large", "transport",
                          "province_login_failed", "journal_unavailable"})


@dataclass(frozen=True)
class Reading:
    """What every view shares: the body size limit and the Idempotency-Key store."""

    limit: int
    keys: IdempotencyStore


def _his_view(endpoint: Endpoint[Any], tenants: Mapping[str, Tenant], reading: Reading, guard: bool) -> View:
    context = ErrorContext(endpoint.function_ids)

    async def view(request: Request) -> Response:
        tenant = _tenant(request, tenants)
        key = str(request.path_params.get(endpoint.key_name or "", ""))
        checked = tenant if guard else None
        if endpoint.method == "GET":
            query: object = dict(request.query_params)
            return await _answer(request, query, lambda: _run(endpoint, tenant.services, key, query, context,
                                                              checked), reading.keys, tenant.key_scope)
        services = tenant.services
        return await _with_body(request, reading, context,
                                lambda body: lambda: _run(endpoint, services, key, body, context, checked),
                                tenant.key_scope)

    return view


async def _with_body(
    request: Request, reading: Reading, context: ErrorContext, work_on: Callable[[dict[str, Any]], Work],
    scope: str,
) -> Response:
    """Read the JSON body (refused past the limit), answer, and once a large body's answer is sent
    give the memory its objects took back to the operating system (memory.py)."""
    try:
        raw = await _read_body(request, reading.limit)
        size = len(raw)
        data = _json_body(raw)
    except (BodyError, TooLarge) as exc:
        return _reply(request, *error_reply(exc, context))
    del raw
    response = await _answer(request, data, work_on(data), reading.keys, scope)
    if size > TRIM_AFTER_BYTES:
        response.background = BackgroundTask(return_memory)  # after the answer is sent
    return response


async def _answer(request: Request, data: object, work: Work, keys: IdempotencyStore, scope: str) -> Response:
    """Run `work` in a worker thread, at most once per Idempotency-Key (idempotency.py) of the
    request's institution (`scope`: keys of different institutions never meet)."""
    key = request.headers.get(HEADER)
    if key is None or request.method == "GET":
        return _reply(request, *await run_in_threadpool(work))
    if not valid_key(key):
        problem = Problem.at("Idempotency-Key", "must be 1 to 255 printable ASCII characters")
        return _reply(request, *error_reply(BodyError([problem]), ErrorContext()))
    call = fingerprint(request.method, request.url.path, data)
    if scope:
        key = f"{scope}\t{key}"  # a tab never occurs in a valid key
    try:
        claim = await run_in_threadpool(keys.claim, key, call)
    except keys.errors as exc:
        unavailable = JournalUnavailable(f"Idempotency-Key store: {type(exc).__name__}: {mask_dsn(str(exc))}")
        return _reply(request, *error_reply(unavailable, ErrorContext()))
    if claim.conflict is not None:
        return _reply(request, *error_reply(idempotency_conflict(claim.conflict), ErrorContext()))
    if not claim.run:
        assert claim.answer is not None and claim.status is not None
        return Response(claim.answer, status_code=claim.status, media_type=JSON_MEDIA_TYPE,
                        headers={REPLAYED_HEADER: "true"})
    status, body = await run_in_threadpool(work)
    response = _reply(request, status, body)
    await run_in_threadpool(_keep, keys, key, status, body, bytes(response.body))
    return response


def _keep(keys: IdempotencyStore, key: str, status: int, body: Mapping[str, Any], answer: bytes) -> None:
    try:
        if body.get("error") in NOTHING_SENT:
            keys.release(key)
        else:
            keys.finish(key, status, answer)
    except keys.errors as exc:  # the key stays "running": a retry gets 409 in progress, never a resend
        log.error("Idempotency-Key not saved: %s: %s", type(exc).__name__, mask_dsn(str(exc)))


def _run(
    endpoint: Endpoint[Any], services: Services, key: str, data: object, context: ErrorContext,
    tenant: Tenant | None = None,
) -> Answer:
    """Read the body into the endpoint's shape, run the step, answer (in a worker thread). With
    `tenant` (a group gateway), another institution's visit or stay is refused first."""
    try:
        if tenant is not None:
            refuse_foreign(tenant, key)
        body = convert.read(endpoint.body_type, data)
        return 200, convert.to_json(endpoint.run(services, key, body))
    except Exception as exc:  # every failure becomes the JSON error shape
        return _failure(exc, context)


def _raw_view(tenants: Mapping[str, Tenant], reading: Reading, guard: bool) -> View:
    async def view(request: Request) -> Response:
        tenant = _tenant(request, tenants)
        function_id = str(request.path_params["function_id"])
        context = ErrorContext((function_id,), wire_view=True)
        checked = tenant if guard else None
        client = tenant.client
        return await _with_body(request, reading, context,
                                lambda body: lambda: _call_raw(client, function_id, body, context, checked),
                                tenant.key_scope)

    return view


def _call_raw(client: WireCaller, function_id: str, data: dict[str, Any], context: ErrorContext,
              tenant: Tenant | None = None) -> Answer:
    try:
        if tenant is not None and isinstance(data.get("aaz218"), str):
            refuse_foreign(tenant, data["aaz218"])
        if function_id not in FUNCTIONS or function_id == LOGIN:
            # The login carries the password: the gateway logs in itself, it never relays one.
            raise NotFound(f"no transaction {function_id!r} here (the login {LOGIN} is the gateway's own)")
        try:
            return 200, convert.to_json(client.call_wire(function_id, data))
        except TypeError as exc:  # a value of the wrong JSON type for the codec: the HIS's input
            raise ValueError(str(exc)) from None
    except Exception as exc:
        return _failure(exc, context)


def _failure(exc: Exception, context: ErrorContext) -> Answer:
    status, body = error_reply(exc, context)
    if status == 500:  # the answer names the type only; the log keeps the traceback (IDs masked)
        log.error("internal gateway error: %s", type(exc).__name__, exc_info=exc)
    return status, body


def _ready_view(probe: ReadinessProbe) -> View:
    async def view(request: Request) -> Response:
        readiness = await run_in_threadpool(probe.check)
        return _reply(request, 200 if readiness.ready else 503, readiness.as_json())

    return view


def _static(body: bytes, media_type: str) -> View:
    async def view(request: Request) -> Response:
        del request
        return Response(body, media_type=media_type)

    return view


async def _http_error(request: Request, exc: Exception) -> Response:
    """Routing's own refusals (404, 405) in the gateway's error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    if status == 405:
        allowed = headers.get("Allow", "")
        body = error_body("method_not_allowed", f"{request.method} {request.url.path}: not allowed here "
                          f"(allowed: {allowed})")
    else:
        kind = "not_found" if status == 404 else "internal"
        body = error_body(kind, f"{request.method} {request.url.path}: no such endpoint")
    return _reply(request, status, body, headers)


# --------------------------------------------------------------------------- bodies and answers


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused as soon as it passes `limit` (never read whole first)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"request body larger than the gateway's limit of {limit} bytes")
    return bytes(body)


def _json_body(raw: bytes) -> dict[str, Any]:
    """A JSON object (empty body: {}); numbers read exactly as Decimal, never as float. Text that
    cannot be UTF-8 (a lone surrogate written as an escape, in a key or a value) is refused here."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError too
        raise BodyError([Problem.at(None, f"body is not UTF-8 JSON: {exc}")]) from None
    if _SURROGATE_ESCAPE.search(raw):  # rare: only then walk the whole body
        where = _lone_surrogate(data, "")
        if where is not None:
            raise BodyError([Problem.at(where or None, "text holds a lone surrogate escape (\\ud800-\\udfff "
                                     "without its pair): not Unicode text")])
    if not isinstance(data, dict):
        raise BodyError([Problem.at(None, "body must be a JSON object")])
    return data


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(value: object, path: str) -> str | None:
    """The path of the first text (key or value) that is not encodable Unicode; None if all are."""
    if isinstance(value, str):
        return None if _encodable(value) else path
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{_printable(key)}" if path else _printable(key)
            if not _encodable(key):
                return inner
            found = _lone_surrogate(item, inner)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")


def _reply(
    request: Request, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None,
) -> Response:
    if status >= 400:
        # Method, path (visit numbers only), status and kind: never the message, which may quote
        # the province's text about a patient.
        # %r: the decoded path is the caller's text; repr keeps a %0A from forging a log line.
        log.warning("%s %r -> %d %s", request.method, request.url.path, status,
                    body.get("error") or body.get("status"))
    # backslashreplace: whatever text reaches an answer, it stays a JSON escape, never a 500.
    text = json.dumps(body, ensure_ascii=False)
    return Response(text.encode("utf-8", "backslashreplace"), status_code=status, media_type=JSON_MEDIA_TYPE,
                    headers=headers)
