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
    NOT_XML_PAGE,
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
from adapter.mock.faults import Decision
from adapter.mock.refusal import Refusal
from adapter.wire.codec import decode_document, parse_document
from adapter.wire.validation import InputError, validate_message
from generated.registry import FIELDS, FUNCTIONS, LOGIN, SPEC


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
        if decision.answers_instead:
            return self._fault_instead(call, decision)
        answer = process(self.context.province, call)
        return await self._reply(request, call, answer, decision)

    def _fault_instead(self, call: Call, decision: Decision) -> Response:
        """http500, session_expired, fail_then_succeed: answered without asking the province."""
        rule = decision.fault
        assert rule is not None
        if rule.kind == "http500" or rule.params.get("answer") == "http500":
            self._record(call.function_id, call.aaz218, None, 500, rule.kind)
            return Response(SERVER_FAULT_PAGE, status_code=500, media_type="text/html")
        code = SPEC.session_expired_code if rule.kind == "session_expired" else rule.params["code"]
        answer = envelope(code, rule.params["message"])
        self._record(call.function_id, call.aaz218, answer, 200, rule.kind)
        return self._xml(call.function_id, answer)

    async def _reply(
        self, request: Request, call: Call, answer: dict[str, Any], decision: Decision
    ) -> Response:
        """The province has answered (and committed); malformed / commit_then_drop spoil it."""
        body = self.context.style.render(call.function_id, answer)
        aaz218 = call.aaz218 or text_or_none(answer.get("aaz218"))
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
    return Call(function_id, decoded.values, decoded.session_id)


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
