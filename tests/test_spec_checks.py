"""The meta-schema and cross-checks refuse broken specs with precise messages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from codegen.load import SpecError, load_spec


def _edit_yaml(path: Path, change: Callable[[dict], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _fn(spec: Path, function_id: str) -> Path:
    return spec / "functions" / f"{function_id}.yaml"


def typo_key(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110104"), lambda d: d["request"]["fields"][0].update(requird=True))


def unknown_field(spec: Path) -> None:
    _edit_yaml(
        _fn(spec, "bizh110105"),
        lambda d: d["request"]["datasets"][0]["fields"].append({"code": "bka057"}),
    )


def missing_code_list(spec: Path) -> None:
    (spec / "codes" / "bka893.yaml").unlink()


def compensation_unknown(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110104"), lambda d: d.update(compensation="bizh999999"))


def compensation_not_mutual(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110106"), lambda d: d.pop("compensates"))


def example_too_long(spec: Path) -> None:
    _edit_yaml(
        _fn(spec, "bizh110104"),
        lambda d: d["examples"][0]["request"].update(aac002="4419001990010100123"),
    )


def decimal_without_scale(spec: Path) -> None:
    _edit_yaml(spec / "fields.yaml", lambda d: d["bka058"].pop("scale"))


def bad_function_id(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110106"), lambda d: d.update(function_id="biz110106"))


def id_differs_from_file(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110106"), lambda d: d.update(function_id="bizh110107"))


def unknown_stage(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110106"), lambda d: d["stage"].update(leads_to="discharged"))


def state_change_without_stage(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110105"), lambda d: d.pop("stage"))


def duplicate_python_name(spec: Path) -> None:
    _edit_yaml(spec / "fields.yaml", lambda d: d["akc264"].update(python_name="amount"))


def duplicate_code_value(spec: Path) -> None:
    _edit_yaml(spec / "codes" / "bka893.yaml", lambda d: d["values"].append({"code": "0", "label": "x"}))


def invalid_yaml(spec: Path) -> None:
    _fn(spec, "bizh110106").write_text("function_id: [unclosed\n", encoding="utf-8")


def example_unknown_key(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110106"), lambda d: d["examples"][0]["request"].update(bka999="1"))


def date_without_format(spec: Path) -> None:
    _edit_yaml(spec / "fields.yaml", lambda d: d["bka017"].pop("format"))


def example_not_in_code_list(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110105"), lambda d: d["examples"][0]["request"].update(bka893="2"))


def example_over_precise(spec: Path) -> None:
    _edit_yaml(
        _fn(spec, "bizh110105"),
        lambda d: d["examples"][0]["request"]["feeinfo"][0].update(bka058="6.255"),
    )


def opens_undeclared(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110104"), lambda d: d.pop("opens"))


def opens_wrongly(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110106"), lambda d: d.update(opens="aaz218"))


def modifies_unsent_field(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110106"), lambda d: d.update(modifies=["bka021"]))


def confirm_missing_role(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110106"), lambda d: d.update(confirm={"rule": "cancel_unlisted", "queries": {}}))


def confirm_by_a_state_change(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110106"),
               lambda d: d.update(confirm={"rule": "cancel_unlisted", "queries": {"listing": "bizh110105"}}))


def confirm_unknown_rule(spec: Path) -> None:
    _edit_yaml(_fn(spec, "bizh110106"), lambda d: d.update(confirm={"rule": "ask_politely"}))


def _invariant(**fields: object) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        data["invariants"] = [{"name": "sum", "title": "和", **fields}]
    return change


def invariant_unknown_field(spec: Path) -> None:
    _edit_yaml(spec / "spec.yaml", _invariant(total="akc264", parts=["bka058", "bka999"]))


def invariant_not_an_amount(spec: Path) -> None:
    _edit_yaml(spec / "spec.yaml", _invariant(total="akc264", parts=["bka058", "bka893"]))


def invariant_applies_nowhere(spec: Path) -> None:
    _edit_yaml(spec / "spec.yaml", _invariant(total="akc264", parts=["bka058", "bka056"]))


CASES = [
    (typo_key, "spec/functions/bizh110104.yaml: request.fields.0.requird: Extra inputs are not permitted"),
    (unknown_field, "spec/functions/bizh110105.yaml: request.feeinfo.row.bka057: unknown field (not in fields.yaml)"),
    (missing_code_list, "spec/fields.yaml: bka893: code_list: 'bka893' has no file in spec/codes/"),
    (compensation_unknown, "spec/functions/bizh110104.yaml: compensation: 'bizh999999' names no function"),
    (compensation_not_mutual, "spec/functions/bizh110104.yaml: compensation: bizh110106 does not declare compensates: bizh110104"),
    (example_too_long, "spec/functions/bizh110104.yaml: examples[register].request: aac002: longer than 18"),
    (decimal_without_scale, "spec/fields.yaml: bka058: (file): Value error, decimal needs digits and scale"),
    (bad_function_id, "spec/functions/bizh110106.yaml: function_id: Value error, must look like sys0001 or bizh123456"),
    (id_differs_from_file, "spec/functions/bizh110106.yaml: function_id: 'bizh110107' differs from the file name"),
    (unknown_stage, "spec/functions/bizh110106.yaml: stage: 'discharged' is not a stage of machine 'outpatient'"),
    (state_change_without_stage, "spec/functions/bizh110105.yaml: stage: a state-changing function must declare its stage rule"),
    (duplicate_python_name, "spec/fields.yaml: akc264: python_name: 'amount' already used by bka058"),
    (duplicate_code_value, "spec/codes/bka893.yaml: (file): Value error, code value '0' listed twice"),
    (invalid_yaml, "spec/functions/bizh110106.yaml: not valid YAML"),
    (example_unknown_key, "spec/functions/bizh110106.yaml: examples[cancel].request: bka999: not in this message"),
    (date_without_format, "spec/fields.yaml: bka017: (file): Value error, type date needs format"),
    (example_not_in_code_list, "examples[trial].request: bka893: '2' is not in code list bka893"),
    (example_over_precise, "examples[trial].request: feeinfo[0].bka058: does not match decimal format"),
    (opens_undeclared, "spec/functions/bizh110104.yaml: opens: None, but the stage rule and answer say 'aaz218'"),
    (opens_wrongly, "spec/functions/bizh110106.yaml: opens: 'aaz218', but the stage rule and answer say None"),
    (modifies_unsent_field, "spec/functions/bizh110106.yaml: modifies: bka021 is not a request field"),
    (confirm_missing_role, "spec/functions/bizh110106.yaml: confirm.queries: rule cancel_unlisted asks by ['listing']"),
    (confirm_by_a_state_change,
     "spec/functions/bizh110106.yaml: confirm.queries.listing: 'bizh110105' is not a read-only query"),
    (confirm_unknown_rule, "spec/functions/bizh110106.yaml: confirm.rule: Input should be"),
    (invariant_unknown_field, "spec/spec.yaml: invariants.sum: bka999: unknown field (not in fields.yaml)"),
    (invariant_not_an_amount, "spec/spec.yaml: invariants.sum: bka893: an amount must be a decimal, not code"),
    (invariant_applies_nowhere, "spec/spec.yaml: invariants.sum: no answer declares the total and every part"),
]


def test_fixture_spec_is_valid(fixture_spec: Path) -> None:
    spec = load_spec(fixture_spec)
    assert sorted(spec.functions) == ["bizh110104", "bizh110105", "bizh110106"]


@pytest.mark.parametrize(("breakage", "expected"), CASES, ids=[c[0].__name__ for c in CASES])
def test_broken_spec_is_refused_with_precise_message(
    fixture_spec: Path, breakage: Callable[[Path], None], expected: str
) -> None:
    breakage(fixture_spec)
    with pytest.raises(SpecError) as caught:
        load_spec(fixture_spec)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_missing_dictionary_is_reported_not_crashed(fixture_spec: Path) -> None:
    (fixture_spec / "fields.yaml").unlink()
    with pytest.raises(SpecError) as caught:
        load_spec(fixture_spec)
    assert "spec/fields.yaml: file missing" in caught.value.problems
