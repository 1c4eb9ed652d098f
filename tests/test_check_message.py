"""check_message (no model objects) finds exactly what validate_message (the models) finds."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_generated_models import EXAMPLES, _cases, base_request, with_value

from adapter.errors import InputError
from adapter.wire.validation import check_message, validate_message
from generated.registry import FUNCTIONS

CASES = [case.values for case in _cases()]  # every request field: boundary, bad values, missing


def problems_of(check: Any, function_id: str, part: str, values: Any) -> list[str] | None:
    try:
        check(function_id, part, values)
    except InputError as exc:
        return [str(problem) for problem in exc.problems]
    return None


def assert_same(function_id: str, part: str, values: Any) -> list[str] | None:
    found = problems_of(check_message, function_id, part, values)
    assert found == problems_of(validate_message, function_id, part, values), (function_id, part)
    return found


def shapes(request: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    """Mistakes of shape rather than of one value: unknown keys, wrong types, rows that are not rows."""
    out = [{**request, "zzz999": "1"}, {**request, next(iter(request)): 12}, {}]
    for dataset in FUNCTIONS[function_id].request.datasets:
        for rows in ("not a list", [1, "x"], [{"zzz999": "1"}], [{}], request.get(dataset.name, []) * 301):
            out.append({**copy.deepcopy(request), dataset.name: rows})
    return out


@pytest.mark.parametrize("function_id", list(FUNCTIONS))
def test_check_message_finds_what_the_models_find(function_id: str) -> None:
    for example in EXAMPLES[function_id]:
        for part in ("request", "response"):
            assert assert_same(function_id, part, example[part]) is None
    refused = 0
    for case_function, dataset, code, value, _expected in CASES:
        if case_function == function_id:
            refused += assert_same(function_id, "request", with_value(base_request(function_id), dataset,
                                                                         code, value)) is not None
    found = [assert_same(function_id, "request", values) for values in shapes(base_request(function_id), function_id)]
    assert found[0] and found[1]  # an unknown key and a number for text are refused by both
    assert refused  # the bad values were refused, by both
    bidi = {**base_request(function_id), "akb020": "H4419\u202e0000001"}
    assert assert_same(function_id, "request", bidi)
