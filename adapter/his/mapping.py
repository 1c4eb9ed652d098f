"""The HIS layer's mapping engine: HIS objects -> the generated typed requests, typed answers ->
HIS result types, from the declarations of adapter.his.declarations.

Requests: each `*_request` function fills generated.functions.<id>.Request (and its row classes)
from HIS objects along the declared attribute paths, by each wire code's python_name. The HIS
vocabulary becomes the model's: an enum sends its value, a bool flag 1 / 0, a row's position its
number; None and "" are left out. Wire text is written by the generated `build_request` alone (on
the client's typed path, adapter.wire.client), which never rounds: a value a field cannot hold is
an InputError naming the field at its wire path (`feeinfo[350].bka058`).

Answers: the `read_*` functions read the generated typed answers into the HIS result types.
`mapping_table(function_id)` prints the declarations (docs/his-mapping.md is written from it by
`python -m adapter.his.doc`). Every declaration is checked when this module is imported: every
path must exist on the declared HIS types, every code in the function's request or response in
generated/registry. So a spec change that drops a field, or a renamed model attribute, fails at
import, not at the counter.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, fields, is_dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, Literal, TypeVar, cast

from adapter.errors import MappingError
from adapter.his.declarations import (
    MAPPED_FUNCTIONS,
    PASSED_THROUGH,
    PERSONS,
    READINGS,
    REQUESTS,
    SHEET,
    Binding,
    Fixed,
    Position,
    Reading,
    Request,
    Rows,
)
from adapter.his.model import (
    BusinessInfo,
    Discharge,
    FeeItem,
    FeeListLine,
    InpatientStay,
    Institution,
    MedicalRecord,
    Operator,
    OutpatientVisit,
    Patient,
    PersonInfo,
    Registration,
    Settlement,
    SettlementSheet,
)
from adapter.wire.client import converters
from adapter.wire.codec import format_value
from generated.registry import FIELDS, FUNCTIONS

__all__ = [
    "MAPPED_FUNCTIONS",
    "Binding",
    "Fixed",
    "MappingError",
    "Position",
    "Reading",
    "Request",
    "Rows",
    "admission_request",
    "cancellation_request",
    "charge_request",
    "delete_fees_request",
    "discharge_request",
    "fee_list_request",
    "fee_upload_request",
    "lookup_request",
    "mapping_table",
    "medical_record_request",
    "modify_admission_request",
    "presettle_request",
    "read_business",
    "read_fee_list",
    "read_persons",
    "read_registration",
    "read_settlement",
    "read_settlement_sheet",
    "refund_lookup_request",
    "refund_request",
    "registration_request",
    "request_of",
    "settle_request",
    "settlement_sheet_request",
]

T = TypeVar("T")
Typed = Any
"""A generated typed request (generated.functions.<id>.Request): one class per function."""


# --------------------------------------------------------------------------- requests


def lookup_request(function_id: str, patient: Patient) -> Typed:
    """bizh110001 / bizh110102 (outpatient) or bizh120001 / bizh120102 (inpatient) lookups."""
    return _build(function_id, patient=patient)


def registration_request(visit: OutpatientVisit, operator: Operator) -> Typed:
    """bizh110104 门诊挂号 (no fees: registration only)."""
    return _build("bizh110104", visit=visit, operator=operator)


def charge_request(visit_no: str, fees: Sequence[FeeItem], operator: Operator, *, commit: bool) -> Typed:
    """bizh110105 门诊计算并保存费用信息: commit False is the trial (试算), True saves the batch."""
    return _build("bizh110105", visit_no=visit_no, fees=fees, operator=operator, commit=commit)


def refund_lookup_request(visit_no: str, batch_no: int) -> Typed:
    """bizh110103 退费时提取门诊业务信息: the rows of batch `batch_no`, negated, ready to refund."""
    return _build("bizh110103", visit_no=visit_no, batch_no=batch_no)


def refund_request(visit_no: str, refund_rows: Sequence[Any], operator: Operator) -> Typed:
    """bizh110105 with the rows bizh110103 returned (see PASSED_THROUGH), value for value.

    The rows are the typed bizh110103 answer rows, carried over attribute by attribute into
    bizh110105's request rows; its generated build writes them, so a quantity the province
    printed as -4.0000 is sent as -4.00 (same value), and one it cannot carry is refused by name.
    """
    request = charge_request(visit_no, (), operator, commit=True)
    row_class = _row_class(cast(type, type(request)), "feeinfo")
    names = [f.name for f in fields(row_class)]
    rows = tuple(row_class(**{n: getattr(row, n) for n in names if hasattr(row, n)}) for row in refund_rows)
    return replace(request, feeinfo_rows=rows)


def at_spec_scale(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Answer rows made sendable again: a decimal printed with more places than the spec's scale
    (a platform's `-4.0000`) is written at the scale (`-4.00`). Only trailing zeros are dropped;
    a value that would need rounding stays as it is, for request validation to refuse by name."""
    return [{code: _rescaled(code, value) for code, value in row.items()} for row in rows]


