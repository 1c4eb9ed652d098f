"""The real spec: complete, consistent, and as the reference's requirements list it."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen.load import Spec, iter_uses, load_spec

ROOT = Path(__file__).resolve().parent.parent

# The transactions of ../shared/reference/00-requirements.md, plus the login.
REQUIRED_FUNCTIONS = {
    "sys0001",
    "bizh110001", "bizh110102", "bizh110103", "bizh110104", "bizh110105", "bizh110106",
    "bizh120001", "bizh120102", "bizh120002", "bizh120003", "bizh120004", "bizh120103",
    "bizh120104", "bizh120105", "bizh120106", "bizh120107", "bizh120108", "bizh120109",
    "bizh120206", "bizh120113",
    "bizh200101", "bizh200102", "bizh200103", "bizh200104", "bizh200105", "bizh200106",
    "bizh410004", "bizh410005", "bizh120205",
}

COMPENSATION_PAIRS = {
    ("bizh120103", "bizh120109"),
    ("bizh120105", "bizh120108"),
    ("bizh120106", "bizh120107"),
    ("bizh120002", "bizh120004"),
    ("bizh110104", "bizh110106"),
}


@pytest.fixture(scope="module")
def spec() -> Spec:
    """Loaded once for the module (about 0.7 s a load); the tests only read it."""
    return load_spec(ROOT / "spec")


def test_all_thirty_functions_present(spec: Spec) -> None:
    assert set(spec.functions) == REQUIRED_FUNCTIONS
    assert len(spec.functions) == 30


def test_every_used_field_is_in_the_dictionary(spec: Spec) -> None:
    for function in spec.functions.values():
        for part in (function.request, function.response):
            for _, use, _ in iter_uses(part):
                assert use.code in spec.fields, (function.function_id, use.code)


def test_compensation_pairs_are_declared_both_ways(spec: Spec) -> None:
    for forward, reverse in COMPENSATION_PAIRS:
        assert spec.functions[forward].compensation == reverse
        assert spec.functions[reverse].compensates == forward


def test_every_bizh_request_carries_the_institution_code(spec: Spec) -> None:
    for function_id, function in spec.functions.items():
        codes = {use.code: use.required for use in function.request.fields}
        if function_id.startswith("bizh"):
            assert codes.get("akb020") is True, function_id
        else:
            assert "akb020" not in codes, "login uses userid, not the institution code"


def test_fee_upload_respects_the_row_cap(spec: Spec) -> None:
    cap = spec.root.limits.fee_rows_per_call
    feeinfo = next(d for d in spec.functions["bizh120002"].request.datasets if d.name == "feeinfo")
    assert feeinfo.max_rows == cap == 300


def test_spec_version_and_transport(spec: Spec) -> None:
    assert spec.root.version == "1.0-20190508"
    assert spec.root.transport.path == "/hygeia_esb_sj/api/call.action"
    assert spec.root.return_codes.session_expired == "-9"


def test_citizen_id_is_marked_pii(spec: Spec) -> None:
    assert spec.fields["aac002"].pii == "id_number"
    assert spec.fields["aac003"].pii == "name"
