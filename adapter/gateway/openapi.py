"""The gateway's OpenAPI 3.1 document, built from the endpoint table, and its /docs page.

Built, not hand-written: the HIS endpoints come from endpoints.ENDPOINTS, their JSON schemas are
pydantic's schemas of the models convert.py validates with (derived from bodies.py and
adapter.his.model), the body-field ->
wire code -> 中文名 tables from adapter.his.mapping (`x-his-mapping`), and the raw
`/functions/{function_id}` operations from generated/openapi.json (requests as generated, with
akb020 optional because the gateway fills it; answers and errors as the gateway returns them). So
the document cannot drift from what the gateway does.

`/docs` is one self-contained HTML page rendered from that document: no script, no stylesheet or
font from elsewhere (hospital intranets have no internet); operations link to a table per schema.
"""

from __future__ import annotations

import copy
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any

from pydantic.json_schema import models_json_schema

from adapter.gateway.bodies import NoBody
from adapter.gateway.convert import body_model
from adapter.gateway.endpoints import ENDPOINTS, Endpoint
from adapter.gateway.errors import STATUS
from adapter.his.mapping import mapping_table
from generated.registry import LOGIN, SPEC

__all__ = ["build_document", "docs_html"]

REF = "#/components/schemas/"
JSON = "application/json"
ERROR_SCHEMA = "GatewayError"
STATUS_TEXT = {
    400: "input: the request does not fit; `fields` name each value (body path, wire code, 中文名)",
    401: "unauthorized: missing or wrong bearer token",
    404: "not_found: no such endpoint or function_id",
    405: "method_not_allowed: the path exists, not with this method (`Allow` lists the methods)",
    409: "compensated / compensation_failed: a later step failed and the province side was undone "
         "(or the undoing failed too: both errors given); unresolved_entry: an earlier change here has "
         "no known outcome (journal_id), nothing sent; idempotency_conflict / idempotency_in_progress: "
         "the Idempotency-Key belongs to another call, or its first call has not finished",
    422: "business / amount_mismatch / workflow: refused; nothing changed at the province",
    502: "transport / session / contract: the province could not be reached (nothing sent) or "
         "answered outside the spec",
    503: "province_login_failed / journal_unavailable: the gateway's own province login fails, or its "
         "journal refuses writes; nothing was sent",
    504: "outcome_unknown: sent, no usable answer; `journal_id` given: run `gdwi journal recover`",
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Send the call again with the same key when unsure it arrived: the same call replays the "
                   "saved answer (Idempotent-Replayed: true) and sends nothing; another call is a 409.",
}
INTRO = """\
The hospital's HIS calls one endpoint per business step, in HIS words (docs/his-mapping.md), and
never sees XML. Every endpoint except /docs and /openapi.json needs `Authorization: Bearer <token>`.

Conventions: JSON bodies in UTF-8; money as decimal strings ("12.50"), dates as "YYYY-MM-DD",
identifier kinds by name (person_no, citizen_id, card_no, visit_no, hospital_no). The visit or
stay number (就医登记号, the `visit_no` a registration or admission returns) is the URL's {visit} /
{stay}. Unknown body fields are refused, so a typo cannot drop a value.

A call returns once the province has committed the step; the HIS then stores the result. A HIS
that cannot store it undoes the step with the cancel endpoint (or refunds a charge).

Errors are one JSON shape: {"error", "function_id", "return_code", "message", "fields": [{"field",
"code", "name", "message"}]}; the status says what to do (below, per operation)."""

# --------------------------------------------------------------------------- schemas from the models


class _Schemas:
    """JSON Schemas of the models convert.py reads and writes with, collected as components
    (pydantic's own JSON Schema of the very models that validate the bodies)."""

    def __init__(self, classes: Iterable[type]) -> None:
        models = list(dict.fromkeys(body_model(cls) for cls in classes))
        refs, definitions = models_json_schema([(model, "validation") for model in models],
                                               ref_template=REF + "{model}")
        self._refs = {model.__name__: ref for (model, _), ref in refs.items()}
        self.components: dict[str, Any] = definitions.get("$defs", {})
        for schema in self.components.values():
            schema.pop("title", None)
            for prop in schema.get("properties", {}).values():
                prop.pop("title", None)

    def ref(self, cls: type) -> dict[str, Any]:
        return dict(self._refs[cls.__name__])

    def properties(self, cls: type) -> dict[str, Any]:
        return dict(self.components[cls.__name__].get("properties", {}))


