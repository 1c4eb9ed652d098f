"""JSON <-> the HIS dataclasses through pydantic: one derived model per dataclass, both ways.

`body_model(cls)` is a pydantic model derived from a dataclass of adapter.his.model or bodies.py
(same names, defaults and docstring; the Chinese label of each attribute as its description), with
the gateway's JSON rules as types:
  - names are the attribute names; an unknown one is refused (a typo must not drop a value), a
    missing required one too; null is the same as absent;
  - Decimal: a JSON string of ASCII digits such as "12.50" (the documented form) or a JSON number
    read exactly (the body is parsed with parse_float=Decimal, never through a binary float);
    written as a plain string, never with an exponent;
  - date: "YYYY-MM-DD" in ASCII digits; enum: the member name in lower case ("citizen_id") or its
    value ("aac002"), written as the lower-case name;
  - text, whole numbers and flags are strict: a JSON number is no text (it could lose a leading 0).
`read(cls, data)` validates parsed JSON and returns the dataclass; every problem of one body is
raised together as BodyError, each with its JSON path (`stay.ward.code`, `fees[3].amount`) taken
from pydantic's error location, never from message text. `to_json(result)` writes a result.
The same models give the OpenAPI schemas (openapi.py), so documentation and reading cannot differ.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, fields, is_dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Annotated, Any, TypeVar, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from adapter.errors import BodyError, FieldProblem
from adapter.gateway.labels import labels_of

__all__ = ["BodyError", "Problem", "answer_model", "body_model", "read", "to_json"]

T = TypeVar("T")
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_DECIMAL_TEXT = re.compile(DECIMAL_PATTERN)
_DATE_TEXT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")  # [0-9]: ASCII only, never full-width


Problem = FieldProblem  # a body problem: its JSON path (None: the body as a whole) and message


# --------------------------------------------------------------------------- the JSON rules as types


def _decimal(data: object) -> Decimal:
    if isinstance(data, str) and _DECIMAL_TEXT.match(data):
        return Decimal(data)
    if isinstance(data, Decimal) and data.is_finite():
        return data
    if isinstance(data, int) and not isinstance(data, bool):
        return Decimal(data)
    raise PydanticCustomError("decimal_text", 'must be a decimal number as a string, e.g. "12.50"')


def _date(data: object) -> date:
    if isinstance(data, date):
        return data
    if isinstance(data, str) and _DATE_TEXT.match(data):
        try:
            return date.fromisoformat(data)
        except ValueError:
            pass  # 2019-02-30: the shape is right, the day is not
    raise PydanticCustomError("date_text", 'must be a date "YYYY-MM-DD"')


def _enum_reader(kind: type[Enum]) -> Callable[[object], Enum]:
    by_name = {member.name.lower(): member for member in kind}
    by_value = {str(member.value): member for member in kind}
    choices = ", ".join(by_name)

    def read_member(data: object) -> Enum:
        if isinstance(data, kind):
            return data
        if isinstance(data, str):
            found = by_name.get(data.lower()) or by_value.get(data)
            if found is not None:
                return found
        raise PydanticCustomError("enum_name", "must be one of {choices}", {"choices": choices})

    return read_member


def _extra_value(data: object) -> object:
    """A {wire code: value} extra: text or a number, checked by the HIS mapping against the spec."""
    if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
        raise PydanticCustomError("text_or_number", "must be text or a number")
    return data


Money = Annotated[
    Decimal, BeforeValidator(_decimal), PlainSerializer(lambda value: f"{value:f}", return_type=str),
    WithJsonSchema({"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN,
                    "examples": ["12.50"]}),
]
Day = Annotated[date, BeforeValidator(_date),
                WithJsonSchema({"type": "string", "format": "date", "examples": ["2019-05-08"]})]
Extras = dict[StrictStr, Annotated[object, BeforeValidator(_extra_value),
                                   WithJsonSchema({"type": ["string", "number"]})]]
_SCALARS: dict[object, object] = {str: StrictStr, int: StrictInt, bool: StrictBool, Decimal: Money, date: Day}


def _enum_type(kind: type[Enum]) -> object:
    names = [member.name.lower() for member in kind]
    return Annotated[kind, BeforeValidator(_enum_reader(kind)),
                     PlainSerializer(lambda member: member.name.lower(), return_type=str),
                     WithJsonSchema({"type": "string", "enum": names})]


# --------------------------------------------------------------------------- derived models


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: object) -> object:
        if isinstance(data, Mapping) and None in data.values():
            return {key: value for key, value in data.items() if value is not None}
        return data


_ORIGINS: dict[type[BaseModel], type] = {}


def body_model(cls: type) -> type[BaseModel]:
    """The pydantic model that reads dataclass `cls` from JSON (nested parts come out as their
    dataclasses already, so reading builds each object once)."""
    return _derive(cls, reading=True)


def answer_model(cls: type) -> type[BaseModel]:
    """The pydantic model that writes dataclass `cls` as JSON (from its attributes)."""
    return _derive(cls, reading=False)


@cache
def _derive(cls: type, *, reading: bool) -> type[BaseModel]:
    """One model per dataclass and direction (cached)."""
    hints = typing.get_type_hints(cls)
    labels = labels_of(cls)
    definitions: dict[str, Any] = {}
    for item in fields(cast(Any, cls)):
        if not item.init:
            continue
        options: dict[str, Any] = {"description": labels.get(item.name)}
        if item.default is not MISSING:
            options["default"] = item.default
        elif item.default_factory is not MISSING:
            options["default_factory"] = item.default_factory
        definitions[item.name] = (_annotation(hints[item.name], reading), Field(**options))
    model = create_model(cls.__name__, __base__=_Body, __doc__=cls.__doc__, **definitions)
    _ORIGINS[model] = cls
    return model


def _annotation(hint: object, reading: bool) -> object:
    """The pydantic type of a dataclass attribute's type."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [_annotation(arg, reading) for arg in typing.get_args(hint) if arg is not type(None)]
        if len(members) == 1:
            return members[0] | None  # type: ignore[operator]
        raise TypeError(f"no JSON reading for the union {hint!r}")  # a gateway bug, not bad input
    if isinstance(hint, type) and is_dataclass(hint):
        if reading:
            return Annotated[body_model(hint), AfterValidator(_as_dataclass)]
        return answer_model(hint)
    origin = typing.get_origin(hint)
    if origin in (Sequence, list, tuple):
        return tuple[_annotation(typing.get_args(hint)[0], reading), ...]  # type: ignore[misc]
    if origin in (Mapping, dict):
        return Extras
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _enum_type(hint)
    if hint in _SCALARS:
        return _SCALARS[hint]
    raise TypeError(f"no JSON reading for {hint!r}")


