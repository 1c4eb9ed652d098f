"""Wire-shaped dicts -> generated models, with errors a hospital integrator can act on.

Every message names the field by wire code and Chinese name, e.g.
`bka896 入参值: longer than 20`. The names come from the generated registry.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from adapter.errors import FieldProblem, InputError, UnknownFunctionError
from generated.registry import CODE_LISTS, FIELDS, FUNCTIONS, models_for

__all__ = ["InputError", "describe", "problem", "unknown_function", "validate_message"]


def _path(loc: tuple[int | str, ...]) -> str:
    """('feeinfo', 0, 'bka058') -> 'feeinfo[0].bka058'."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def problem(path: str, code: str, message: str) -> FieldProblem:
    """A problem with a wire code, its 中文名 taken from the registry."""
    field = FIELDS.get(code)
    return FieldProblem(path, code, field.name if field else None, message)


def unknown_function(function_id: str) -> UnknownFunctionError:
    """The error for a function_id the registry does not know, with the closest known ones."""
    from difflib import get_close_matches

    return UnknownFunctionError(function_id, get_close_matches(function_id, FUNCTIONS, n=3, cutoff=0.6))


def _pattern_text(code: str) -> str:
    field = FIELDS.get(code)
    if field is None:
        return "has the wrong format"
    if field.type == "decimal":
        whole = (field.digits or 0) - (field.scale or 0)
        return (f"must be a decimal with at most {whole} digits before and {field.scale} after the point "
                "(ASCII digits 0-9 only)")
    if field.type in ("date", "datetime"):
        return f"must be a {field.type} in the format {field.format} (ASCII digits 0-9 only)"
    if field.type == "integer":
        return "must be a whole number (ASCII digits 0-9 only)"
    return "has the wrong format"


def _allowed(code: str, ctx: dict[str, Any]) -> str:
    """The values this use of the field allows (a function may narrow the list), with labels."""
    field = FIELDS.get(code)
    labels = dict(CODE_LISTS[field.code_list].values) if field and field.code_list else {}
    codes = re.findall(r"'([^']*)'", str(ctx.get("expected", ""))) or list(labels)
    return ", ".join(f"{c} {labels[c]}" if c in labels else c for c in codes)


def _message(error: Any) -> str:
    loc = tuple(error["loc"])
    code = str(loc[-1]) if loc and not isinstance(loc[-1], int) else ""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required field missing"
    if kind == "string_too_long":
        return f"longer than {ctx.get('max_length')}"
    if kind == "string_too_short":
        return f"shorter than {ctx.get('min_length')}"
    if kind == "string_pattern_mismatch":
        return _pattern_text(code)
    if kind == "literal_error":
        return f"{error.get('input')!r} is not in the code list ({_allowed(code, ctx)})"
    if kind == "too_long":
        return f"more than {ctx.get('max_length')} rows"
    if kind == "too_short":
        return f"fewer than {ctx.get('min_length')} rows"
    if kind == "extra_forbidden":
        return "not a field of this message"
    if kind == "string_type":
        return "must be text"
    return str(error["msg"])


def describe(error: ValidationError) -> list[FieldProblem]:
    """One FieldProblem per pydantic error: the wire path, code and 中文名, and what is wrong."""
    problems = []
    for e in error.errors():
        loc = tuple(e["loc"])
        code = str(loc[-1]) if loc and not isinstance(loc[-1], int) else ""
        problems.append(problem(_path(loc), code, _message(e)))
    return problems


# Bidirectional controls (LRM/RLM, ALM, embeddings, overrides, isolates): invisible, and they
# reorder what follows when printed — a U+202E in a fee name prints it reversed on the sheet.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def bidi_problems(values: dict[str, Any], prefix: str = "") -> list[FieldProblem]:
    """Text fields holding a bidirectional control character, with where and which one."""
    problems: list[FieldProblem] = []
    for code, value in values.items():
        path = f"{prefix}{code}"
        if isinstance(value, str):
            found = next((char for char in value if char in BIDI_CONTROLS), None)
            if found is not None:
                problems.append(problem(path, code, f"holds the bidirectional control character "
                                        f"U+{ord(found):04X}, refused: it changes how printed text reads"))
        elif isinstance(value, list):
            for index, row in enumerate(value):
                if isinstance(row, dict):
                    problems.extend(bidi_problems(row, f"{path}[{index}]."))
    return problems


def validate_message(function_id: str, part: str, wire: dict[str, Any]) -> BaseModel:
    """Validate a wire-shaped dict (codes as keys) as a function's request or response.

    A request is also refused when a text field holds a bidirectional control character (an
    answer is read as it comes: strict in what we send, tolerant in what we read).
    """
    if function_id not in FUNCTIONS:
        raise unknown_function(function_id)
    request_model, response_model = models_for(function_id)
    model = request_model if part == "request" else response_model
    hidden = bidi_problems(wire) if part == "request" else []
    try:
        validated = model.model_validate(wire)
    except ValidationError as exc:
        raise InputError(function_id, hidden + describe(exc)) from None
    if hidden:
        raise InputError(function_id, hidden)
    return validated
