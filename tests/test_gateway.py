"""The HIS gateway (adapter/gateway) against the mock province: every workflow as a HIS sees it,
one HTTP JSON call per step, and every error status.

Most tests run the gateway app in process (InProcessTransport, no socket) over a Client that
talks the real XML wire to an in-process mock (a fresh province per test). The `test_loopback_*`
test serves both over real loopback sockets (uvicorn threads). Synthetic data only: the seeded
persons 1000000001…07 (`gdwi mock seed`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from seed_login import AKB020, PASSWORD, USERID
from seed_login import FEE_ROWS_PER_CALL as CAP
from starlette.applications import Starlette
from typer.testing import CliRunner

from adapter.cli import app as cli_app
from adapter.gateway import GatewayServer, create_gateway, is_loopback
from adapter.gateway.auth import TokenError, read_token
from adapter.gateway.bodies import MedicalRecordBody, StayChanges
from adapter.gateway.endpoints import ENDPOINTS
from adapter.his import FrontPageSet, InpatientStay, MedicalRecord
from adapter.his.mapping import REQUESTS
from adapter.mock.app import RequestLog, context_of, create_app
from adapter.mock.faults import FaultPlan
from adapter.mock.inprocess import InProcessTransport
from adapter.mock.province import MockProvince
from adapter.mock.server import MockServer
from adapter.wire.client import Client
from adapter.wire.config import Settings
from adapter.wire.journal import Status

TOKEN = "gateway-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPERATOR = {"code": "T001", "name": "测试操作员"}
DAY = "2019-05-08"
# Seeded catalogue items (code, name, unit price, quantity, amount): price x quantity is exact.
CATALOGUE = [
    ("XY0001", "测试药品甲片", "3.1250", "4.00", "12.50"),
    ("HY0001", "测试血常规", "25.0000", "1.00", "25.00"),
    ("CW0001", "测试床位费", "45.0000", "1.00", "45.00"),
    ("ZF0001", "测试自费营养品", "60.0000", "1.00", "60.00"),
]


def fee(index: int, **changes: Any) -> dict[str, Any]:
    code, name, price, quantity, amount = CATALOGUE[index % len(CATALOGUE)]
    return {"item_code": code, "item_name": name, "unit_price": price, "quantity": quantity, "amount": amount,
            "fee_date": DAY, "hospital_fee_id": f"F{index:06d}", "entered_by": OPERATOR, **changes}


def fees(count: int) -> list[dict[str, Any]]:
    return [fee(i) for i in range(count)]


def total_of(items: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(item["amount"]) for item in items), Decimal(0))


def a_stay(person_no: str = "1000000002") -> dict[str, Any]:
    return {"person_no": person_no, "admission_date": DAY, "diagnosis": {"icd_code": "S62.501", "name": "掌骨骨折"},
            "hospital_stay_no": "ZY20190001", "ward": {"code": "W03", "name": "骨科病区"},
            "department": {"code": "0301", "name": "骨科"}, "bed_no": "12", "bed_type": "1", "doctor_code": "D0001"}


A_DISCHARGE = {"discharge_date": "2019-05-20", "diagnosis": {"icd_code": "S62.501"}, "admission_route": "1",
               "admission_condition": "3", "outcome": "02", "rescues": 0, "rescues_succeeded": 0}


def settings(base_url: str, tmp_path: Path) -> Settings:
    return Settings(base_url=base_url, userid=USERID, password=PASSWORD, akb020=AKB020,
                    journal_path=str(tmp_path / "journal.sqlite"), retry_backoff=0.01, read_timeout=5)


# --------------------------------------------------------------------------- the gateway, in process


@dataclass
class Gateway:
    """A gateway over a fresh mock province: `http` is the HIS's view, the rest the test's."""

    http: httpx.Client
    app: Starlette
    client: Client
    province: MockProvince
    faults: FaultPlan
    requests: RequestLog

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.http.post(path, json=body) if body is not None else self.http.post(path)

    def ok(self, method: str, path: str, body: Any = None, **params: str) -> Any:
        """The JSON answer of a call that must succeed."""
        response = self.http.request(method, path, json=body, params=params or None)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        return response.json()

    def sent(self, *function_ids: str) -> list[str]:
        """Function ids the province received, in order (only `function_ids` if given)."""
        return [str(r.function_id) for r in self.requests.records()
                if r.function_id != "sys0001" and (not function_ids or r.function_id in function_ids)]

    def admitted(self) -> str:
        return str(self.ok("POST", "/inpatient/admit", {"stay": a_stay(), "operator": OPERATOR})["visit_no"])

    def discharged(self, rows: int = 4) -> str:
        stay = self.admitted()
        self.ok("POST", f"/inpatient/{stay}/fees", {"fees": fees(rows)})
        self.ok("POST", f"/inpatient/{stay}/discharge", {"discharge": A_DISCHARGE, "operator": OPERATOR})
        return stay


def gateway_client(app: Starlette, token: str | None = TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(transport=InProcessTransport(app), base_url="http://gateway", headers=headers)


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Gateway]:
    mock_app = create_app()
    context = context_of(mock_app)
    assert isinstance(context.province, MockProvince)
    with Client(settings("http://127.0.0.1:9", tmp_path), http_transport=InProcessTransport(mock_app)) as client, \
            gateway_client(app := create_gateway(client, token=TOKEN)) as http:
        yield Gateway(http, app, client, context.province, context.faults, context.requests)


# --------------------------------------------------------------------------- outpatient 门诊


def test_outpatient_day_lookup_register_trial_charge_refund_cancel(gw: Gateway) -> None:
    found = gw.ok("POST", "/outpatient/lookup",
                  {"patient": {"id_kind": "citizen_id", "id_value": "44190019900101001X"}})
    [person] = found["persons"]
    assert person["person_no"] == "1000000001" and person["fund_status"] == "0"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", person["valid_to"])  # dates as YYYY-MM-DD
    visit = {"person_no": person["person_no"], "visit_date": DAY, "diagnosis": {"icd_code": "S62.001"},
             "department": {"code": "K01", "name": "测试科室"}, "outpatient_no": "MZ20190508001"}
    visit_no = gw.ok("POST", "/outpatient/register", {"visit": visit, "operator": OPERATOR})["visit_no"]

    items = [fee(0), fee(3)]  # one fund-covered, one self-pay item
    trial = gw.ok("POST", f"/outpatient/{visit_no}/trial", {"fees": items, "operator": OPERATOR})
    assert (trial["total"], trial["personal"], trial["fund"], trial["batch_no"]) == ("72.50", "60.00", "12.50", None)
    charged = gw.ok("POST", f"/outpatient/{visit_no}/charge", {"fees": items, "operator": OPERATOR})
    assert Decimal(charged["total"]) == total_of(items) and charged["batch_no"] == 1
    refund = gw.ok("POST", f"/outpatient/{visit_no}/refund", {"batch_no": 1, "operator": OPERATOR})
    assert refund["total"] == "-72.50" and refund["batch_no"] == 2
    assert gw.ok("POST", f"/outpatient/{visit_no}/cancel", {"operator": OPERATOR}) == {
        "visit_no": visit_no, "done": "cancelled", "already": False}
    assert gw.sent() == ["bizh110001", "bizh110104", "bizh110105", "bizh110105", "bizh110105",
                         "bizh110103", "bizh110105", "bizh110106"]


# --------------------------------------------------------------------------- inpatient 住院


def test_inpatient_stay_from_lookup_to_settlement_and_back(gw: Gateway) -> None:
    [person] = gw.ok("POST", "/inpatient/lookup", {"patient": {"id_kind": "person_no", "id_value": "1000000002"}})[
        "persons"]
    stay = gw.ok("POST", "/inpatient/admit", {"stay": a_stay(person["person_no"]), "operator": OPERATOR})["visit_no"]
    assert gw.ok("POST", f"/inpatient/{stay}/modify", {"stay": {"bed_no": "13", "ward": {"code": "W04"}}}) == {
        "visit_no": stay, "done": "modified", "already": False}
    items = fees(650)
    assert gw.ok("POST", f"/inpatient/{stay}/fees", {"fees": items}) == {"visit_no": stay, "rows": 650, "calls": 3}
    lines = gw.ok("GET", f"/inpatient/{stay}/fees")["lines"]
    assert len(lines) == 650 and sum(Decimal(line["amount"]) for line in lines) == total_of(items)
    presettled = gw.ok("POST", f"/inpatient/{stay}/presettle")
    assert Decimal(presettled["total"]) == total_of(items)
    discharged = gw.ok("POST", f"/inpatient/{stay}/discharge", {"discharge": A_DISCHARGE, "operator": OPERATOR})
    settled = gw.ok("POST", f"/inpatient/{stay}/settle", {"operator": OPERATOR})
    assert settled["total"] == discharged["total"] == presettled["total"]
    assert Decimal(settled["total"]) == Decimal(settled["personal"]) + Decimal(settled["fund"])
    sheet = gw.ok("GET", f"/inpatient/{stay}/settlement")
    assert (sheet["visit_no"], sheet["total"], sheet["discharge_date"]) == (stay, settled["total"], "2019-05-20")

    back = gw.ok("POST", f"/inpatient/{stay}/cancel", {"to": "admitted"})
    assert back == {"visit_no": stay, "stage": "admitted", "reversals": ["bizh120107", "bizh120108"],
                    "already": False}
    assert gw.ok("DELETE", f"/inpatient/{stay}/fees") == {"visit_no": stay, "done": "fees_deleted", "already": False}
    gw.ok("POST", f"/inpatient/{stay}/cancel", {"to": "cancelled"})
    assert gw.province.stage_of(stay) == "cancelled"
    assert gw.sent("bizh120104", "bizh120004", "bizh120109") == ["bizh120104", "bizh120004", "bizh120109"]


def test_fee_list_grouping_comes_from_the_query_string(gw: Gateway) -> None:
    stay = gw.admitted()
    gw.ok("POST", f"/inpatient/{stay}/fees", {"fees": fees(8)})
    by_category = gw.ok("GET", f"/inpatient/{stay}/fees", grouping="0")["lines"]
    assert len(by_category) < 8 and sum(Decimal(line["amount"]) for line in by_category) == total_of(fees(8))


def test_medical_record_front_page_upload(gw: Gateway) -> None:
    stay = gw.discharged()
    record = {
        "front_page": {"record_no": "BA0000001", "admission_count": 1, "sex": {"code": "2", "name": "女"},
                       "admitted_on": DAY, "total_cost": "100.00", "extra": {"yzy099": "M8000/3"}},
        "diagnoses": [{"icd_code": "S62.300", "name": "右手第三掌骨骨折", "type_code": "1"}],
        "summary": {"admission_diagnosis": "右手第三掌骨骨折", "physician": "测试医生"},
        "operations": [{"code": "79.3300", "name": "掌骨骨折切开复位内固定术", "operated_on": DAY}],
        "icd_version": "1",
    }
    institution = {"region_code": "441900", "name": "测试医院一"}
    sent = gw.ok("POST", f"/medical-record/{stay}", {"institution": institution, "record": record})
    assert sent == {"visit_no": stay, "sent": ["bizh200101", "bizh200102", "bizh200103", "bizh200106"]}
    records = gw.province.snapshot()["stays"][stay]["records"]
    assert records["bizh200101"]["yzy099"] == "M8000/3" and records["bizh200101"]["akc264"] == "100.00"


def test_raw_function_call_takes_and_gives_wire_codes(gw: Gateway) -> None:
    answer = gw.ok("POST", "/functions/bizh120001",
                   {"bka895": "aac001", "bka896": "1000000002", "aka130": "42", "bka006": "420"})
    assert answer["return_code"] == "1" and answer["personinfo"][0]["aac001"] == "1000000002"
    login = gw.post("/functions/sys0001", {"userid": USERID, "password": PASSWORD})
    assert login.status_code == 404 and PASSWORD not in login.text  # the gateway never relays a login
    assert gw.post("/functions/bizh999999", {}).status_code == 404


# --------------------------------------------------------------------------- authentication


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789abcdef", f"Basic {TOKEN}",
                                    f"Bearer {TOKEN[:-1]}", "Bearer"])
def test_every_endpoint_needs_the_token(gw: Gateway, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    with gateway_client(gw.app, token=None) as anonymous:
        for endpoint in ENDPOINTS:
            path = endpoint.path.replace("{visit}", "1").replace("{stay}", "1")
            response = anonymous.request(endpoint.method, path, json={}, headers=headers)
            assert response.status_code == 401, path
            assert response.json()["error"] == "unauthorized"
            assert response.headers["www-authenticate"].startswith("Bearer")
        assert anonymous.post("/functions/bizh120001", json={}, headers=headers).status_code == 401
        assert anonymous.get("/docs").status_code == 200 and anonymous.get("/openapi.json").status_code == 200
    assert gw.sent() == []  # nothing reached the province


def test_a_weak_token_is_refused(gw: Gateway) -> None:
    with pytest.raises(TokenError, match="at least 16"):
        create_gateway(gw.client, token="short")
    with pytest.raises(TokenError, match="whitespace"):
        create_gateway(gw.client, token="has a space in the middle")


# --------------------------------------------------------------------------- input errors (400)


def test_body_problems_are_all_named_with_path_and_wire_code(gw: Gateway) -> None:
    stay = {**a_stay(), "admission_date": "2019-5-8", "bedno": "12"}
    del stay["person_no"]
    response = gw.post("/inpatient/admit", {"stay": stay})
    assert response.status_code == 400
    error = response.json()
    assert error["error"] == "input" and error["function_id"] is None
    details = {item["field"]: item for item in error["fields"]}
    assert set(details) == {"stay.person_no", "stay.admission_date", "stay.bedno", "operator"}
    assert details["stay.admission_date"]["code"] == "bka017"
    assert details["stay.admission_date"]["message"] == 'must be a date "YYYY-MM-DD"'
    assert details["stay.bedno"]["message"] == "not a field of InpatientStay"
    assert gw.sent() == []


def test_a_value_the_spec_refuses_is_named_by_body_path_code_and_chinese_name(gw: Gateway) -> None:
    response = gw.post("/inpatient/lookup", {"patient": {"id_kind": "citizen_id", "id_value": "4" * 25}})
    assert response.status_code == 400
    error = response.json()
    assert (error["error"], error["function_id"]) == ("input", "bizh120001")
    assert error["fields"] == [{"field": "patient.id_value", "code": "bka896", "name": "入参值",
                                "message": "longer than 20"}]
    raw = gw.post("/functions/bizh120001", {"bka895": "aac001", "bka896": "4" * 25, "aka130": "42", "bka006": "420"})
    assert raw.status_code == 400 and raw.json()["fields"][0]["field"] == "bka896"


def test_a_bad_fee_row_is_named_by_its_index_in_the_hospital_list(gw: Gateway) -> None:
    stay = gw.admitted()
    items = fees(3)
    items[1]["item_code"] = "X" * 60
    items[2]["amount"] = "1.234"
    response = gw.post(f"/inpatient/{stay}/fees", {"fees": items[:2]})
    assert response.status_code == 400
    [detail] = response.json()["fields"]
    assert (detail["field"], detail["code"], detail["name"]) == ("fees[1].item_code", "ake005", "医院药品项目编码")
    three_places = gw.post(f"/inpatient/{stay}/fees", {"fees": [items[0], items[2]]}).json()
    assert three_places["fields"][0]["field"] == "fees[1].amount" and three_places["fields"][0]["code"] == "bka058"
    assert gw.sent("bizh120002") == []


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "body is not UTF-8 JSON"),
    (b"[1, 2]", "body must be a JSON object"),
    ('{"patient": "测试"}'.encode("gbk"), "body is not UTF-8 JSON"),
])
def test_a_body_that_is_not_a_json_object_is_400(gw: Gateway, body: bytes, message: str) -> None:
    response = gw.http.post("/inpatient/lookup", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["message"].startswith(message)


def test_amounts_are_never_read_through_a_float(gw: Gateway) -> None:
    stay = gw.admitted()
    item = {**fee(0), "unit_price": 3.125, "quantity": 4, "amount": 12.50}  # JSON numbers, read exactly
    assert gw.ok("POST", f"/inpatient/{stay}/fees", {"fees": [item]})["rows"] == 1
    assert gw.post(f"/inpatient/{stay}/cancel", {"to": "settled"}).json()["fields"][0]["field"] == "to"


# --------------------------------------------------------------------------- refusals (422) and faults


def test_a_province_refusal_is_422_with_its_return_code_and_a_masked_message(gw: Gateway) -> None:
    gw.faults.add("fail_then_succeed", function_id="bizh120001", n=1, code="-3",
                  message="查无此参保人 44190019900101001X")
    response = gw.post("/inpatient/lookup", {"patient": {"id_kind": "citizen_id", "id_value": "44190019900101001X"}})
    assert response.status_code == 422
    error = response.json()
    assert (error["error"], error["function_id"], error["return_code"]) == ("business", "bizh120001", "-3")
    assert "441900********001X" in error["message"] and "44190019900101001X" not in response.text
    assert PASSWORD not in response.text


def test_a_stay_not_yet_settled_has_no_settlement_sheet(gw: Gateway) -> None:
    stay = gw.admitted()
    response = gw.http.get(f"/inpatient/{stay}/settlement")
    assert response.status_code == 422 and response.json()["function_id"] == "bizh120206"


def test_cancel_to_a_stage_not_behind_is_a_workflow_refusal(gw: Gateway) -> None:
    stay = gw.admitted()
    response = gw.post(f"/inpatient/{stay}/cancel", {"to": "discharge_registered"})
    assert response.status_code == 422 and response.json()["error"] == "workflow"
    assert gw.sent("bizh120107", "bizh120108", "bizh120109") == []


def test_a_refused_later_fee_chunk_deletes_every_fee_and_is_409(gw: Gateway) -> None:
    stay = gw.admitted()
    items = fees(2 * CAP)
    items[CAP + CAP // 2]["amount"] = "999.00"  # not price x quantity: the province refuses chunk 2
    response = gw.post(f"/inpatient/{stay}/fees", {"fees": items})
    assert response.status_code == 409
    error = response.json()
    assert (error["error"], error["function_id"], error["return_code"]) == ("compensated", "bizh120002", "-1")
    assert error["compensations"] == ["bizh120004"]
    assert (error["uploaded_rows"], error["total_rows"]) == (CAP, 2 * CAP)
    assert error["original"]["error"] == "business"
    assert gw.province.snapshot()["stays"][stay]["fees"] == []


def test_a_bad_row_in_a_later_chunk_is_refused_before_any_chunk_is_sent(gw: Gateway) -> None:
    stay = gw.admitted()
    items = fees(400)
    items[350]["item_code"] = "X" * 60  # longer than ake005 allows; row 350 sits in chunk 2
    response = gw.post(f"/inpatient/{stay}/fees", {"fees": items})
    assert response.status_code == 400
    error = response.json()
    assert error["error"] == "input"
    assert [item["field"] for item in error["fields"]] == ["fees[350].item_code"]
    assert "feeinfo[350].ake005" in error["message"]  # numbered in the whole list, not per chunk
    assert gw.requests.records("bizh120002") == []  # nothing was sent, so nothing to undo
    assert gw.province.snapshot()["stays"][stay]["fees"] == []


def test_a_failed_compensation_is_409_with_both_errors(gw: Gateway) -> None:
    stay = gw.admitted()
    gw.faults.add("fail_then_succeed", function_id="bizh120004", n=1, code="-2", message="删除失败")
    items = fees(CAP + 100)
    items[CAP + 50]["amount"] = "999.00"
    response = gw.post(f"/inpatient/{stay}/fees", {"fees": items})
    assert response.status_code == 409
    error = response.json()
    assert error["error"] == "compensation_failed"
    assert (error["original"]["function_id"], error["original"]["return_code"]) == ("bizh120002", "-1")
    assert (error["compensation"]["function_id"], error["compensation"]["return_code"]) == ("bizh120004", "-2")
    assert error["completed"] == [] and len(gw.province.snapshot()["stays"][stay]["fees"]) == CAP


def test_an_unknown_outcome_is_504_with_the_journal_entry(gw: Gateway) -> None:
    stay = gw.discharged()
    gw.faults.add("malformed", function_id="bizh120106", times=1)  # settled, answer spoiled
    response = gw.post(f"/inpatient/{stay}/settle", {"operator": OPERATOR})
    assert response.status_code == 504
    error = response.json()
    assert (error["error"], error["function_id"]) == ("outcome_unknown", "bizh120106")
    [entry] = gw.client.journal.list(function_id="bizh120106")
    assert error["journal_id"] == entry.id and entry.status == Status.UNKNOWN
    assert "gdwi journal recover" in error["hint"] and "gdwi journal recover" in error["message"]
    assert gw.sent("bizh120107", "bizh120108") == []  # never compensated blindly


def test_an_unknown_fee_chunk_says_how_many_rows_were_saved(gw: Gateway) -> None:
    stay = gw.admitted()
    gw.faults.add("malformed", function_id="bizh120002", times=1)
    error = gw.post(f"/inpatient/{stay}/fees", {"fees": fees(10)}).json()
    assert error["error"] == "outcome_unknown" and "0 of 10 fee rows were saved" in error["notes"][0]


def test_an_unreachable_province_is_502(tmp_path: Path) -> None:
    with Client(settings("http://127.0.0.1:1", tmp_path)) as client, \
            gateway_client(create_gateway(client, token=TOKEN)) as http:
        response = http.post("/inpatient/lookup", json={"patient": {"id_kind": "person_no", "id_value": "1"}})
    assert response.status_code == 502 and response.json()["error"] == "transport"


def test_an_unknown_route_is_a_json_404(gw: Gateway) -> None:
    response = gw.http.get("/inpatient/1/nowhere")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


# --------------------------------------------------------------------------- docs


def test_docs_page_is_self_contained(gw: Gateway) -> None:
    response = gw.http.get("/docs", headers={"Authorization": ""})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    external = re.findall(r"https?://[^\s\"'<>]*", page)
    assert [url for url in external if not re.match(r"https?://(127\.0\.0\.1|localhost)[:/]", url)] == []
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert "/inpatient/{stay}/settle" in page and "bizh120002" in page and "GatewayError" in page


def test_openapi_documents_every_endpoint_and_no_login(gw: Gateway) -> None:
    document = gw.ok("GET", "/openapi.json")
    for endpoint in ENDPOINTS:
        operation = document["paths"][endpoint.path][endpoint.method.lower()]
        assert set(operation["responses"]) >= {"200", "401"}
    assert "/functions/bizh120002" in document["paths"] and "/functions/sys0001" not in document["paths"]
    schemas = document["components"]["schemas"]
    assert "akb020" not in schemas["Bizh120002Request"]["required"]  # the gateway fills it in
    assert schemas["FeeItem"]["properties"]["amount"]["format"] == "decimal"
    assert not any("password" in json.dumps(schema) for schema in schemas.values())


def test_body_shapes_stay_in_step_with_the_his_models() -> None:
    record = [f.name for f in fields(MedicalRecord) if f.name != "visit_no"]
    upload = {f.name: f.type for f in fields(MedicalRecordBody)}["record"]
    assert upload in ("FrontPageSet", FrontPageSet)
    assert sorted(f.name for f in fields(FrontPageSet)) == sorted(record)
    changed = {path.split(".")[1] for path in REQUESTS["bizh120104"].fields.values()
               if isinstance(path, str) and path != "stay.visit_no"}
    assert {f.name for f in fields(StayChanges)} == changed <= {f.name for f in fields(InpatientStay)}


# --------------------------------------------------------------------------- the command line


def test_serve_refuses_to_start_without_a_token_or_on_a_remote_address(tmp_path: Path) -> None:
    runner = CliRunner()
    no_token = runner.invoke(cli_app, ["gateway", "serve"], env={"GDWI_GATEWAY_TOKEN": ""})
    assert no_token.exit_code == 3 and "GDWI_GATEWAY_TOKEN" in no_token.output  # configuration
    remote = runner.invoke(cli_app, ["gateway", "serve", "--host", "0.0.0.0"], env={"GDWI_GATEWAY_TOKEN": TOKEN})
    assert remote.exit_code == 2 and "--allow-remote" in remote.output
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    assert read_token(token_file, {}) == TOKEN
    with pytest.raises(TokenError, match="at least 16"):
        read_token(None, {"GDWI_GATEWAY_TOKEN": "short"})
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("his.example")


# --------------------------------------------------------------------------- over real loopback sockets


def test_loopback_full_inpatient_stay(tmp_path: Path) -> None:
    with MockServer() as province, Client(settings(province.url, tmp_path)) as client, \
            GatewayServer(create_gateway(client, token=TOKEN)) as gateway, \
            httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as his:

        def ok(method: str, path: str, body: Any = None) -> Any:
            response = his.request(method, path, json=body)
            assert response.status_code == 200, response.text
            return response.json()

        [person] = ok("POST", "/inpatient/lookup",
                      {"patient": {"id_kind": "citizen_id", "id_value": "44190019900101006X"}})["persons"]
        stay = ok("POST", "/inpatient/admit", {"stay": a_stay(person["person_no"]), "operator": OPERATOR})["visit_no"]
        items = fees(320)
        assert ok("POST", f"/inpatient/{stay}/fees", {"fees": items})["calls"] == 2
        ok("POST", f"/inpatient/{stay}/discharge", {"discharge": A_DISCHARGE, "operator": OPERATOR})
        settled = ok("POST", f"/inpatient/{stay}/settle", {"operator": OPERATOR})
        sheet = ok("GET", f"/inpatient/{stay}/settlement")
        assert Decimal(settled["total"]) == Decimal(sheet["total"]) == total_of(items)
        assert his.get("/docs", headers={"Authorization": ""}).status_code == 200
        assert httpx.get(gateway.url + "/inpatient/1/settlement").status_code == 401


def test_loopback_concurrent_lookups_share_one_client(tmp_path: Path) -> None:
    with MockServer() as province, Client(settings(province.url, tmp_path)) as client, \
            GatewayServer(create_gateway(client, token=TOKEN)) as gateway:
        statuses: list[int] = []

        def look_up(person_no: str) -> None:
            with httpx.Client(base_url=gateway.url, headers=AUTH, timeout=10) as his:
                body = {"patient": {"id_kind": "person_no", "id_value": person_no}}
                statuses.append(his.post("/outpatient/lookup", json=body).status_code)

        valid = ["1000000001", "1000000002", "1000000006", "1000000007"]  # the seeded valid persons
        threads = [threading.Thread(target=look_up, args=(valid[n % 4],)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == [200] * 8


# --------------------------------------------------------------------------- no 5xx for any input

_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=12)  # surrogates included
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.decimals(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_POSTS = sorted({endpoint.path for endpoint in ENDPOINTS if endpoint.method == "POST"})


@given(path=st.sampled_from(_POSTS), body=st.dictionaries(_TEXT, _JSON, max_size=4))
@hypothesis_settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_body_gets_a_5xx(gw: Gateway, path: str, body: dict[str, Any]) -> None:
    raw = json.dumps(body, default=str).encode()  # ensure_ascii: lone surrogates travel as escapes
    response = gw.http.post(path.replace("{visit}", "90000001").replace("{stay}", "90000001"), content=raw,
                            headers={"Content-Type": "application/json"})
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
