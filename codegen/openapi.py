"""The OpenAPI 3.1 document of the JSON view: POST /functions/{function_id}.

The real wire is one XML endpoint; OpenAPI tools key on path + JSON, so each
function gets a virtual path whose body is the request's fields as JSON.
"""

from __future__ import annotations

from typing import Any

from codegen.load import Spec
from codegen.to_jsonschema import JSON_SCHEMA_DIALECT, message_class_name, message_schemas

ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "description": "A refused call: negative return_code and a message naming the problem",
    "type": "object",
    "properties": {
        "return_code": {"type": "string", "pattern": r"^-\d+$"},
        "return_code_message": {"type": "string", "minLength": 1},
    },
    "required": ["return_code", "return_code_message"],
    "additionalProperties": False,
}


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


def openapi_document(spec: Spec) -> dict[str, Any]:
    schemas: dict[str, Any] = {"ErrorResponse": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for function_id, function in sorted(spec.functions.items()):
        for part in ("request", "response"):
            schemas.update(_to_components(message_schemas(spec, function, part)))
        request_name = message_class_name(function, "request")
        response_name = message_class_name(function, "response")
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
