"""The mock province as an ASGI app (Starlette): the real XML wire, admin endpoints, a JSON view.

  POST {SPEC.path}               the wire: a raw `<program>` body, whatever the Content-Type
  POST /functions/{function_id}  the JSON view of generated/openapi.json (no session: for tools)
  GET  /openapi.json             that document
  /admin/...                     faults, session expiry, stage jumps, request log, reset, state

Bad input never gets a 5xx: it is answered HTTP 200 with return_code -1 and a message naming
the field by code and 中文名, as the province does. Every answer is built whole and sent with a
content-length in one body message, so it leaves in one write (see server.py for TCP_NODELAY).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any, Protocol

from lxml import etree  # type: ignore[import-untyped]  # no lxml-stubs in the venv
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapter.errors import AnswerDropped, MockError, XmlRefusedError
from adapter.mock.faults import Decision, FaultError, FaultPlan
from adapter.mock.refusal import Refusal
from adapter.mock.style import AnswerStyle
from adapter.wire.codec import DEFAULT_MAX_BYTES, decode_document, parse_document
from adapter.wire.validation import InputError, validate_message
from generated.registry import FIELDS, FUNCTIONS, LOGIN, SPEC

__all__ = [
    "DROP_EXTENSION",
    "AnswerDropped",
    "MockContext",
    "ProvinceAPI",
    "RequestLog",
    "RequestRecord",
    "context_of",
    "create_app",
]

FAILURE_CODE = "-1"
OK_MESSAGE = "成功"
# The ASGI scope extension server.py puts on every request: a callable that closes the
# connection at once. It is how commit_then_drop loses an answer on a real socket.
DROP_EXTENSION = "gdwi.drop_connection"
REQUEST_LOG_SIZE = 1000
JSON_MEDIA_TYPE = "application/json"
# What a Java province behind a gateway sends on an unhandled exception.
SERVER_FAULT_PAGE = (
    f"<html><head><title>500</title></head><body><h1>HTTP Status 500</h1>"
    f"<p>{SPEC.server_fault_text}</p></body></html>"
).encode()
NOT_XML_PAGE = b"502 Bad Gateway: upstream sent an invalid response\n"


class ProvinceAPI(Protocol):
    """What the app needs from the province (adapter.mock.province.MockProvince has it all)."""

    def login(self, userid: str, password: str) -> str: ...
    def session_institution(self, session_id: str | None) -> str: ...
    def expire_sessions(self) -> None: ...
    def handle(self, function_id: str, values: dict[str, Any], *, akb020: str) -> dict[str, Any]: ...
    def jump(self, aaz218: str, stage: str) -> None: ...
    def stage_of(self, aaz218: str) -> str | None: ...
    def snapshot(self) -> dict[str, Any]: ...
    def reset(self) -> None: ...


class _Refused(MockError):
    """A negative answer decided before or instead of the province (bad input, -9)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --------------------------------------------------------------------------- request log


@dataclass(frozen=True)
class RequestRecord:
    """One request as the mock saw it. return_code None: no XML answer reached the client."""

    function_id: str | None
    aaz218: str | None
    return_code: str | None
    http_status: int | None  # None: the connection was dropped
    fault: str | None
    view: str  # "wire" or "json"
    time: float


class RequestLog:
    """The last REQUEST_LOG_SIZE requests; read by tests from another thread, hence the lock."""

    def __init__(self, size: int = REQUEST_LOG_SIZE) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def records(self, function_id: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self._records if function_id is None or r.function_id == function_id]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


@dataclass
class MockContext:
    """Everything the endpoints share; `context_of(app)` gives it to tests."""

    province: ProvinceAPI
    faults: FaultPlan
    requests: RequestLog
    default_akb020: str | None
    style: AnswerStyle  # how wire answers are written: strict (the spec's letter) or real-shaped


def context_of(app: Starlette) -> MockContext:
    context = app.state.mock
    assert isinstance(context, MockContext)
    return context


