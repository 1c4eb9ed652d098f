"""Contract cases derived from the registry, not hand-listed: client and mock agree.

For every request field of every function: a value at the boundary passes and one past it
is refused, by the client before sending and by the mock province on the wire, each with a
message naming the field by code and 中文名. A function added to spec/ gets its cases with
no test code written.

The mock answers in both styles (adapter.mock.style): every case against the strict one; against
the real-shaped one, the first boundary case and the first refusal of every function (the style
changes how the answer is written, not what the mock accepts, so a subset keeps the suite fast).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
from seed_login import FEE_ROWS_PER_CALL as CAP

from adapter.mock.app import create_app
from adapter.mock.inprocess import InProcessTransport
from adapter.mock.seed import default_seed
from adapter.mock.style import AnswerStyle
from adapter.wire.codec import decode, encode
from adapter.wire.validation import InputError, validate_message
from generated._types import FieldMeta, UseMeta
from generated.registry import CODE_LISTS, FIELDS, FUNCTIONS, LOGIN, SPEC

MOCKS = {
    name: httpx.Client(transport=InProcessTransport(create_app(style=AnswerStyle(name))), base_url="http://mock")
    for name in ("strict", "real")
}


_SESSIONS: dict[str, str] = {}


def _session(style: str) -> str:
    """One live session per mock: the mock checks the session before the message."""
    if style not in _SESSIONS:
        user = default_seed().users[0]
        body = encode(LOGIN, "request", {"userid": user.userid, "password": user.password})
        answer = decode(MOCKS[style].post(SPEC.path, content=body).content, LOGIN, "response").values
        _SESSIONS[style] = answer["session_id"]
    return _SESSIONS[style]


def mock_answer(function_id: str, request: dict[str, Any], style: str = "strict") -> dict[str, Any]:
    """The mock's answer to a request sent with a live session.

    A request refused as input is answered -1 with the input error's text, which starts with
    the function_id; anything else (success, or a business rule) means it passed validation.
    """
    session = None if function_id == LOGIN else _session(style)
    body = encode(function_id, "request", request, session_id=session)
    response = MOCKS[style].post(SPEC.path, content=body)
    assert response.status_code == 200, response.text
    return decode(response.content, function_id, "response").values


def refused_as_input(function_id: str, answer: dict[str, Any]) -> bool:
    message = answer.get("return_code_message") or ""
    return answer["return_code"] != SPEC.success_code and message.startswith(f"{function_id}: ")


EXAMPLES: dict[str, Any] = json.loads(
    resources.files("generated").joinpath("examples.json").read_text(encoding="utf-8")
)


def valid_value(use: UseMeta, field: FieldMeta) -> str:
    """The longest / most precise value the spec allows for this field."""
    if use.closed_values:
        return use.closed_values[0]
    if field.type == "decimal":
        whole = "9" * ((field.digits or 1) - (field.scale or 0))
        return f"{whole}.{'5' * field.scale}" if field.scale else whole
    if field.type == "date" or field.type == "datetime":
        sample = {"yyyy": "2019", "MM": "12", "dd": "31", "HH": "23", "mm": "59", "ss": "58"}
        text = field.format or ""
        for token, value in sample.items():
            text = text.replace(token, value)
        return text
    if field.type == "integer":
        return "9" * (use.max_length or 9)
    return "测" * (use.max_length or 8)


def base_request(function_id: str) -> dict[str, Any]:
    """The spec's example, with a minimal first row for any dataset the example leaves out."""
    request = json.loads(json.dumps(EXAMPLES[function_id][0]["request"]))
    for dataset in FUNCTIONS[function_id].request.datasets:
        if not request.get(dataset.name):
            request[dataset.name] = [
                {u.code: valid_value(u, FIELDS[u.code]) for u in dataset.fields if u.required}
            ]
    return request


def field_slots(function_id: str) -> Iterator[tuple[str | None, UseMeta]]:
    meta = FUNCTIONS[function_id]
    for use in meta.request.fields:
        yield None, use
    for dataset in meta.request.datasets:
        for use in dataset.fields:
            yield dataset.name, use


def with_value(request: dict[str, Any], dataset: str | None, code: str, value: str | None) -> dict[str, Any]:
    changed = json.loads(json.dumps(request))
    target = changed[dataset][0] if dataset else changed
    if value is None:
        target.pop(code, None)
    else:
        target[code] = value
    return changed


def _cases() -> Iterator[Any]:
    for function_id in FUNCTIONS:
        for dataset, use in field_slots(function_id):
            field = FIELDS[use.code]
            where = f"{dataset}[0].{use.code}" if dataset else use.code
            good = valid_value(use, field)
            yield pytest.param(function_id, dataset, use.code, good, None, id=f"{function_id}-{where}-boundary")
            bad = bad_values(use, field)
            for label, value, expected in bad:
                yield pytest.param(
                    function_id, dataset, use.code, value, expected, id=f"{function_id}-{where}-{label}"
                )
            if use.required:
                yield pytest.param(
                    function_id, dataset, use.code, None, "required field missing",
                    id=f"{function_id}-{where}-missing",
                )


