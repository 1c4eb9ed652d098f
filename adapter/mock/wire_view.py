"""The wire router: POST {SPEC.path} with a raw `<program>` body, answered as the province would,
the fault plan applied (latency, an HTTP 500, an answer instead, a malformed or dropped answer).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from lxml import etree  # type: ignore[import-untyped]  # no lxml-stubs in the venv
from starlette.requests import Request
from starlette.responses import Response

from adapter.errors import AnswerDropped, XmlRefusedError
from adapter.mock.context import (
    DROP_EXTENSION,
    FAILURE_CODE,
    SERVER_FAULT_PAGE,
    Call,
    MockContext,
    ProvinceAPI,
    RequestRecord,
    _Refused,
    envelope,
    process,
    read_body,
    text_or_none,
)
from adapter.mock.refusal import Refusal
from adapter.wire.codec import decode_document, parse_document
from adapter.wire.validation import InputError, check_message
from generated.registry import FIELDS, FUNCTIONS, LOGIN


class WireEndpoint:
    def __init__(self, context: MockContext, token: str | None = None) -> None:
        self.context = context
        self._token = token

    async def post(self, request: Request) -> Response:
        function_id: str | None = None
        try:
            body = await read_body(request)
            root = _parse(body)
            function_id = _peek_function_id(root)
            call = _read_call(root, function_id, self.context.province)
        except _Refused as refused:
            answer = envelope(refused.code, refused.message)
            self._record(function_id, None, answer, 200, None)
            return self._xml(function_id, answer)
        decision = self.context.faults.decide(call.function_id, call.aaz218)
        if decision.delay_ms > 0:
            await asyncio.sleep(decision.delay_ms / 1000)  # the event loop keeps serving others
        exchange = _Exchange(self, request, call, decision.kind)
        if not decision.answers_instead:
            exchange.answered(process(self.context.province, call))  # the province commits here
        faulted = await decision.act(exchange)  # the fault kind's own doing (adapter.mock.faults)
        return faulted if faulted is not None else exchange.normal()

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
        code = text_or_none(answer.get("return_code")) if answer is not None else None
        self.context.requests.add(
            RequestRecord(function_id, aaz218, code, status, fault, "wire", time.time())
        )


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


def _read_call(root: etree._Element, function_id: str, province: ProvinceAPI) -> Call:
    decoded = decode_document(root, function_id, "request", attributes_refused=True)  # parsed once, above
    if function_id != LOGIN:
        # The session first: with an expired or missing session every API answers -9, whatever
        # else is wrong with the message (reference 01 §1).
        try:
            province.session_institution(decoded.session_id)
        except Refusal as refusal:
            raise _Refused(refusal.code, refusal.message) from None
    try:
        check_message(function_id, "request", decoded.values)
    except InputError as exc:
        raise _Refused(FAILURE_CODE, str(exc)) from None
    return Call(function_id, decoded.values, decoded.session_id)


class _Exchange:
    """One wire request as a fault kind acts on it (adapter.mock.faults.Exchange); every way it
    is answered is recorded in the request log with the fault's kind."""

    def __init__(self, endpoint: WireEndpoint, request: Request, call: Call, fault: str | None) -> None:
        self.endpoint, self.request, self.call, self.fault = endpoint, request, call, fault
        self.answer: dict[str, Any] | None = None
        self._body = b""

    def answered(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self._body = self.endpoint.context.style.render(self.call.function_id, answer)

    @property
    def body(self) -> bytes:
        return self._body

    @property
    def aaz218(self) -> str | None:
        shown = text_or_none(self.answer.get("aaz218")) if self.answer is not None else None
        return self.call.aaz218 or shown

    def normal(self) -> Response:
        self.endpoint._record(self.call.function_id, self.aaz218, self.answer, 200, None)
        return Response(self._body, media_type=self.endpoint.context.style.media_type)

    def refuse(self, code: str, message: str) -> Response:
        answer = envelope(code, message)
        self.endpoint._record(self.call.function_id, self.call.aaz218, answer, 200, self.fault)
        return self.endpoint._xml(self.call.function_id, answer)

    def server_error(self) -> Response:
        self.endpoint._record(self.call.function_id, self.call.aaz218, None, 500, self.fault)
        return Response(SERVER_FAULT_PAGE, status_code=500, media_type="text/html")

    def spoiled(self, body: bytes) -> Response:
        self.endpoint._record(self.call.function_id, self.aaz218, self.answer, 200, self.fault)
        return Response(body, media_type=self.endpoint.context.style.media_type)

    async def dropped(self) -> Response:
        self.endpoint._record(self.call.function_id, self.aaz218, self.answer, None, self.fault)
        return await _drop_connection(self.request)


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
