"""What the mock's routers share: the province they ask, the fault plan, the request log, the
answer style (MockContext), and the exchange with the province (an answer, a login, a refusal
envelope) that the wire and the JSON view both use.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from adapter.errors import MockError
from adapter.mock.faults import FaultPlan
from adapter.mock.refusal import Refusal
from adapter.mock.style import AnswerStyle
from adapter.wire.codec import DEFAULT_MAX_BYTES
from generated.registry import LOGIN, SPEC

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


@dataclass(frozen=True)
class Call:
    """A decoded, validated request."""

    function_id: str
    values: dict[str, Any]
    session_id: str | None

    @property
    def aaz218(self) -> str | None:
        value = self.values.get("aaz218")
        return value if isinstance(value, str) else None


async def read_body(request: Request, limit: int = DEFAULT_MAX_BYTES) -> bytes:
    """The raw body, refused once it passes `limit` (not read whole into memory first)."""
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:  # checked before copying: a 50 MB chunk is not copied
            raise _Refused(FAILURE_CODE, f"XML refused: body larger than the limit of {limit} bytes")
        body += chunk
    return bytes(body)


def process(province: ProvinceAPI, call: Call) -> dict[str, Any]:
    """Login, or session check then the business; a Refusal becomes a negative answer."""
    try:
        if call.function_id == LOGIN:
            return login_answer(province, call.values)
        akb020 = province.session_institution(call.session_id)
        return province.handle(call.function_id, call.values, akb020=akb020)
    except Refusal as refusal:
        return envelope(refusal.code, refusal.message)


def login_answer(province: ProvinceAPI, values: dict[str, Any]) -> dict[str, Any]:
    session_id = province.login(values["userid"], values["password"])
    return {"return_code": SPEC.success_code, "return_code_message": OK_MESSAGE, "session_id": session_id}


def envelope(code: str, message: str) -> dict[str, Any]:
    return {"return_code": code, "return_code_message": message or "失败"}


def text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def json_response(data: object, status_code: int = 200) -> Response:
    # default=str: snapshots may hold Decimal or datetime values.
    text = json.dumps(data, ensure_ascii=False, default=str)
    return Response(text.encode("utf-8"), status_code=status_code, media_type=JSON_MEDIA_TYPE)