# --------------------------------------------------------------------------- the document


def build_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document: HIS endpoints, then raw /functions/{function_id}."""
    schemas = _Schemas(cls for e in ENDPOINTS for cls in (e.body_type, e.result_type))
    paths: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, schemas)
    generated = _generated()
    paths.update(_raw_paths(generated))
    components = {**schemas.components, ERROR_SCHEMA: _error_schema(),
                  "GatewayFieldError": _field_error_schema(), **_raw_components(generated)}
    return {
        "openapi": "3.1.0",
        "info": {"title": "gdwi HIS gateway", "version": SPEC.version, "description": INTRO},
        "tags": [{"name": "outpatient", "description": "门诊"}, {"name": "inpatient", "description": "住院"},
                 {"name": "medical-record", "description": "病案首页"},
                 {"name": "functions", "description": "raw transactions by wire code"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


def _operation(endpoint: Endpoint[Any], schemas: _Schemas) -> dict[str, Any]:
    ids = list(dict.fromkeys(endpoint.function_ids))
    operation: dict[str, Any] = {
        "operationId": endpoint.run.__name__,
        "summary": endpoint.summary,
        "description": " ".join(filter(None, [endpoint.description, f"Transactions: {', '.join(ids)}."])),
        "tags": [endpoint.tag],
        "parameters": _parameters(endpoint, schemas),
        "responses": {"200": _content("accepted", schemas.ref(endpoint.result_type)),
                      **_error_responses((401, 503, *endpoint.statuses,
                                          *(() if endpoint.method == "GET" else (409,))))},
        "x-function-ids": ids,
        "x-his-mapping": _his_mapping(ids),
    }
    if endpoint.method != "GET" and endpoint.body_type is not NoBody:
        body = schemas.ref(endpoint.body_type)
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    return operation


def _parameters(endpoint: Endpoint[Any], schemas: _Schemas) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    if endpoint.key_name is not None:
        parameters.append({"name": endpoint.key_name, "in": "path", "required": True,
                           "schema": {"type": "string", "maxLength": 20},
                           "description": "就医登记号 (visit_no) from the registration / admission"})
    if endpoint.method != "GET":
        parameters.append(IDEMPOTENCY_KEY)
    if endpoint.method == "GET":
        parameters.extend({"name": name, "in": "query", "required": False, "schema": schema}
                          for name, schema in schemas.properties(endpoint.body_type).items())
    return parameters


def _his_mapping(function_ids: Iterable[str]) -> list[dict[str, str]]:
    """Body field -> wire code -> 中文名, per transaction (docs/his-mapping.md's request rows)."""
    return [{"function_id": function_id, "field": his_field, "code": code, "name": name}
            for function_id in function_ids
            for his_field, code, name in mapping_table(function_id, "request")]


def _content(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error_responses(statuses: Iterable[int]) -> dict[str, Any]:
    return {str(status): _content(STATUS_TEXT[status], {"$ref": REF + ERROR_SCHEMA})
            for status in sorted(set(statuses))}


def _error_schema() -> dict[str, Any]:
    text_or_null = {"type": ["string", "null"]}
    return {
        "type": "object",
        "description": "Every error: kind, the transaction and return code when the province answered, "
                       "a message (citizen IDs masked) and field details for input errors.",
        "properties": {
            "error": {"type": "string", "enum": sorted(STATUS)},
            "function_id": text_or_null, "return_code": text_or_null, "message": {"type": "string"},
            "fields": {"type": "array", "items": {"$ref": REF + "GatewayFieldError"}},
            "journal_id": {"type": ["integer", "null"], "description": "outcome_unknown: the journal entry"},
            "hint": {"type": "string"}, "notes": {"type": "array", "items": {"type": "string"}},
            "visit_no": {"type": "string"},
            "original": {"$ref": REF + ERROR_SCHEMA, "description": "409: the failure that was compensated"},
            "compensations": {"type": "array", "items": {"type": "string"},
                              "description": "compensated: the reversals sent, all accepted"},
            "compensation": {"$ref": REF + ERROR_SCHEMA,
                             "description": "compensation_failed: the reversal that failed"},
            "completed": {"type": "array", "items": {"type": "string"}},
            "uploaded_rows": {"type": "integer"}, "total_rows": {"type": "integer"},
        },
        "required": ["error", "function_id", "return_code", "message", "fields"],
    }


def _field_error_schema() -> dict[str, Any]:
    text_or_null = {"type": ["string", "null"]}
    return {
        "type": "object",
        "description": "One refused value: its body path, wire code and 中文名 (when known), and why.",
        "properties": {"field": text_or_null, "code": text_or_null, "name": text_or_null,
                       "message": {"type": "string"}},
        "required": ["field", "code", "name", "message"],
    }


# --------------------------------------------------------------------------- raw functions


def _generated() -> dict[str, Any]:
    text = resources.files("generated").joinpath("openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def _raw_paths(generated: Mapping[str, Any]) -> dict[str, Any]:
    """POST /functions/{id} per function except the login (the gateway logs in itself)."""
    paths: dict[str, Any] = {}
    for path, item in generated["paths"].items():
        if path.endswith("/" + LOGIN):
            continue
        operation = copy.deepcopy(item["post"])
        answer = operation["responses"]["200"]["content"][JSON]["schema"]
        success = answer["anyOf"][0] if "anyOf" in answer else answer
        operation["tags"] = ["functions"]
        operation["description"] = (operation.get("description", "") + " Wire codes as keys, values as "
                                    "text; akb020 defaults to the gateway's institution.").strip()
        operation["responses"] = {"200": _content("the province's answer", success),
                                  **_error_responses((400, 401, 404, 409, 422, 502, 503, 504))}
        operation["parameters"] = [*operation.get("parameters", []), IDEMPOTENCY_KEY]
        paths[path] = {"post": operation}
    return paths


def _raw_components(generated: Mapping[str, Any]) -> dict[str, Any]:
    """The generated schemas minus the login's and the wire's failure envelope (a refusal is a 422
    here); akb020 optional in requests because the gateway fills it in."""
    components: dict[str, Any] = {}
    for name, schema in generated["components"]["schemas"].items():
        if name.lower().startswith(LOGIN) or name == "ErrorResponse":
            continue
        schema = copy.deepcopy(schema)
        if name.endswith("Request") and "akb020" in schema.get("required", []):
            schema["required"] = [code for code in schema["required"] if code != "akb020"]
        components[name] = schema
    return components


# --------------------------------------------------------------------------- the /docs page

STYLE = """
body{font-family:system-ui,"Microsoft YaHei","PingFang SC",sans-serif;margin:0 auto;max-width:72rem;
padding:1rem 2rem;color:#1d2330;line-height:1.45}
h1{border-bottom:2px solid #2b5aa8}h2{margin-top:2.5rem;border-bottom:1px solid #ccd}
h3{margin:1.6rem 0 .4rem}code,.m{font-family:Consolas,"Courier New",monospace}
.m{display:inline-block;min-width:4.2rem;color:#fff;background:#2b5aa8;padding:0 .4rem;border-radius:3px}
.GET{background:#2e7d32}.DELETE{background:#b23b3b}
table{border-collapse:collapse;margin:.4rem 0 1rem;font-size:.92rem}
td,th{border:1px solid #ccd;padding:.2rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f7}pre{white-space:pre-wrap;background:#f6f7fa;padding:.6rem;border-radius:4px}
details{margin:.3rem 0}summary{cursor:pointer}.op{border-left:3px solid #2b5aa8;padding-left:1rem}
"""


def docs_html(document: Mapping[str, Any]) -> str:
    """The /docs page: every operation and schema of `document`, no external resource."""
    info = document["info"]
    schemas = document["components"]["schemas"]
    operations = [(path, method, op)
                  for path, item in document["paths"].items() for method, op in item.items()]
    his = [entry for entry in operations if "functions" not in entry[2]["tags"]]
    raw = [entry for entry in operations if "functions" in entry[2]["tags"]]
    parts = [
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(info['title'])}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(info['title'])} <small>(spec {_e(info['version'])})</small></h1>",
        f"<pre>{_e(info['description'])}</pre>",
        "<p>Machine-readable: <a href=\"openapi.json\">openapi.json</a>.</p>",
        "<h2>HIS endpoints</h2>", _index(his),
        *(_operation_html(path, method, op) for path, method, op in his),
        "<h2>Raw transactions: POST /functions/{function_id}</h2>",
        "<p>Wire codes in, wire codes out (the province's own names), through the same client: "
        "validation, journal, session. The login (sys0001) is not callable: the gateway logs in itself.</p>",
        *(_raw_html(path, op) for path, _, op in raw),
        "<h2>Schemas</h2>",
        *(_schema_html(name, schema) for name, schema in schemas.items()),
        "</body></html>",
    ]
    return "\n".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _index(operations: Sequence[tuple[str, str, Any]]) -> str:
    items = "".join(f"<li><a href=\"#{_e(op['operationId'])}\"><span class=\"m {method.upper()}\">"
                    f"{method.upper()}</span> <code>{_e(path)}</code></a> {_e(op['summary'])}</li>"
                    for path, method, op in operations)
    return f"<ul>{items}</ul>"


def _operation_html(path: str, method: str, op: Mapping[str, Any]) -> str:
    parts = [f"<div class=\"op\"><h3 id=\"{_e(op['operationId'])}\"><span class=\"m {method.upper()}\">"
             f"{method.upper()}</span> <code>{_e(path)}</code></h3>",
             f"<p><b>{_e(op['summary'])}</b></p><p>{_e(op.get('description', ''))}</p>"]
    if op.get("parameters"):
        rows = [(f"<code>{_e(p['name'])}</code> ({_e(p['in'])})", _type_html(p["schema"]),
                 _e(p.get("description", ""))) for p in op["parameters"]]
        parts.append(_table(("parameter", "type", "meaning"), rows))
    if "requestBody" in op:
        parts.append(f"<p>Body: {_type_html(op['requestBody']['content'][JSON]['schema'])}</p>")
    mapping = op.get("x-his-mapping") or []
    if mapping:
        lines = [(_e(row["function_id"]), f"<code>{_e(row['field'])}</code>",
                  f"<code>{_e(row['code'])}</code>", _e(row["name"])) for row in mapping]
        parts.append("<details><summary>body field → wire code → 中文名</summary>"
                     + _table(("transaction", "body field", "wire code", "中文名"), lines) + "</details>")
    parts.append(_responses_html(op["responses"]))
    parts.append("</div>")
    return "".join(parts)


def _raw_html(path: str, op: Mapping[str, Any]) -> str:
    body = op["requestBody"]["content"][JSON]["schema"]
    return (f"<details id=\"{_e(op['operationId'])}\"><summary><code>POST {_e(path)}</code> "
            f"{_e(op['summary'])}</summary><p>{_e(op.get('description', ''))}</p>"
            f"<p>Body: {_type_html(body)}</p>{_responses_html(op['responses'])}</details>")


def _responses_html(responses: Mapping[str, Any]) -> str:
    rows = [(_e(status), _type_html(answer["content"][JSON]["schema"]), _e(answer["description"]))
            for status, answer in responses.items()]
    return _table(("status", "body", "meaning"), rows)


def _schema_html(name: str, schema: Mapping[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = [(f"<code>{_e(prop)}</code>", _type_html(sub), "yes" if prop in required else "",
             _e(sub.get("title") or sub.get("description") or ""))
            for prop, sub in schema.get("properties", {}).items()]
    return (f"<h3 id=\"schema-{_e(name)}\">{_e(name)}</h3><pre>{_e(schema.get('description', ''))}</pre>"
            + _table(("field", "type", "required", "meaning"), rows))


def _type_html(schema: Mapping[str, Any]) -> str:
    """A schema as short text: links for references, `| null` for optional values."""
    if "$ref" in schema:
        name = str(schema["$ref"]).removeprefix(REF)
        return f"<a href=\"#schema-{_e(name)}\">{_e(name)}</a>"
    if "anyOf" in schema:
        return " | ".join(_type_html(option) for option in schema["anyOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type_html(schema.get('items', {}))}"
    text = " | ".join(kind) if isinstance(kind, list) else str(kind)
    if "format" in schema:
        text += f" ({schema['format']})"
    if "enum" in schema:
        text += ": " + ", ".join(str(value) for value in schema["enum"])
    if "maxLength" in schema:
        text += f", ≤ {schema['maxLength']}"
    return _e(text)


def _table(headings: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = "".join(f"<th>{_e(heading)}</th>" for heading in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"
