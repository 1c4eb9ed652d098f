"""Contract facts the registry carries for code to read: roles, confirmations, invariants, formats.

Each test states what adapter/ relies on; the last ones run the one invariant evaluator against a
province on a real loopback socket whose answer breaks an identity.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, get_args

import pytest

from adapter.ops import recovery
from adapter.wire.client import Client
from adapter.wire.codec import encode, parse_document
from adapter.wire.config import Settings
from adapter.wire.deviations import DeviationKind
from adapter.wire.invariants import breaches, evaluate, invariant
from codegen.spec_model import ConfirmRule
from generated.codes import ENUMS, Bka006
from generated.registry import (
    CODE_LISTS,
    FIELDS,
    FUNCTIONS,
    INVARIANTS,
    LOGIN,
    OPENERS,
    STAGE_MACHINES,
    field_label,
)


def test_one_login_and_it_is_the_only_call_without_a_business() -> None:
    assert [fid for fid, meta in FUNCTIONS.items() if meta.kind == "login"] == [LOGIN]
    assert FUNCTIONS[LOGIN].stage is None and FUNCTIONS[LOGIN].needs_business is None


def test_each_stage_machine_has_one_opener_that_answers_its_key() -> None:
    assert set(OPENERS) == set(STAGE_MACHINES)
    for machine, function_id in OPENERS.items():
        meta = FUNCTIONS[function_id]
        key = STAGE_MACHINES[machine].business_key
        assert meta.opens == key and key in {use.code for use in meta.response.fields}
        assert meta.stage is not None and meta.stage.requires == (STAGE_MACHINES[machine].initial,)
    others = [fid for fid, meta in FUNCTIONS.items() if meta.opens and fid not in OPENERS.values()]
    assert others == []


def test_every_state_change_is_confirmed_by_queries_and_recovery_knows_each_rule() -> None:
    for function_id, meta in FUNCTIONS.items():
        if meta.kind != "state_changing":
            continue
        assert meta.confirm is not None, function_id
        for _, query in meta.confirm.queries:
            assert FUNCTIONS[query].read_only and function_id in FUNCTIONS[query].confirms
    assert set(recovery._DECIDERS) == set(get_args(ConfirmRule))


def test_medical_records_are_the_group_that_cannot_be_read_back() -> None:
    group = {fid for fid, meta in FUNCTIONS.items() if meta.group == "medical_record"}
    unreadable = {fid for fid, meta in FUNCTIONS.items() if meta.confirm and meta.confirm.rule == "not_queryable"}
    assert group == unreadable and len(group) == 6


def test_modifiable_fields_are_request_fields_and_the_listing_shows_some() -> None:
    changers = {fid: meta.modifies for fid, meta in FUNCTIONS.items() if meta.modifies}
    assert list(changers) == ["bizh120104"]
    for function_id, codes in changers.items():
        assert set(codes) <= {use.code for use in FUNCTIONS[function_id].request.fields}


def test_refusal_meanings_are_found_inside_real_messages() -> None:
    batches = FUNCTIONS["bizh110103"]
    assert batches.refusal_meaning("已经办理过退费，不能重复退费") == "already_refunded"
    assert batches.refusal_meaning("系统繁忙") is None


def test_date_formats_come_as_strftime_patterns() -> None:
    dated = [meta for meta in FIELDS.values() if meta.format]
    assert dated and all(meta.strftime and "%" in meta.strftime for meta in dated)
    for meta in dated:
        assert meta.strftime is not None
        text = datetime(2019, 5, 8, 13, 4, 5).strftime(meta.strftime)
        assert len(text) == len(meta.format or "") and "2019" in text
        assert datetime.strptime(text, meta.strftime).date() == date(2019, 5, 8)


def test_labels_are_built_once() -> None:
    assert FIELDS["aac002"].label == "aac002 社会保障号码" == field_label("aac002")
    assert field_label("zzz999") == "zzz999"
    assert CODE_LISTS["bka893"].label_of("1") and CODE_LISTS["bka893"].label_of("9") is None


# --------------------------------------------------------------------------- invariants


def test_every_invariant_names_decimal_amounts_and_where_it_applies() -> None:
    assert {meta.name for meta in INVARIANTS} >= {"total_is_personal_plus_fund", "sheet_total"}
    for meta in INVARIANTS:
        assert meta.scopes
        assert all(FIELDS[code].type == "decimal" for code in (meta.total, *meta.parts))


def test_evaluate_adds_decimals_exactly_and_skips_what_is_absent() -> None:
    total = invariant("total_is_personal_plus_fund")
    assert evaluate(total, {"akc264": "0.30", "bka831": "0.10", "bka832": "0.20"}) == (
        Decimal("0.30"), Decimal("0.30"))
    assert evaluate(total, {"akc264": Decimal("-5.00"), "bka831": "-1.25", "bka832": "-3.75"}) == (
        Decimal("-5.00"), Decimal("-5.00"))
    assert evaluate(total, {"akc264": "1.00", "bka831": "1.00"}) is None
    assert evaluate(total, {"akc264": "1.00", "bka831": "x", "bka832": "0"}) is None


def test_breaches_name_the_row_and_the_field() -> None:
    answer = {"payinfo": [{"akc264": "10.00", "bka831": "2.00", "bka832": "8.00"},
                          {"akc264": "10.00", "bka831": "2.00", "bka832": "7.00"}]}
    found = breaches("bizh110105", answer)
    assert [(b.invariant.name, b.path) for b in found] == [("total_is_personal_plus_fund", "payinfo[1]")]
    assert "payinfo[1]: akc264 医疗总费用 10.00 != bka831 + bka832 = 9.00" in str(found[0])
    with pytest.raises(KeyError, match="no invariant 'nope'"):
        invariant("nope")


BROKEN_PRESETTLEMENT = {
    "return_code": "1", "return_code_message": "成功", "aaz218": "44190000012019000002",
    "akc264": "100.00", "bka831": "30.00", "bka832": "60.00",
}


class _Province(BaseHTTPRequestHandler):
    """Logs in, and answers every call with amounts that break akc264 = bka831 + bka832."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        function_id = parse_document(body).findtext("function_id") or ""
        values: dict[str, Any] = BROKEN_PRESETTLEMENT
        if function_id == LOGIN:
            values = {"return_code": "1", "return_code_message": "成功",
                      "session_id": "00000000-0000-0000-0000-000000000001"}
        answer = encode(function_id, "response", values)
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture
def province_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Province)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_client_returns_an_answer_that_breaks_an_identity_and_warns(
    tmp_path: Path, province_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(base_url=province_url, userid="ss0028", password="pw-registry-1",
                        akb020="H44190000001", journal_path=str(tmp_path / "journal.sqlite"))
    with Client(settings) as client, caplog.at_level(logging.WARNING, logger="gdwi.client"):
        answer = client.call_wire("bizh120003", {"aaz218": "44190000012019000002", "bka438": "1"})
        assert answer["akc264"] == "100.00"  # read, not refused
        recorded = client.journal.deviations()
    assert any("akc264 医疗总费用 100.00 != bka831 + bka832 = 90.00" in r.getMessage() for r in caplog.records)
    assert [(d.function_id, d.kind, d.sample) for _, _, d in recorded] == [
        ("bizh120003", DeviationKind.BROKEN_INVARIANT, "100.00")]


def test_every_code_list_is_an_enum_with_its_labels() -> None:
    assert set(ENUMS) == set(CODE_LISTS)
    for name, enum in ENUMS.items():
        assert [(member.value, member.label) for member in enum] == list(CODE_LISTS[name].values)
    assert Bka006("410").label == "工伤门诊" and Bka006.V410 == "410"
    with pytest.raises(ValueError):
        Bka006("999")  # an open list's unlisted value stays text; the enum holds the listed ones