def _rescaled(code: str, value: Any) -> Any:
    meta = FIELDS.get(code)
    if meta is None or meta.type != "decimal" or not isinstance(value, str | Decimal):
        return value
    try:
        return format_value(code, Decimal(value))
    except (ArithmeticError, ValueError):  # not a number, or not exact at the scale: as it came
        return value


def admission_request(stay: InpatientStay, operator: Operator) -> Typed:
    """bizh120103 入院登记."""
    return _build("bizh120103", stay=stay, operator=operator)


def modify_admission_request(stay: InpatientStay) -> Typed:
    """bizh120104 入院登记信息修改: the stay's current ward, department, 住院号, bed."""
    return _build("bizh120104", stay=stay)


def fee_upload_request(visit_no: str, fees: Sequence[FeeItem]) -> Typed:
    """bizh120002 校验并保存费用信息: one chunk (the workflow keeps it ≤ SPEC.fee_rows_per_call)."""
    return _build("bizh120002", visit_no=visit_no, fees=fees)


def delete_fees_request(visit_no: str) -> Typed:
    """bizh120004 删除本次住院业务的所有费用明细."""
    return _build("bizh120004", visit_no=visit_no)


def presettle_request(visit_no: str, scene: str) -> Typed:
    """bizh120003 校验并计算费用信息 (预结算); scene 业务场景阶段 1 开始, 2 结算, 3 结束."""
    return _build("bizh120003", visit_no=visit_no, scene=scene)


def discharge_request(visit_no: str, discharge: Discharge, operator: Operator) -> Typed:
    """bizh120105 出院登记."""
    return _build("bizh120105", visit_no=visit_no, discharge=discharge, operator=operator)


def settle_request(visit_no: str, operator: Operator) -> Typed:
    """bizh120106 出院结算."""
    return _build("bizh120106", visit_no=visit_no, operator=operator)


def cancellation_request(function_id: str, visit_no: str, operator: Operator | None = None) -> Typed:
    """A reversal (bizh110106, bizh120004, bizh120107, bizh120108, bizh120109) of `visit_no`.

    Only bizh110106 names the operator; the inpatient reversals need the visit number alone.
    """
    roots: dict[str, object] = {"visit_no": visit_no}
    if "operator" in REQUESTS[function_id].roots:
        if operator is None:
            raise MappingError(f"{function_id}: needs the operator (登记人工号 / 登记人姓名)")
        roots["operator"] = operator
    return _build(function_id, **roots)


def fee_list_request(visit_no: str, grouping: str | None) -> Typed:
    """bizh120113 费用清单信息提取; grouping 明细分组 0 by category, 1 by name, 2 / None all."""
    return _build("bizh120113", visit_no=visit_no, grouping=grouping)


def settlement_sheet_request(visit_no: str) -> Typed:
    """bizh120206 结算信息提取."""
    return _build("bizh120206", visit_no=visit_no)


def medical_record_request(function_id: str, record: MedicalRecord, institution: Institution) -> Typed:
    """bizh200101 … bizh200106: one part of the front-page set."""
    return _build(function_id, record=record, institution=institution)


def request_of(function_id: str, **roots: object) -> Typed:
    """The declared request of any mapped function, filled from the HIS objects named as in its
    declaration's roots (`request_of("bizh120106", visit_no=..., operator=...)`): a new
    transaction needs its declaration only, no function here."""
    if function_id not in REQUESTS:
        mapped = ", ".join(MAPPED_FUNCTIONS)
        raise MappingError(f"{function_id}: not mapped by the HIS layer (mapped: {mapped})")
    missing = sorted(set(REQUESTS[function_id].roots) - set(roots))
    if missing:
        raise MappingError(f"{function_id}: needs {', '.join(missing)}")
    return _build(function_id, **roots)


