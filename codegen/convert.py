"""Views for the per-function converters (templates/function.py.j2).

Each field becomes a small record the template turns into straight-line code: how its wire text
is read into a Python value (and what is reported when it deviates, under the answer policy of
spec/spec.yaml) and how a Python value is written as wire text. Like openapi-python-client's
property templates: the kind of a field picks the template code, the spec's facts fill it in.
"""

from __future__ import annotations

from typing import Any

from codegen.load import Spec
from codegen.resolve import ResolvedField
from codegen.spec_model import FunctionSpec, Message
from codegen.to_jsonschema import camel, dataset_python_name

_ANNOTATIONS = {
    "string": "str",
    "code": "str",
    "decimal": "Decimal",
    "integer": "int",
    "date": "dt.date",
    "datetime": "dt.datetime",
}
def _field_view(field: ResolvedField) -> dict[str, Any]:
    from codegen.render import strftime_pattern  # render imports this module: one translation

    kind = field.type
    if kind == "code" and field.closed_values is None:
        kind = "string"  # an open list: other values are expected, not deviations
    whole = None
    if field.type == "decimal":
        assert field.digits is not None and field.scale is not None  # meta-schema checked
        whole = max(field.digits - field.scale, 1)
    return {
        "code": field.code,
        "attr": field.python_name,
        "annotation": _ANNOTATIONS[field.type],
        "kind": kind,
        "required": field.required,
        "needed": field.needed,
        "label": f"{field.code} {field.name}",
        "comment": f"{field.code} {field.name}: {field.meaning}".replace("\n", " "),
        "limit": field.max_length if field.length_applies else None,
        "scale": field.scale,
        "whole": whole,
        "pattern": strftime_pattern(field.format),
        "closed": tuple(field.closed_values) if field.closed_values is not None else None,
        "code_list": field.code_list,
        "alternates": [_alternate(code) for code in field.also_read],
    }


def _alternate(code: str) -> dict[str, Any]:
    """`aka063` (another element) or `payinfo.aaz218` (the first row of a dataset)."""
    dataset, _, inner = code.rpartition(".")
    return {"dataset": dataset or None, "code": inner}


def message_view(spec: Spec, function: FunctionSpec, part: str) -> dict[str, Any]:
    message: Message = getattr(function, part)
    prefix = "Request" if part == "request" else "Answer"
    envelope = spec.envelope(part) if part == "response" else []
    fields = [_field_view(f) for f in envelope + [spec.resolve(u) for u in message.fields]]
    datasets = []
    for dataset in message.datasets:
        rows = [_field_view(spec.resolve(u)) for u in dataset.fields]
        datasets.append({
            "name": dataset.name,
            "title": dataset.title,
            "attr": dataset_python_name(dataset),
            "cls": f"{prefix}{camel(dataset.name)}Row",
            "required": dataset.required,
            "fields": rows,
            "codes": tuple(f["code"] for f in rows),
            "closed_lists": _closed_lists(rows),
        })
    return {
        "part": "request" if part == "request" else "answer",
        "cls": prefix,
        "fields": fields,
        "datasets": datasets,
        "codes": tuple(f["code"] for f in fields) + tuple(d["name"] for d in datasets),
        "closed_lists": _closed_lists(fields),
        "needed": tuple(f["code"] for f in fields if f["needed"]),
    }


def _closed_lists(fields: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    return {f["code_list"]: f["closed"] for f in fields if f["closed"] is not None}


def function_view(spec: Spec, function: FunctionSpec) -> dict[str, Any]:
    request = message_view(spec, function, "request")
    answer = message_view(spec, function, "response")
    lists: dict[str, tuple[str, ...]] = {}
    for message in (request, answer):
        lists.update(message["closed_lists"])
        for dataset in message["datasets"]:
            lists.update(dataset["closed_lists"])
    shapes: set[tuple[int, int]] = set()
    for message in (request, answer):
        for fields in [message["fields"], *(d["fields"] for d in message["datasets"])]:
            shapes.update((f["scale"], f["whole"]) for f in fields if f["kind"] == "decimal")
    return {
        "request": request,
        "answer": answer,
        "closed_lists": dict(sorted(lists.items())),
        "decimal_shapes": sorted(shapes),
        "uses_decimal": bool(shapes),
        "uses_dates": any(
            f["kind"] in ("date", "datetime")
            for message in (request, answer)
            for fields in [message["fields"], *(d["fields"] for d in message["datasets"])]
            for f in fields
        ),
    }
