"""Reading what passes through: the HIS's request (checked against the spec) and the answer.

Requests are read by the client's hardened codec: a body it refuses (DTD, entities, another
encoding, oversized, malformed) never leaves the proxy. A readable request is validated against
the generated models; its problems are kept as the messages the client would raise, naming each
field by wire code and 中文名. Answers are read tolerantly and compared with the spec field by
field: each difference becomes a `Deviation` for `gdwi spec drift`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from adapter.errors import InputError, XmlRefusedError
from adapter.wire.codec import decode, parse_document
from adapter.wire.validation import check_message, closest
from generated.registry import FIELDS, FUNCTIONS, SPEC

__all__ = ["Request", "read_request", "return_code_of"]

# An unknown function is forwarded in observe mode; its effect is unknown, so recovery must
# treat it as a change (it will leave the entry unknown rather than guess).
UNKNOWN_FUNCTION_KIND = "state_changing"
_FUNCTION_ID = re.compile(rb"<function_id>\s*([A-Za-z0-9_]{1,40})\s*</function_id>")


@dataclass(frozen=True)
class Request:
    """One HIS request as the proxy understood it."""

    function_id: str
    known: bool  # a function of this spec version
    values: dict[str, Any]
    problems: list[str]  # where it breaks the spec, "bka896 入参值: longer than 20"
    warnings: list[str]  # what the codec read past (unknown elements, ...)

    @property
    def kind(self) -> str:
        return FUNCTIONS[self.function_id].kind if self.known else UNKNOWN_FUNCTION_KIND

    def text(self, code: str) -> str | None:
        value = self.values.get(code)
        return value if isinstance(value, str) else None


def read_request(body: bytes, max_bytes: int) -> Request:
    """Read and check one request; XmlRefusedError when it is unreadable or names no function."""
    function_id = _function_id(body, max_bytes)
    if function_id not in FUNCTIONS:
        parse_document(body, max_bytes=max_bytes)  # hostile bodies are refused whatever they claim
        name = FIELDS["function_id"].name
        near = closest(function_id, FUNCTIONS)
        hint = f" (did you mean {near[0]}?)" if near else ""
        problem = f"function_id {name}: {function_id!r} is not a function of spec {SPEC.version}{hint}"
        return Request(function_id, False, {}, [problem], [])
    decoded = decode(body, function_id, "request", max_bytes=max_bytes)
    try:
        check_message(function_id, "request", decoded.values)
        problems: list[str] = []
    except InputError as exc:
        problems = [str(problem) for problem in exc.problems]
    return Request(function_id, True, decoded.values, problems, decoded.warnings)


def _function_id(body: bytes, max_bytes: int) -> str:
    """The function the body names: a byte scan first, the parser when the scan finds nothing."""
    found = _FUNCTION_ID.search(body)
    if found is not None:
        return found.group(1).decode("ascii")
    root = parse_document(body, max_bytes=max_bytes)
    function_id = (root.findtext("function_id") or "").strip()
    if not function_id:
        raise XmlRefusedError(f"function_id {FIELDS['function_id'].name}: required field missing")
    return function_id


def return_code_of(body: bytes, max_bytes: int) -> str | None:
    """The return_code of an answer to a function this spec does not know (None: unreadable)."""
    try:
        root = parse_document(body, max_bytes=max_bytes)
    except XmlRefusedError:
        return None
    return (root.findtext("return_code") or "").strip() or None