def _build(function_id: str, **roots: object) -> Typed:
    """The declared request of `function_id` filled from the HIS objects in `roots`."""
    declared = REQUESTS[function_id]
    model = converters(function_id).Request
    values = _values(declared.fields, lambda path: _resolve(path, roots))
    for name, rows in declared.datasets.items():
        items = cast(Sequence[object], _resolve(rows.source, roots) or ())
        row_class = _row_class(model, name)
        values[model.DATASETS[name]] = tuple(row_class(**_values(rows.fields, _on(item), position))
                                             for position, item in enumerate(items, start=1))
    if declared.extra is not None:
        _add_extra(function_id, values, _resolve(declared.extra, roots))
    return model(**values)


def _values(
    bindings: Mapping[str, Binding], lookup: Callable[[str], object], position: int = 0,
) -> dict[str, Any]:
    """One message or row as the model's attributes (python_name -> value), absent ones left out."""
    values: dict[str, Any] = {}
    for code, binding in bindings.items():
        if isinstance(binding, Fixed):
            value: object = binding.value
        elif isinstance(binding, Position):
            value = position
        else:
            value = lookup(binding)
        value = _model_value(value)
        if value is not None:
            values[FIELDS[code].python_name] = value
    return values


@cache
def _row_class(model: type, dataset: str) -> type:
    """The generated row class of `dataset` in a typed request (its tuple's item type)."""
    hint = typing.get_type_hints(model)[model.DATASETS[dataset]]  # type: ignore[attr-defined]
    return cast(type, typing.get_args(hint)[0])


def _on(item: object) -> Callable[[str], object]:
    """Paths inside a dataset row are relative to the row's HIS item."""
    return lambda path: _walk(item, path.split("."))


def _resolve(path: str, roots: Mapping[str, object]) -> object:
    """'stay.ward.code' -> roots['stay'].ward.code; None as soon as a step is None."""
    first, *rest = path.split(".")
    return _walk(roots[first], rest)


def _walk(value: object, names: Sequence[str]) -> object:
    for name in names:
        if value is None:
            return None
        value = getattr(value, name)
    return value


def _model_value(value: object) -> object:
    """A HIS value as the typed model takes it (None: leave the field out): an enum sends its
    value, a bool flag 1 / 0; Decimal, date, int and text stay as they are (the generated build
    writes them)."""
    if value is None or value == "":
        return None
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool):
        return "1" if value else "0"
    return value


def _add_extra(function_id: str, values: dict[str, Any], extra: object) -> None:
    """The HIS's {wire code: value} extras; a code that is not a request field is refused."""
    if not extra:
        return
    allowed = {use.code for use in FUNCTIONS[function_id].request.fields}
    for code, value in cast(Mapping[str, object], extra).items():
        if code not in allowed:
            raise MappingError(f"{function_id}: extra field {code!r} is not a field of this request")
        name = FIELDS[code].python_name
        if name in values:
            raise MappingError(f"{function_id}: extra field {code} is already filled from a named attribute")
        model_value = _model_value(value)
        if model_value is not None:
            values[name] = model_value


# --------------------------------------------------------------------------- answers


def read_persons(answer: Any) -> list[PersonInfo]:
    """personinfo rows of bizh110001 / bizh120001 (their typed answers)."""
    return _read_rows(PERSONS, answer)


def read_business(function_id: str, answer: Any) -> list[BusinessInfo]:
    """bizinfo rows of bizh110102 / bizh120102."""
    return _read_rows(cast(Reading[BusinessInfo], READINGS[function_id]), answer)


def read_registration(function_id: str, answer: Any) -> Registration:
    """The 就医登记号 of bizh110104 / bizh120103."""
    return _read_one(cast(Reading[Registration], READINGS[function_id]), answer)


def read_settlement(function_id: str, answer: Any) -> Settlement:
    """Amounts of bizh110105 (first payinfo row) or bizh120003 / bizh120105 / bizh120106."""
    reading = cast(Reading[Settlement], READINGS[function_id])
    if reading.dataset is None:
        return _read_one(reading, answer)
    rows = _read_rows(reading, answer)
    if not rows:
        raise MappingError(f"{function_id}: the answer has no {reading.dataset} row")
    return rows[0]


def read_fee_list(answer: Any) -> list[FeeListLine]:
    """list rows of bizh120113."""
    return _read_rows(cast(Reading[FeeListLine], READINGS["bizh120113"]), answer)


def read_settlement_sheet(answer: Any) -> SettlementSheet:
    """bizh120206: header and fundList matrix."""
    return _read_one(SHEET, answer)


