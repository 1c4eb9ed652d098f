"""spec -> JSON Schema (draft 2020-12) for each function's request and response.

Values are text on the wire, so every property is a JSON string whose pattern,
length and enum carry the spec's type. The same schemas feed
datamodel-code-generator (models), the OpenAPI document and generated/schemas/.
"""

from __future__ import annotations

from typing import Any

from codegen.load import Spec
from codegen.resolve import ResolvedField
from codegen.spec_model import Dataset, FunctionSpec, Message

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def class_base(function_id: str) -> str:
    return function_id[0].upper() + function_id[1:]


def camel(name: str) -> str:
    """fundList -> FundList, feeinfo -> Feeinfo, bka801_1 -> Bka8011."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def snake(name: str) -> str:
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return out.lstrip("_")


def dataset_python_name(dataset: Dataset) -> str:
    return f"{snake(dataset.name)}_rows"


def property_schema(field: ResolvedField) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "string",
        "title": f"{field.code} {field.name}",
        "description": f"{field.name} ({field.code}): {field.meaning}",
    }
    if field.length_applies and field.max_length is not None:
        schema["maxLength"] = field.max_length
    if field.length_applies:
        # An empty element means absent on the wire, so a present value has at least 1 character.
        schema["minLength"] = field.min_length or 1
    if field.pattern is not None:
        schema["pattern"] = field.pattern
    if field.closed_values is not None:
        schema["enum"] = list(field.closed_values)
    schema["x-wire-code"] = field.code
    schema["x-type"] = field.type
    if field.code_list:
        schema["x-code-list"] = field.code_list
    if field.pii != "none":
        schema["x-pii"] = field.pii
    schema["x-confidence"] = field.confidence
    return schema


def _object(title: str, description: str, fields: list[ResolvedField]) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "type": "object",
        "properties": {f.code: property_schema(f) for f in fields},
        "required": [f.code for f in fields if f.required],
        "additionalProperties": False,
    }


def row_class_name(function: FunctionSpec, part: str, dataset: Dataset) -> str:
    suffix = "Row"
    if part == "response" and any(d.name == dataset.name for d in function.request.datasets):
        suffix = "ResultRow"
    return f"{class_base(function.function_id)}{camel(dataset.name)}{suffix}"


def message_class_name(function: FunctionSpec, part: str) -> str:
    return f"{class_base(function.function_id)}{'Request' if part == 'request' else 'Response'}"


def message_schemas(spec: Spec, function: FunctionSpec, part: str) -> dict[str, dict[str, Any]]:
    """{class name: schema} for one message and its row types; refs point at $defs."""
    message: Message = getattr(function, part)
    envelope = spec.envelope(part) if part == "response" else []
    scalars = envelope + [spec.resolve(use) for use in message.fields]
    label = "请求" if part == "request" else "应答"
    top = _object(
        message_class_name(function, part),
        f"{function.function_id} {function.name} {label} (spec §{function.section})",
        scalars,
    )
    schemas: dict[str, dict[str, Any]] = {}
    for dataset in message.datasets:
        row_name = row_class_name(function, part, dataset)
        row_fields = [spec.resolve(use) for use in dataset.fields]
        schemas[row_name] = _object(row_name, f"{dataset.name} 行: {dataset.title}", row_fields)
        array: dict[str, Any] = {
            "type": "array",
            "title": f"{dataset.name} {dataset.title}",
            "description": f"{dataset.title} ({dataset.name}): rows of <{dataset.name}>",
            "items": {"$ref": f"#/$defs/{row_name}"},
            "x-dataset": dataset.name,
        }
        if dataset.min_rows:
            array["minItems"] = dataset.min_rows
        if dataset.max_rows is not None:
            array["maxItems"] = dataset.max_rows
        top["properties"][dataset.name] = array
        if dataset.required:
            top["required"].append(dataset.name)
    return {message_class_name(function, part): top, **schemas}


def standalone_schema(spec: Spec, function: FunctionSpec, part: str) -> dict[str, Any]:
    """One self-contained JSON Schema document (generated/schemas/<id>.<part>.json)."""
    schemas = message_schemas(spec, function, part)
    top_name = message_class_name(function, part)
    document = {"$schema": JSON_SCHEMA_DIALECT, **schemas.pop(top_name)}
    if schemas:
        document["$defs"] = schemas
    return document


def module_schema(spec: Spec, function: FunctionSpec) -> dict[str, Any]:
    """Request as the root, response and rows in $defs: one models module per function."""
    request = message_schemas(spec, function, "request")
    response = message_schemas(spec, function, "response")
    root_name = message_class_name(function, "request")
    document = {"$schema": JSON_SCHEMA_DIALECT, **request.pop(root_name)}
    document["$defs"] = {**request, **response}
    return document


def aliases(spec: Spec) -> dict[str, str]:
    """Wire code -> Python attribute name, for every field and dataset."""
    names = {code: definition.python_name for code, definition in spec.fields.items()}
    for function in spec.functions.values():
        for dataset in [*function.request.datasets, *function.response.datasets]:
            names[dataset.name] = dataset_python_name(dataset)
    return dict(sorted(names.items()))