def bad_values(use: UseMeta, field: FieldMeta) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    if field.type in ("string", "code") and use.max_length and not use.closed_values:
        out.append(("too-long", "测" * (use.max_length + 1), f"longer than {use.max_length}"))
    if field.type == "decimal":
        too_precise = f"1.{'1' * ((field.scale or 0) + 1)}"
        out.append(("over-precise", too_precise, "must be a decimal"))
        out.append(("too-many-digits", "9" * ((field.digits or 1) + 1), "must be a decimal"))
    if field.type in ("date", "datetime"):
        out.append(("bad-date", valid_value(use, field).replace("12", "13", 1), f"format {field.format}"))
    if field.type == "integer":
        out.append(("not-a-number", "12a", "must be a whole number"))
    if use.closed_values:
        out.append(("not-in-list", "ZZ", "is not in the code list"))
    return out


def _styled_cases() -> Iterator[Any]:
    """Every case against the strict mock; the first pass and first refusal per function against
    the real-shaped one."""
    real_seen: set[tuple[str, bool]] = set()
    for case in _cases():
        function_id, expected = case.values[0], case.values[4]
        yield pytest.param(*case.values, "strict", id=f"{case.id}-strict")
        if (function_id, expected is None) not in real_seen:
            real_seen.add((function_id, expected is None))
            yield pytest.param(*case.values, "real", id=f"{case.id}-real")


@pytest.mark.parametrize(("function_id", "dataset", "code", "value", "expected", "style"), list(_styled_cases()))
def test_request_field_constraint(
    function_id: str, dataset: str | None, code: str, value: str | None, expected: str | None, style: str
) -> None:
    request = with_value(base_request(function_id), dataset, code, value)
    answer = mock_answer(function_id, request, style)
    if expected is None:
        model = validate_message(function_id, "request", request)
        assert model.model_dump(by_alias=True, exclude_none=True) == request
        if FUNCTIONS[function_id].kind == "login":  # no session to check: not refused as input
            assert f"{code} {FIELDS[code].name}: " not in answer["return_code_message"], answer
        else:
            assert not refused_as_input(function_id, answer), answer  # passed validation
        return
    with pytest.raises(InputError) as caught:
        validate_message(function_id, "request", request)
    name = FIELDS[code].name
    texts = [str(p) for p in caught.value.problems]
    assert any(f"{code} {name}: " in p and expected in p for p in texts), texts
    assert any(p.code == code and p.name == name for p in caught.value.problems)
    assert answer["return_code"] == "-1" and refused_as_input(function_id, answer), answer
    assert f"{code} {name}: " in answer["return_code_message"], answer


@pytest.mark.parametrize("function_id", list(FUNCTIONS))
def test_examples_validate_and_round_trip(function_id: str) -> None:
    for example in EXAMPLES[function_id]:
        for part in ("request", "response"):
            model = validate_message(function_id, part, example[part])
            assert model.model_dump(by_alias=True, exclude_none=True) == example[part]


def test_row_cap_is_enforced_on_fee_upload() -> None:
    request = base_request("bizh120002")
    request["feeinfo"] = request["feeinfo"] * (CAP + 1)
    with pytest.raises(InputError) as caught:
        validate_message("bizh120002", "request", request)
    assert any(p.path == "feeinfo" and f"more than {CAP} rows" in p.message for p in caught.value.problems)
    answer = mock_answer("bizh120002", request)
    assert answer["return_code"] == "-1" and f"more than {CAP} rows" in answer["return_code_message"]
    request["feeinfo"] = request["feeinfo"][:CAP]
    validate_message("bizh120002", "request", request)
    assert not refused_as_input("bizh120002", mock_answer("bizh120002", request))


def test_unknown_input_field_is_refused_by_name() -> None:
    request = dict(base_request("bizh110104"), bka999="x")
    with pytest.raises(InputError) as caught:
        validate_message("bizh110104", "request", request)
    assert [str(p) for p in caught.value.problems] == ["bka999: not a field of this message"]


def test_models_accept_python_names_too() -> None:
    from generated.models.bizh110106 import Bizh110106Request

    request = Bizh110106Request(
        institution_code="H44190000001", visit_registration_no="44190000012019000001",
        operator_code="T001", operator_name="测试操作员",
    )
    assert request.model_dump(by_alias=True)["aaz218"] == "44190000012019000001"


def test_every_closed_list_in_the_registry_has_values() -> None:
    assert all(code_list.values for code_list in CODE_LISTS.values())