def _read_one(reading: Reading[T], source: object, whole: object | None = None) -> T:
    """One result from a typed answer (or one of its rows): attributes by the fields' python_name."""
    hints = _hints(reading.result)
    values: dict[str, object] = {}
    for attribute, code in reading.fields.items():
        value = getattr(source, FIELDS[code].python_name, None)
        if value is not None and value != "":
            values[attribute] = _coerce(code, value, hints[attribute])
    for attribute, nested in reading.lists.items():
        values[attribute] = tuple(_read_rows(nested, whole if whole is not None else source))
    lacking = [reading.fields.get(name, name) for name in _required(cast(type, reading.result))
               if name not in values]
    if lacking:
        raise MappingError(f"the answer lacks {', '.join(_code_label(code) for code in lacking)}")
    return cast(Callable[..., T], reading.result)(**values)


def _read_rows(reading: Reading[T], answer: object) -> list[T]:
    attribute = getattr(type(answer), "DATASETS", {}).get(reading.dataset or "")
    rows: Sequence[object] = getattr(answer, attribute) if attribute else ()
    return [_read_one(reading, row, answer) for row in rows]


def _coerce(code: str, value: object, hint: object) -> object:
    """A typed answer value -> the result attribute's type (text results get wire text)."""
    if isinstance(value, str):
        return _parse(code, value, hint)
    kind = _base_type(hint)
    if kind is str:
        return format_value(code, value) if isinstance(value, date) else str(value)
    if kind is Decimal and isinstance(value, int):
        return Decimal(value)
    return value


@cache
def _required(result: type) -> tuple[str, ...]:
    """Attributes of a result type without a default: an answer must supply them."""
    return tuple(f.name for f in fields(result) if f.default is MISSING and f.default_factory is MISSING)


def _code_label(code: str) -> str:
    return f"{code} {FIELDS[code].name}" if code in FIELDS else code


def _parse(code: str, text: str, hint: object) -> object:
    """Wire text -> the result attribute's type (Decimal, date, int or text)."""
    kind = _base_type(hint)
    if kind is Decimal:
        return Decimal(text)
    if kind is date:
        pattern = (FIELDS[code].strftime if code in FIELDS else None) or "%Y%m%d"
        return datetime.strptime(text, pattern).date()
    if kind is int:
        return int(text)
    return text


def _base_type(hint: object) -> object:
    """`X | None` -> X; anything else unchanged."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return members[0] if len(members) == 1 else hint
    return hint


def _hints(cls: type) -> dict[str, Any]:
    return _cached_hints(cls)


@cache
def _cached_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


# --------------------------------------------------------------------------- the mapping table

Part = Literal["request", "response"]


def mapping_table(function_id: str, part: Part | None = None) -> list[tuple[str, str, str]]:
    """(HIS field, wire code, 中文名) rows of one transaction, request rows first.

    Derived from the declarations above and generated.registry.FIELDS. Request rows name the HIS
    path (`stay.ward.code`, `fees[].amount`, `= 42` for a fixed value); response rows name the
    result attribute (`Settlement.total`). Dataset fields are written `feeinfo[].ake005`.
    """
    if function_id not in REQUESTS:
        mapped = ", ".join(MAPPED_FUNCTIONS)
        raise MappingError(f"{function_id}: not mapped by the HIS layer (mapped: {mapped})")
    rows: list[tuple[str, str, str]] = []
    if part in (None, "request"):
        rows.extend(_request_table(REQUESTS[function_id]))
    if part in (None, "response"):
        rows.extend(_response_table(function_id))
    return rows


def _request_table(request: Request) -> list[tuple[str, str, str]]:
    rows = [(_label(binding, ""), code, FIELDS[code].name) for code, binding in request.fields.items()]
    for name, dataset in request.datasets.items():
        rows.extend((_label(binding, f"{dataset.source}[]"), f"{name}[].{code}", FIELDS[code].name)
                    for code, binding in dataset.fields.items())
    if request.extra is not None:
        rows.append((f"{request.extra}[code]", "(any other request field, by code)", "其他字段"))
    return rows


def _label(binding: Binding, row: str) -> str:
    if isinstance(binding, Fixed):
        return f"= {binding.value}"
    if isinstance(binding, Position):
        return f"{row} position (1, 2, …)"
    return f"{row}.{binding}" if row else binding


def _response_table(function_id: str) -> list[tuple[str, str, str]]:
    if function_id in PASSED_THROUGH:
        name = PASSED_THROUGH[function_id]
        title = next(d.title for d in FUNCTIONS[function_id].response.datasets if d.name == name)
        return [("(passed on unchanged to bizh110105)", f"{name}[]", title)]
    reading = READINGS.get(function_id)
    return _reading_table(reading, reading.result.__name__) if reading is not None else []


def _reading_table(reading: Reading[Any], owner: str) -> list[tuple[str, str, str]]:
    prefix = f"{reading.dataset}[]." if reading.dataset else ""
    rows = [(f"{owner}.{attribute}", f"{prefix}{code}", FIELDS[code].name)
            for attribute, code in reading.fields.items()]
    for attribute, nested in reading.lists.items():
        rows.extend(_reading_table(nested, f"{owner}.{attribute}[]"))
    return rows


# --------------------------------------------------------------------------- import-time checks


def _check_request(request: Request) -> None:
    """Every code in the function's request, every path an attribute chain of the HIS types."""
    meta = FUNCTIONS.get(request.function_id)
    if meta is None:
        raise MappingError(f"{request.function_id}: not a function of the spec")
    where = request.function_id
    _check_codes(where, request.fields, {use.code for use in meta.request.fields})
    for binding in request.fields.values():
        if isinstance(binding, str):
            _path_type(where, request.roots[binding.split(".")[0]], binding.split(".")[1:], binding)
    datasets = {dataset.name: dataset for dataset in meta.request.datasets}
    for name, rows in request.datasets.items():
        if name not in datasets:
            raise MappingError(f"{where}: {name} is not a dataset of the request")
        _check_codes(f"{where}.{name}", rows.fields, {use.code for use in datasets[name].fields})
        source = rows.source.split(".")
        item = _item_type(where, _path_type(where, request.roots[source[0]], source[1:], rows.source))
        for binding in rows.fields.values():
            if isinstance(binding, str):
                _path_type(where, item, binding.split("."), binding)
    if request.extra is not None:
        extra = request.extra.split(".")
        _path_type(where, request.roots[extra[0]], extra[1:], request.extra)


