"""The demo of what exists so far: every function's contract, exercised.

For each function_id it validates the spec's example request and response
through the generated models, round-trips them to wire form, and shows one
refusal with its field-specific message. Later issues extend this into the
full flow against the mock province.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from rich.console import Console
from rich.table import Table

from adapter.validation import InputError, validate_message
from generated.registry import FUNCTIONS, SPEC


def _examples() -> dict[str, Any]:
    text = resources.files("generated").joinpath("examples.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    data.pop("x-generated", None)
    return data


def _broken_copy(function_id: str, request: dict[str, Any]) -> dict[str, Any] | None:
    """The example with its first required scalar removed, or None if it has none."""
    for use in FUNCTIONS[function_id].request.fields:
        if use.required and use.code in request:
            return {k: v for k, v in request.items() if k != use.code}
    return None


def _check_function(function_id: str, examples: list[dict[str, Any]]) -> tuple[bool, str]:
    for example in examples:
        for part in ("request", "response"):
            model = validate_message(function_id, part, example[part])
            wire = model.model_dump(by_alias=True, exclude_none=True)
            if wire != example[part]:
                return False, f"{part} did not round-trip"
    broken = _broken_copy(function_id, examples[0]["request"])
    if broken is None:
        return True, "no required field to remove"
    try:
        validate_message(function_id, "request", broken)
    except InputError as exc:
        return True, exc.problems[0]
    return False, "a request without a required field was accepted"


def run(console: Console) -> int:
    examples = _examples()
    table = Table(title=f"{SPEC.title} {SPEC.version}: contract check of every function")
    for column in ("function_id", "名称", "examples", "refusal shown"):
        table.add_column(column)
    failures = 0
    for function_id, meta in FUNCTIONS.items():
        ok, detail = _check_function(function_id, examples[function_id])
        failures += not ok
        mark = "[green]ok[/]" if ok else "[red]FAILED[/]"
        table.add_row(function_id, meta.name, mark, detail)
    console.print(table)
    console.print(f"{len(FUNCTIONS) - failures}/{len(FUNCTIONS)} functions hold their contract")
    return 1 if failures else 0
