"""The OpenAPI 3.1 document of the JSON view: POST /functions/{function_id}.

The real wire is one XML endpoint; OpenAPI tools key on path + JSON, so each
function gets a virtual path whose body is the request's fields as JSON.

OpenAPI links document the business flows (and drive stateful tools such as schemathesis).
They are derived from the stage machines of spec.yaml, not listed by hand:

- an *opener* is a state-changing function that opens a business of a machine (its stage rule
  requires only the machine's initial stage) and answers the machine's business key (aaz218);
- the functions of that machine are those whose stage rule names it, plus the queries of the
  spec groups those functions belong to (a query has no stage rule of its own);
- the opener's answer links to each of them that takes the key: as a request field of the same
  code, or through a key selector (bka895 入参类型 = "aaz218", bka896 入参值 = the key) when the
  selector's code list offers the key and the function answers the key back (a business lookup,
  not a person lookup);
- the institution code goes along: a business belongs to the institution that opened it.

A link's requestBody is an object whose values are runtime expressions (`$response.body#/aaz218`)
or constants, merged into the target's body: how schemathesis reads it (OpenAPI itself only says
"a literal value or {expression}").
"""

from __future__ import annotations

from typing import Any

from codegen.load import Spec
from codegen.spec_model import FunctionSpec
from codegen.to_jsonschema import JSON_SCHEMA_DIALECT, message_class_name, message_schemas

ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "description": "A refused call: negative return_code and a message naming the problem",
    "type": "object",
    "properties": {
        "return_code": {"type": "string", "pattern": r"^-[0-9]+$"},
        "return_code_message": {"type": "string", "minLength": 1},
    },
    "required": ["return_code", "return_code_message"],
    "additionalProperties": False,
}


# Key selectors: the request field saying which identifier is sent -> the field carrying it. The
# spec states this pairing only in prose (fields.yaml: bka896 "value of the identifier named by
# bka895"), so it is named here.
KEY_SELECTORS: dict[str, str] = {"bka895": "bka896"}
# A business belongs to one institution; a follow-up call names the institution that opened it.
INSTITUTION_FIELD = "akb020"


def _to_components(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                value.replace("#/$defs/", "#/components/schemas/")
                if key == "$ref" and isinstance(value, str)
                else _to_components(value)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_to_components(item) for item in node]
    return node


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _scalar_codes(function: FunctionSpec, part: str) -> set[str]:
    message = function.request if part == "request" else function.response
    return {use.code for use in message.fields}


def _all_codes(function: FunctionSpec, part: str) -> set[str]:
    message = function.request if part == "request" else function.response
    return _scalar_codes(function, part) | {use.code for d in message.datasets for use in d.fields}


def _machines_of(spec: Spec, function: FunctionSpec) -> set[str]:
    """The stage machines a function works in: its own rule's, or (a query) its group's."""
    if function.stage is not None:
        return {function.stage.machine}
    return {
        other.stage.machine
        for other in spec.functions.values()
        if other.stage is not None and other.group == function.group
    }


def _opens(spec: Spec, function: FunctionSpec) -> str | None:
    """The machine this function opens a business in (its declared `opens`, loader-checked)."""
    del spec
    return function.stage.machine if function.opens and function.stage else None


def _key_body(spec: Spec, target: FunctionSpec, key: str) -> dict[str, str] | None:
    """How `target`'s request takes the business key: its own field, or a key selector."""
    expression = f"$response.body#/{key}"
    requested = _scalar_codes(target, "request")
    if key in requested:
        return {key: expression}
    if key not in _all_codes(target, "response"):
        return None  # it takes identifiers, but does not look businesses up (a person lookup)
    for use in target.request.fields:
        value_field = KEY_SELECTORS.get(use.code)
        code_list = spec.resolve(use).code_list
        if value_field not in requested or code_list is None:
            continue
        if key in {value.code for value in spec.codes[code_list].values}:
            return {use.code: key, value_field: expression}
    return None


def business_links(spec: Spec, opener: FunctionSpec) -> dict[str, Any]:
    """The OpenAPI links of an opener's 200 answer: one per function of its machine taking the key."""
    machine_name = _opens(spec, opener)
    if machine_name is None:
        return {}
    machine = spec.root.stage_machines[machine_name]
    key = machine.business_key
    key_name = spec.fields[key].name
    links: dict[str, Any] = {}
    for target_id, target in sorted(spec.functions.items()):
        if target_id == opener.function_id or _opens(spec, target) is not None:
            continue
        if machine_name not in _machines_of(spec, target):
            continue
        body = _key_body(spec, target, key)
        if body is None:
            continue
        if INSTITUTION_FIELD in _scalar_codes(opener, "request") & _scalar_codes(target, "request"):
            body[INSTITUTION_FIELD] = f"$request.body#/{INSTITUTION_FIELD}"
        links[target_id] = {
            "operationId": target_id,
            "description": (
                f"{key} {key_name} from {opener.function_id} {opener.name} names the {machine_name} "
                f"business in {target_id} {target.name}"
            ),
            "requestBody": body,
        }
    return links


def openapi_document(spec: Spec) -> dict[str, Any]:
    schemas: dict[str, Any] = {"ErrorResponse": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for function_id, function in sorted(spec.functions.items()):
        for part in ("request", "response"):
            schemas.update(_to_components(message_schemas(spec, function, part)))
        request_name = message_class_name(function, "request")
        response_name = message_class_name(function, "response")
        links = business_links(spec, function)
        paths[f"/functions/{function_id}"] = {
            "post": {
                "operationId": function_id,
                "summary": f"{function_id} {function.name}",
                "description": f"§{function.section} {function.title_en}. {function.purpose}",
                "tags": [function.group],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref(request_name)}},
                },
                "responses": {
                    "200": {
                        "description": "The province's answer (success or business refusal)",
                        "content": {
                            "application/json": {
                                "schema": {"anyOf": [_ref(response_name), _ref("ErrorResponse")]}
                            }
                        },
                        **({"links": links} if links else {}),
                    }
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": JSON_SCHEMA_DIALECT,
        "info": {
            "title": f"{spec.root.title} (gdwi JSON view)",
            "version": spec.root.version,
            "description": (
                "JSON view of the XML interface: one virtual path per function_id. "
                f"The real wire is XML POSTed to {spec.root.transport.path}."
            ),
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