def _check_reading(function_id: str, reading: Reading[Any], fields_of: dict[str, set[str]]) -> None:
    codes = fields_of.get(reading.dataset or "")
    if codes is None:
        raise MappingError(f"{function_id}: {reading.dataset} is not a dataset of the response")
    attributes = {item.name for item in fields(cast(Any, reading.result))}
    for attribute, code in {**reading.fields, **dict.fromkeys(reading.lists, "")}.items():
        if attribute not in attributes:
            raise MappingError(f"{function_id}: {reading.result.__name__} has no attribute {attribute}")
        if code and code not in codes:
            raise MappingError(f"{function_id}: {code} is not a field of the response "
                               f"{reading.dataset or ''}".rstrip())
    for nested in reading.lists.values():
        _check_reading(function_id, nested, fields_of)


def _response_fields(function_id: str) -> dict[str, set[str]]:
    """'' -> the response's scalar codes; dataset name -> its row codes."""
    response = FUNCTIONS[function_id].response
    codes = {"": {use.code for use in response.fields}}
    codes.update({dataset.name: {use.code for use in dataset.fields} for dataset in response.datasets})
    return codes


def _check_codes(where: str, bindings: Mapping[str, Binding], allowed: set[str]) -> None:
    unknown = sorted(set(bindings) - allowed)
    if unknown:
        raise MappingError(f"{where}: {', '.join(unknown)} not in the spec's message")


def _path_type(where: str, start: object, names: Sequence[str], path: str) -> object:
    """The type at the end of an attribute chain; MappingError naming the broken step."""
    current = start
    for name in names:
        owner = _base_type(current)
        if not (isinstance(owner, type) and is_dataclass(owner)):
            raise MappingError(f"{where}: {path}: {name!r} follows a value that has no attributes")
        hints = _hints(owner)
        if name not in hints:
            raise MappingError(f"{where}: {path}: {owner.__name__} has no attribute {name!r}")
        current = hints[name]
    return current


def _item_type(where: str, hint: object) -> object:
    hint = _base_type(hint)
    if typing.get_origin(hint) is not Sequence or not typing.get_args(hint):
        raise MappingError(f"{where}: a dataset source must be a Sequence[...] of HIS items, got {hint}")
    return typing.get_args(hint)[0]


def _check_all() -> None:
    for request in REQUESTS.values():
        _check_request(request)
    for function_id, reading in READINGS.items():
        _check_reading(function_id, reading, _response_fields(function_id))


_check_all()