# --------------------------------------------------------------------------- the app


def create_app(
    province: ProvinceAPI | None = None,
    faults: FaultPlan | None = None,
    *,
    requests: RequestLog | None = None,
    default_akb020: str | None = None,
    style: AnswerStyle | None = None,
    admin_token: str | None = None,
) -> Starlette:
    """The mock province. `default_akb020` (JSON view) defaults to the first seeded institution;
    `style` (how wire answers are written, adapter.mock.style) to the seed's, else strict.
    `admin_token`: /admin answers only requests with `Authorization: Bearer <token>` (set when
    the mock listens beyond loopback)."""
    if province is None:
        from adapter.mock.province import MockProvince  # the default only; tests may pass stand-ins

        province = MockProvince()
    chosen: ProvinceAPI = province
    context = MockContext(
        province=chosen,
        faults=faults if faults is not None else FaultPlan(),
        requests=requests if requests is not None else RequestLog(),
        default_akb020=default_akb020 or _first_institution(chosen),
        style=style or _seeded_style(chosen),
    )
    wire = _WireEndpoint(context)
    views = _JsonView(context)
    admin = _Admin(context, admin_token)
    routes = [
        Route(SPEC.path, wire.post, methods=["POST"]),
        Route("/openapi.json", views.openapi, methods=["GET"]),
        Route("/functions/{function_id}", views.post, methods=["POST"]),
        *admin.routes(),
    ]
    app = Starlette(routes=routes)
    app.state.mock = context
    return app


def _seeded_style(province: ProvinceAPI) -> AnswerStyle:
    """The seed's answer style (MockProvince has `.seed`; a stand-in may not): strict by default."""
    style = getattr(getattr(province, "seed", None), "style", None)
    return style if isinstance(style, AnswerStyle) else AnswerStyle()


def _first_institution(province: ProvinceAPI) -> str | None:
    """The first seeded institution's akb020 (MockProvince has `.seed`; a stand-in may not)."""
    seed = getattr(province, "seed", None)
    institutions = getattr(seed, "institutions", None)
    return next(iter(institutions), None) if institutions else None


# --------------------------------------------------------------------------- the wire


@dataclass(frozen=True)
class _Call:
    """A decoded, validated request."""

    function_id: str
    values: dict[str, Any]
    session_id: str | None

    @property
    def aaz218(self) -> str | None:
        value = self.values.get("aaz218")
        return value if isinstance(value, str) else None


