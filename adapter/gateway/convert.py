"""JSON <-> the HIS dataclasses (adapter.his.model and the gateway's bodies), every problem named.

In (`read`): a JSON value -> a dataclass, attribute by attribute, driven by the type hints.
  - names are the dataclass attribute names; an unknown name is refused (a typo must not drop a
    value silently), a missing required one too; null is the same as absent;
  - Decimal: a JSON string such as "12.50" (the documented form) or a JSON number, read exactly
    (the body is parsed with parse_float=Decimal, never through a binary float);
  - date: "YYYY-MM-DD"; enum: the member name in lower case ("citizen_id") or its value ("aac002");
  - sequences: JSON arrays; text fields take JSON strings only (a number could lose a leading 0).
  All problems of one body are collected and raised together as BodyError, each with its JSON path
  (`stay.ward.code`, `fees[3].amount`), so the HIS fixes a request in one round.

Out (`to_json`): a result -> JSON-ready data: Decimal as a string ("12.50", never an exponent),
date as "YYYY-MM-DD", enums by lower-case name, sequences as arrays, None as null.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields, is_dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar, cast

__all__ = ["BodyError", "Problem", "is_required", "read", "to_json", "type_hints", "unwrap"]

T = TypeVar("T")
_DECIMAL_TEXT = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_DATE_TEXT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass(frozen=True)
class Problem:
    """One unusable value: its JSON path (None: the body as a whole) and what is wrong."""

    field: str | None
    message: str


class BodyError(ValueError):
    """A request body (or query string) that does not fit the endpoint's shape."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        texts = (f"{p.field}: {p.message}" if p.field else p.message for p in self.problems)
        super().__init__("; ".join(texts))


# --------------------------------------------------------------------------- type hints


def type_hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a dataclass (the models use `from __future__ import annotations`)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


_HINTS: dict[type, dict[str, Any]] = {}


def unwrap(hint: object) -> tuple[object, bool]:
    """`X | None` -> (X, True); anything else -> (hint, False)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(members) == 1:
            return members[0], True
    return hint, False


def is_required(cls: type, name: str) -> bool:
    """True when the dataclass attribute has no default (the JSON must carry it)."""
    item = next(f for f in fields(cast(Any, cls)) if f.name == name)
    return item.default is MISSING and item.default_factory is MISSING


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# --------------------------------------------------------------------------- JSON -> dataclasses


def read(cls: type[T], data: object) -> T:
    """`data` (parsed JSON) as a `cls` instance; BodyError listing every problem."""
    problems: list[Problem] = []
    value = _read(cls, data, "", problems)
    if problems:
        raise BodyError(problems)
    return cast(T, value)


def _read(hint: object, data: object, path: str, problems: list[Problem]) -> object:
    base, optional = unwrap(hint)
    if data is None:
        if not optional:
            problems.append(Problem(path or None, "must not be null"))
        return None
    if isinstance(base, type) and is_dataclass(base):
        return _read_dataclass(base, data, path, problems)
    origin = typing.get_origin(base)
    if origin is Sequence or origin is list or origin is tuple:
        return _read_sequence(typing.get_args(base)[0], data, path, problems)
    if origin is Mapping or origin is dict:
        return _read_mapping(data, path, problems)
    reader = _SCALARS.get(base) if isinstance(base, type) else None
    if reader is None and isinstance(base, type) and issubclass(base, Enum):
        reader = _enum_reader(base)
    if reader is None:
        raise TypeError(f"{path}: no JSON reader for {base!r}")  # a gateway bug, not bad input
    try:
        return reader(data)
    except ValueError as exc:
        problems.append(Problem(path or None, str(exc)))
        return None


def _read_dataclass(cls: type, data: object, path: str, problems: list[Problem]) -> object:
    if not isinstance(data, Mapping):
        problems.append(Problem(path or None, f"must be a JSON object ({cls.__name__})"))
        return None
    before = len(problems)
    hints = type_hints(cls)
    names = [item.name for item in fields(cast(Any, cls)) if item.init]
    values: dict[str, object] = {}
    for name in names:
        present = data.get(name) is not None
        if present or not is_required(cls, name):
            if present:
                values[name] = _read(hints[name], data[name], _join(path, name), problems)
        else:
            problems.append(Problem(_join(path, name), "required field missing"))
    for unknown in sorted(set(data) - set(names)):
        problems.append(Problem(_join(path, str(unknown)), f"not a field of {cls.__name__}"))
    if len(problems) > before:
        return None
    return cls(**values)


def _read_sequence(item: object, data: object, path: str, problems: list[Problem]) -> object:
    if not isinstance(data, list):
        problems.append(Problem(path or None, "must be a JSON array"))
        return None
    return tuple(_read(item, element, f"{path}[{index}]", problems) for index, element in enumerate(data))


def _read_mapping(data: object, path: str, problems: list[Problem]) -> object:
    """{wire code: value} extras: text or numbers, checked by the HIS mapping against the spec."""
    if not isinstance(data, Mapping):
        problems.append(Problem(path or None, "must be a JSON object"))
        return None
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            problems.append(Problem(_join(path, str(key)), "must be text or a number"))
    return dict(data)


def _text(data: object) -> str:
    if not isinstance(data, str):
        raise ValueError("must be text (a JSON string)")
    return data


def _integer(data: object) -> int:
    if isinstance(data, bool) or not isinstance(data, int):
        raise ValueError("must be a whole number")
    return data


def _decimal(data: object) -> Decimal:
    if isinstance(data, str) and _DECIMAL_TEXT.match(data):
        return Decimal(data)
    if isinstance(data, Decimal) and data.is_finite():
        return data
    if isinstance(data, int) and not isinstance(data, bool):
        return Decimal(data)
    raise ValueError('must be a decimal number as a string, e.g. "12.50"')


def _date(data: object) -> date:
    if isinstance(data, str) and _DATE_TEXT.match(data):
        try:
            return date.fromisoformat(data)
        except ValueError:
            pass  # 2019-02-30: the shape is right, the day is not
    raise ValueError('must be a date "YYYY-MM-DD"')


def _flag(data: object) -> bool:
    if not isinstance(data, bool):
        raise ValueError("must be true or false")
    return data


def _enum_reader(kind: type[Enum]) -> Any:
    by_name = {member.name.lower(): member for member in kind}
    by_value = {str(member.value): member for member in kind}

    def read_member(data: object) -> Enum:
        if isinstance(data, str):
            found = by_name.get(data.lower()) or by_value.get(data)
            if found is not None:
                return found
        raise ValueError(f"must be one of {', '.join(by_name)}")

    return read_member


_SCALARS: dict[type, Any] = {str: _text, int: _integer, Decimal: _decimal, date: _date, bool: _flag}


# --------------------------------------------------------------------------- results -> JSON


def to_json(value: object) -> Any:
    """A result (dataclass, sequence, scalar) as JSON-ready data."""
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: to_json(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.name.lower()
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value

