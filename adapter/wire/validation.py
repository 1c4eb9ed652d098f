"""Wire-shaped dicts -> generated models, with errors a hospital integrator can act on.

Every message names the field by wire code and Chinese name, e.g.
`bka896 入参值: longer than 20`. The names come from the generated registry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import CoreSchema, SchemaValidator

from adapter.errors import FieldProblem, InputError, UnknownFunctionError
from generated.registry import CODE_LISTS, FIELDS, FUNCTIONS, models_for

__all__ = ["InputError", "check_message", "describe", "problem", "unknown_function", "validate_message"]


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
    return UnknownFunctionError(function_id, closest(function_id, FUNCTIONS, n=3))


def closest(word: str, known: Iterable[str], n: int = 1) -> list[str]:
    """The known words nearest `word` by edit distance (a swap of two neighbours counts one:
    bizh110010 is nearer bizh110001 than bizh110106); none further than a quarter of its length
    (bka999 is not bka019)."""
    limit = max(1, len(word) // 4)
    scored = sorted((edit_distance(word.lower(), each.lower()), each) for each in known)
    return [each for distance, each in scored if distance <= limit][:n]


def edit_distance(a: str, b: str) -> int:
    """Insertions, deletions, substitutions and swaps of neighbours that turn a into b."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        row = [i]
        for j, char_b in enumerate(b, 1):
            cost = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                cost = min(cost, previous2[j - 2] + 1)
            row.append(cost)
        previous2, previous = previous, row
    return previous[-1]


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


def _message(error: Any, known: Iterable[str] = ()) -> str:
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
        near = closest(code, known)
        return "not a field of this message" + (f" (did you mean {near[0]}?)" if near else "")
    if kind == "string_type":
        return "must be text"
    if kind in ("model_type", "dict_type"):  # a row (or message) that is not an object
        return "must be an object of wire codes and values"
    return str(error["msg"])


def describe(error: ValidationError, model: type[BaseModel] | None = None) -> list[FieldProblem]:
    """One FieldProblem per pydantic error: the wire path, code and 中文名, and what is wrong (a
    code that is not the message's: the nearest of `model`'s own, when close)."""
    known = wire_codes(model) if model is not None else []
    problems = []
    for e in error.errors():
        loc = tuple(e["loc"])
        code = str(loc[-1]) if loc and not isinstance(loc[-1], int) else ""
        problems.append(problem(_path(loc), code, _message(e, known)))
    return problems


def wire_codes(model: type[BaseModel]) -> list[str]:
    """Every wire code of a message model, its dataset rows' included."""
    codes: list[str] = []
    for name, info in model.model_fields.items():
        codes.append(info.alias or name)
        codes += [code for row in _models_in(info.annotation) for code in wire_codes(row)]
    return codes


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


# Bidirectional controls (LRM/RLM, ALM, embeddings, overrides, isolates): invisible, and they
# reorder what follows when printed — a U+202E in a fee name prints it reversed on the sheet.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_BIDI_CONTROL = re.compile(f"[{''.join(sorted(BIDI_CONTROLS))}]")  # one C scan a value


def bidi_problems(values: dict[str, Any], prefix: str = "") -> list[FieldProblem]:
    """Text fields holding a bidirectional control character, with where and which one."""
    if not _BIDI_CONTROL.search(_all_text(values)):
        return []  # the usual case: one scan of the whole message, no walk field by field
    problems: list[FieldProblem] = []
    for code, value in values.items():
        path = f"{prefix}{code}"
        if isinstance(value, str):
            found = _BIDI_CONTROL.search(value)
            if found is not None:
                character = ord(found.group())
                problems.append(problem(path, code, f"holds the bidirectional control character "
                                        f"U+{character:04X}, refused: it changes how printed text reads"))
        elif isinstance(value, list):
            for index, row in enumerate(value):
                if isinstance(row, dict):
                    problems.extend(bidi_problems(row, f"{path}[{index}]."))
    return problems


def _all_text(values: dict[str, Any]) -> str:
    """Every text value of a wire-shaped dict and its rows, joined (for one scan)."""
    texts = [value for value in values.values() if isinstance(value, str)]
    texts += [text for rows in values.values() if isinstance(rows, list)
              for row in rows if isinstance(row, dict)
              for text in row.values() if isinstance(text, str)]
    return "\n".join(texts)


def validate_message(function_id: str, part: str, wire: dict[str, Any]) -> BaseModel:
    """Validate a wire-shaped dict (codes as keys) as a function's request or response.

    A request is also refused when a text field holds a bidirectional control character (an
    answer is read as it comes: strict in what we send, tolerant in what we read).
    """
    model = _model(function_id, part)
    hidden = bidi_problems(wire) if part == "request" else []
    try:
        validated = model.model_validate(wire)
    except ValidationError as exc:
        raise InputError(function_id, hidden + describe(exc, model)) from None
    if hidden:
        raise InputError(function_id, hidden)
    return validated


def check_message(function_id: str, part: str, wire: dict[str, Any]) -> None:
    """`validate_message` without building the model: the same checks and the same problems,
    about twice as fast for a 300-row upload (no model object per row). For the paths that only
    need to know the message is valid: the client before sending, the mock, the proxy."""
    model = _model(function_id, part)
    hidden = bidi_problems(wire) if part == "request" else []
    try:
        _checker(model).validate_python(wire)
    except ValidationError as exc:
        raise InputError(function_id, hidden + describe(exc, model)) from None
    if hidden:
        raise InputError(function_id, hidden)


def _model(function_id: str, part: str) -> type[BaseModel]:
    if function_id not in FUNCTIONS:
        raise unknown_function(function_id)
    request_model, response_model = models_for(function_id)
    return request_model if part == "request" else response_model


@cache
def _checker(model: type[BaseModel]) -> SchemaValidator:
    """The model's own core schema with each model node read as a typed dict: the fields,
    aliases, constraints, extra-field rule and error types are the model's, by construction."""
    return SchemaValidator(_as_typed_dicts(model.__pydantic_core_schema__))


def _as_typed_dicts(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_as_typed_dicts(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "model" and not (schema.get("root_model") or schema.get("custom_init")
                                              or schema.get("post_init")):
        return _typed_dict_of(schema)
    return {key: value if key in ("metadata", "serialization", "cls") else _as_typed_dicts(value)
            for key, value in schema.items()}


def _typed_dict_of(model: dict[str, Any]) -> CoreSchema:
    fields = model["schema"]  # model-fields: name -> model-field
    config = model.get("config", {})
    typed: dict[str, Any] = {"type": "typed-dict", "config": config, "fields": {
        name: {"type": "typed-dict-field", "schema": _as_typed_dicts(field["schema"]),
               "required": field["schema"].get("type") != "default",  # a default: optional
               **({"validation_alias": field["validation_alias"]} if "validation_alias" in field else {})}
        for name, field in fields["fields"].items()}}
    extra = fields.get("extra_behavior") or config.get("extra_fields_behavior")
    if extra:
        typed["extra_behavior"] = extra
    if "ref" in model:
        typed["ref"] = model["ref"]
    return typed