class _WireEndpoint:
    def __init__(self, context: MockContext, token: str | None = None) -> None:
        self.context = context
        self._token = token

    async def post(self, request: Request) -> Response:
        function_id: str | None = None
        try:
            body = await _read_body(request)
            root = _parse(body)
            function_id = _peek_function_id(root)
            call = _read_call(root, function_id, self.context.province)
        except _Refused as refused:
            answer = _envelope(refused.code, refused.message)
            self._record(function_id, None, answer, 200, None)
            return self._xml(function_id, answer)
        decision = self.context.faults.decide(call.function_id, call.aaz218)
        if decision.delay_ms > 0:
            await asyncio.sleep(decision.delay_ms / 1000)  # the event loop keeps serving others
        if decision.answers_instead:
            return self._fault_instead(call, decision)
        answer = _process(self.context.province, call)
        return await self._reply(request, call, answer, decision)

    def _fault_instead(self, call: _Call, decision: Decision) -> Response:
        """http500, session_expired, fail_then_succeed: answered without asking the province."""
        rule = decision.fault
        assert rule is not None
        if rule.kind == "http500" or rule.params.get("answer") == "http500":
            self._record(call.function_id, call.aaz218, None, 500, rule.kind)
            return Response(SERVER_FAULT_PAGE, status_code=500, media_type="text/html")
        code = SPEC.session_expired_code if rule.kind == "session_expired" else rule.params["code"]
        answer = _envelope(code, rule.params["message"])
        self._record(call.function_id, call.aaz218, answer, 200, rule.kind)
        return self._xml(call.function_id, answer)

    async def _reply(
        self, request: Request, call: _Call, answer: dict[str, Any], decision: Decision
    ) -> Response:
        """The province has answered (and committed); malformed / commit_then_drop spoil it."""
        body = self.context.style.render(call.function_id, answer)
        aaz218 = call.aaz218 or _text(answer.get("aaz218"))
        if decision.kind == "commit_then_drop":
            self._record(call.function_id, aaz218, answer, None, decision.kind)
            return await _drop_connection(request)
        if decision.kind == "malformed":
            self._record(call.function_id, aaz218, answer, 200, decision.kind)
            return Response(_spoil(body, decision), media_type=self.context.style.media_type)
        self._record(call.function_id, aaz218, answer, 200, None)
        return Response(body, media_type=self.context.style.media_type)

    def _xml(self, function_id: str | None, answer: dict[str, Any]) -> Response:
        # A failure envelope is the same for every function; an unknown or missing function_id
        # is written with the login's response (which also has the two envelope fields).
        known = function_id if function_id in FUNCTIONS else LOGIN
        assert known is not None
        style = self.context.style
        return Response(style.render(known, answer), media_type=style.media_type)

    def _record(
        self,
        function_id: str | None,
        aaz218: str | None,
        answer: dict[str, Any] | None,
        status: int | None,
        fault: str | None,
    ) -> None:
        code = _text(answer.get("return_code")) if answer is not None else None
        self.context.requests.add(
            RequestRecord(function_id, aaz218, code, status, fault, "wire", time.time())
        )


async def _read_body(request: Request, limit: int = DEFAULT_MAX_BYTES) -> bytes:
    """The raw body, refused once it passes `limit` (not read whole into memory first)."""
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:  # checked before copying: a 50 MB chunk is not copied
            raise _Refused(FAILURE_CODE, f"XML refused: body larger than the limit of {limit} bytes")
        body += chunk
    return bytes(body)


def _parse(body: bytes) -> etree._Element:
    try:
        return parse_document(body, refuse_attributes=True)  # a request: no attributes
    except XmlRefusedError as exc:
        raise _Refused(FAILURE_CODE, f"XML refused: {exc}") from None


def _peek_function_id(root: etree._Element) -> str:
    function_id = (root.findtext("function_id") or "").strip()
    if not function_id:
        raise _Refused(FAILURE_CODE, f"function_id {FIELDS['function_id'].name}: required field missing")
    if function_id not in FUNCTIONS:
        raise _Refused(
            FAILURE_CODE, f"function_id {FIELDS['function_id'].name}: unknown function_id {function_id!r}"
        )
    return function_id


def _read_call(root: etree._Element, function_id: str, province: ProvinceAPI) -> _Call:
    decoded = decode_document(root, function_id, "request")  # the tree parsed once, above
    if function_id != LOGIN:
        # The session first: with an expired or missing session every API answers -9, whatever
        # else is wrong with the message (reference 01 §1).
        try:
            province.session_institution(decoded.session_id)
        except Refusal as refusal:
            raise _Refused(refusal.code, refusal.message) from None
    try:
        validate_message(function_id, "request", decoded.values)
    except InputError as exc:
        raise _Refused(FAILURE_CODE, str(exc)) from None
    return _Call(function_id, decoded.values, decoded.session_id)


def _process(province: ProvinceAPI, call: _Call) -> dict[str, Any]:
    """Login, or session check then the business; a Refusal becomes a negative answer."""
    try:
        if call.function_id == LOGIN:
            return _login(province, call.values)
        akb020 = province.session_institution(call.session_id)
        return province.handle(call.function_id, call.values, akb020=akb020)
    except Refusal as refusal:
        return _envelope(refusal.code, refusal.message)


