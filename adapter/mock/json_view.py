"""The JSON view: POST /functions/{function_id} (JSON in, JSON out, the same province state; no
session, no faults) and GET /openapi.json, the document it follows.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from adapter.mock.context import (
    FAILURE_CODE,
    JSON_MEDIA_TYPE,
    MockContext,
    RequestRecord,
    _Refused,
    envelope,
    json_response,
    login_answer,
    read_body,
    text_or_none,
)
from adapter.mock.refusal import Refusal
from adapter.wire.validation import InputError, check_message
from generated.registry import FIELDS, FUNCTIONS, LOGIN


class JsonView:
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
            values = self._read(function_id, await read_body(request))
            answer = self.process(function_id, values)
        except _Refused as refused:
            answer = envelope(refused.code, refused.message)
            values = {}
        code = text_or_none(answer.get("return_code"))
        aaz218 = text_or_none(values.get("aaz218")) or text_or_none(answer.get("aaz218"))
        record = RequestRecord(function_id, aaz218, code, 200, None, "json", time.time())
        self.context.requests.add(record)
        return json_response(answer)

    def _read(self, function_id: str, body: bytes) -> dict[str, Any]:
        if function_id not in FUNCTIONS:
            raise _Refused(
                FAILURE_CODE, f"function_id {FIELDS['function_id'].name}: unknown function_id {function_id!r}"
            )
        values = _as_on_the_wire(_json_object(body))
        if function_id != LOGIN and self.context.default_akb020 is not None:
            values.setdefault("akb020", self.context.default_akb020)
        try:
            check_message(function_id, "request", values)
        except InputError as exc:
            raise _Refused(FAILURE_CODE, str(exc)) from None
        return values

    def process(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        province = self.context.province
        try:
            if function_id == LOGIN:
                return login_answer(province, values)
            return province.handle(function_id, values, akb020=values["akb020"])
        except Refusal as refusal:
            return envelope(refusal.code, refusal.message)


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