def _as_dataclass(value: BaseModel) -> object:
    """A validated model as the dataclass it was derived from (its parts are dataclasses already)."""
    return _ORIGINS[type(value)](**value.__dict__)


# --------------------------------------------------------------------------- in and out


def read(cls: type[T], data: object) -> T:
    """`data` (parsed JSON) as a `cls` instance; BodyError listing every problem."""
    model = body_model(cast(type, cls))
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        raise BodyError([_problem(model, error) for error in exc.errors()]) from None
    return cast(T, _as_dataclass(validated))


def to_json(value: object) -> Any:
    """A result (dataclass, or the raw call's mapping / sequence / scalar) as JSON-ready data."""
    if is_dataclass(value) and not isinstance(value, type):
        model = answer_model(type(value))
        return model.model_validate(value, from_attributes=True).model_dump(mode="json")
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value


# --------------------------------------------------------------------------- errors by location

_MESSAGES = {
    "missing": "required field missing",
    "string_type": "must be text (a JSON string)",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "tuple_type": "must be a JSON array",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
}


def _problem(model: type[BaseModel], error: ErrorDetails) -> Problem:
    """One pydantic error as a Problem: the path from its location, the text from its type."""
    location = error["loc"]
    path = _path(location)
    kind = error["type"]
    if kind == "extra_forbidden":
        return Problem.at(path, f"not a field of {_owner(model, location[:-1])}")
    if kind in ("model_type", "model_attributes_type"):
        return Problem.at(path or None, f"must be a JSON object ({_owner(model, location)})")
    return Problem.at(path or None, _MESSAGES.get(kind, error["msg"]))


def _path(location: Sequence[int | str]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _owner(model: type[BaseModel], location: Sequence[int | str]) -> str:
    """The name of the dataclass at `location` inside `model` (for "not a field of X")."""
    current: object = model
    for part in location:
        current = _inner(current)
        if isinstance(part, str) and isinstance(current, type) and issubclass(current, BaseModel):
            current = current.model_fields[part].annotation if part in current.model_fields else None
    current = _inner(current)
    return current.__name__ if isinstance(current, type) else "this object"


def _inner(annotation: object) -> object:
    """`X | None` -> X, `tuple[X, ...]` -> X, `Annotated[X, ...]` -> X."""
    while True:
        if typing.get_origin(annotation) is Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None) and arg is not Ellipsis]
        if len(args) != 1:
            return annotation
        annotation = args[0]