def _login(province: ProvinceAPI, values: dict[str, Any]) -> dict[str, Any]:
    session_id = province.login(values["userid"], values["password"])
    return {"return_code": SPEC.success_code, "return_code_message": OK_MESSAGE, "session_id": session_id}


def _spoil(body: bytes, decision: Decision) -> bytes:
    if decision.fault is not None and decision.fault.params.get("mode") == "not_xml":
        return NOT_XML_PAGE
    return body[: len(body) // 2]  # cut mid-document: well-framed HTTP, broken XML


async def _drop_connection(request: Request) -> Response:
    """Close the connection without a response (the province committed; the answer is lost)."""
    drop: Callable[[], None] | None = request.scope.get("extensions", {}).get(DROP_EXTENSION)
    if drop is None:
        # In-process ASGI has no connection; raising is the only way to send nothing.
        raise AnswerDropped("commit_then_drop: the province committed and the answer was dropped")
    drop()
    # Let connection_lost run, so the server knows the peer is gone and sends nothing more.
    await asyncio.sleep(0)
    return Response(status_code=204)  # discarded: the transport is already closed


def _envelope(code: str, message: str) -> dict[str, Any]:
    return {"return_code": code, "return_code_message": message or "失败"}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------- the JSON view


class _JsonView:
    """POST /functions/{id}: JSON in, JSON out, same province state; no session, no faults."""

    def __init__(self, context: MockContext, token: str | None = None) -> None:
        self.context = context
        self._token = token
        self._openapi = resources.files("generated").joinpath("openapi.json").read_bytes()

    async def openapi(self, request: Request) -> Response:
        del request
        return Response(self._openapi, media_type=JSON_MEDIA_TYPE)

    async def post(self, request: Request) -> Response:
        function_id = str(request.path_params["function_id"])
        try:
            values = self._read(function_id, await _read_body(request))
            answer = self._process(function_id, values)
        except _Refused as refused:
            answer = _envelope(refused.code, refused.message)
            values = {}
        code = _text(answer.get("return_code"))
        aaz218 = _text(values.get("aaz218")) or _text(answer.get("aaz218"))
        record = RequestRecord(function_id, aaz218, code, 200, None, "json", time.time())
        self.context.requests.add(record)
        return _json(answer)

    def _read(self, function_id: str, body: bytes) -> dict[str, Any]:
        if function_id not in FUNCTIONS:
            raise _Refused(
                FAILURE_CODE, f"function_id {FIELDS['function_id'].name}: unknown function_id {function_id!r}"
            )
        values = _as_on_the_wire(_json_object(body))
        if function_id != LOGIN and self.context.default_akb020 is not None:
            values.setdefault("akb020", self.context.default_akb020)
        try:
            validate_message(function_id, "request", values)
        except InputError as exc:
            raise _Refused(FAILURE_CODE, str(exc)) from None
        return values

    def _process(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        province = self.context.province
        try:
            if function_id == LOGIN:
                return _login(province, values)
            return province.handle(function_id, values, akb020=values["akb020"])
        except Refusal as refusal:
            return _envelope(refusal.code, refusal.message)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError too
        raise _Refused(FAILURE_CODE, f"request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _Refused(FAILURE_CODE, "request body must be a JSON object of wire codes")
    return data


def _as_on_the_wire(values: dict[str, Any]) -> dict[str, Any]:
    """What the XML reader makes of the same message: text trimmed, an empty value is absent.

    So `{"ake005": ""}` is a missing required field here as `<ake005/>` is on the wire. Values
    of the wrong JSON type are kept, for validation to refuse.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, str):
            if value.strip():
                out[key] = value.strip()
        elif isinstance(value, list):
            rows = [_as_on_the_wire(row) if isinstance(row, dict) else row for row in value]
            rows = [row for row in rows if row != {}]  # an empty row is an empty element: absent
            if rows:
                out[key] = rows
        else:
            out[key] = value
    return out


def _json(data: object, status_code: int = 200) -> Response:
    # default=str: snapshots may hold Decimal or datetime values.
    text = json.dumps(data, ensure_ascii=False, default=str)
    return Response(text.encode("utf-8"), status_code=status_code, media_type=JSON_MEDIA_TYPE)


# --------------------------------------------------------------------------- admin


class _AdminError(MockError):
    """A bad admin request: answered 400 with the message."""


class _Admin:
    """Test and demo controls. Plain JSON; a bad request is a 400 with {"error": ...}."""

    def __init__(self, context: MockContext, token: str | None = None) -> None:
        self.context = context
        self._token = token

    def routes(self) -> list[Route]:
        return [
            Route("/admin/faults", self._guard(self.add_fault), methods=["POST"]),
            Route("/admin/faults", self._guard(self.list_faults), methods=["GET"]),
            Route("/admin/faults", self._guard(self.clear_faults), methods=["DELETE"]),
            Route("/admin/sessions/expire", self._guard(self.expire_sessions), methods=["POST"]),
            Route("/admin/stays/{aaz218}/stage", self._guard(self.jump), methods=["POST"]),
            Route("/admin/requests", self._guard(self.list_requests), methods=["GET"]),
            Route("/admin/reset", self._guard(self.reset), methods=["POST"]),
            Route("/admin/state", self._guard(self.state), methods=["GET"]),
        ]

    def _guard(
        self, handler: Callable[[Request], Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if self._token is not None and not _bearer_matches(request, self._token):
                return _json({"error": "admin token required (Authorization: Bearer <token>)"},
                             status_code=401)
            try:
                return _json(await handler(request))
            except (_AdminError, FaultError) as exc:
                return _json({"error": str(exc)}, status_code=400)
            except Refusal as refusal:
                return _json({"error": refusal.message, "code": refusal.code}, status_code=400)

        return endpoint

    async def add_fault(self, request: Request) -> dict[str, Any]:
        rule = self.context.faults.add_json(await _admin_json(request))
        return {"rule": rule.as_json()}

    async def list_faults(self, request: Request) -> dict[str, Any]:
        del request
        return {"rules": self.context.faults.as_json()}

    async def clear_faults(self, request: Request) -> dict[str, Any]:
        del request
        return {"cleared": self.context.faults.clear()}

    async def expire_sessions(self, request: Request) -> dict[str, Any]:
        del request
        self.context.province.expire_sessions()
        return {"expired": True}

    async def jump(self, request: Request) -> dict[str, Any]:
        aaz218 = str(request.path_params["aaz218"])
        data = await _admin_json(request)
        stage = data.get("stage") if isinstance(data, dict) else None
        if not isinstance(stage, str) or not stage:
            raise _AdminError('body must be {"stage": "<stage name>"}')
        try:
            self.context.province.jump(aaz218, stage)
        except (KeyError, ValueError) as exc:
            raise _AdminError(f"{aaz218}: cannot jump to {stage!r}: {exc}") from None
        return {"aaz218": aaz218, "stage": self.context.province.stage_of(aaz218)}

    async def list_requests(self, request: Request) -> dict[str, Any]:
        function_id = request.query_params.get("function_id")
        records = self.context.requests.records(function_id)
        return {"requests": [asdict(record) for record in records]}

    async def reset(self, request: Request) -> dict[str, Any]:
        """Province back to its seed, no faults, empty request log."""
        del request
        self.context.province.reset()
        self.context.faults.clear()
        self.context.requests.clear()
        return {"reset": True}

    async def state(self, request: Request) -> dict[str, Any]:
        del request
        return self.context.province.snapshot()


def _bearer_matches(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


async def _admin_json(request: Request) -> Any:
    body = await request.body()
    if not body:
        return {}
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise _AdminError(f"body is not JSON: {exc}") from None
