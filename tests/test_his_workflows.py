"""The HIS layer (adapter/his) against the mock province: every workflow end to end and every
compensation path (交易补偿), driven by the mock's faults or a failing HIS commit callback.

Most tests go straight into the mock's ASGI app (InProcessTransport, no socket, a fresh province
per test); the `test_loopback_*` tests use a real MockServer on 127.0.0.1. Synthetic data only:
the seeded persons 1000000001…07 (`gdwi mock seed`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from seed_login import AKB020, PASSWORD, USERID
from seed_login import FEE_ROWS_PER_CALL as CAP

from adapter.errors import BusinessError, CommittedIncompleteError, InputError, OutcomeUnknownError
from adapter.his import (
    AmountMismatch,
    Coded,
    Compensated,
    CompensationFailed,
    Department,
    Diagnosis,
    Discharge,
    DischargeSummary,
    Doctor,
    FeeItem,
    FeeUploadFailed,
    FrontPage,
    IdentifierKind,
    InpatientService,
    InpatientStay,
    Institution,
    MappingError,
    MedicalRecord,
    MedicalRecordService,
    Newborn,
    OncologyTreatment,
    Operation,
    Operator,
    OutpatientService,
    OutpatientVisit,
    Patient,
    Registration,
    Settlement,
    Ward,
    doc,
    mapping,
    mapping_table,
    workflows,
)
from adapter.his.model import ChemotherapyCourse
from adapter.mock.app import RequestLog, context_of, create_app
from adapter.mock.faults import FaultPlan
from adapter.mock.inprocess import InProcessTransport
from adapter.mock.province import MockProvince
from adapter.mock.server import MockServer
from adapter.mock.style import AnswerStyle
from adapter.wire.client import Client, converters
from adapter.wire.config import Settings
from adapter.wire.journal import Status
from adapter.wire.validation import validate_message
from generated.registry import FIELDS, FUNCTIONS, SPEC

OPERATOR = Operator("T001", "测试操作员")
DAY = date(2019, 5, 8)
# Seeded catalogue items (code, name, unit price, quantity) whose price x quantity is exact.
CATALOGUE = [
    ("XY0001", "测试药品甲片", Decimal("3.1250"), Decimal("4.00")),
    ("HY0001", "测试血常规", Decimal("25.0000"), Decimal("1.00")),
    ("CW0001", "测试床位费", Decimal("45.0000"), Decimal("1.00")),
    ("ZF0001", "测试自费营养品", Decimal("60.0000"), Decimal("1.00")),
]


def fee(index: int, **changes: Any) -> FeeItem:
    code, name, price, quantity = CATALOGUE[index % len(CATALOGUE)]
    values: dict[str, Any] = {
        "item_code": code, "item_name": name, "unit_price": price, "quantity": quantity,
        "amount": (price * quantity).quantize(Decimal("0.01")), "fee_date": DAY,
        "hospital_fee_id": f"F{index:06d}", "entered_by": OPERATOR, **changes,
    }
    return FeeItem(**values)


def fees(count: int) -> list[FeeItem]:
    return [fee(i) for i in range(count)]


def total_of(items: Sequence[FeeItem]) -> Decimal:
    return sum((item.amount for item in items), Decimal(0))


def a_stay(person_no: str = "1000000002") -> InpatientStay:
    return InpatientStay(
        person_no=person_no, admission_date=DAY, diagnosis=Diagnosis("S62.501", "掌骨骨折"),
        hospital_stay_no="ZY20190001", ward=Ward("W03", "骨科病区"), department=Department("0301", "骨科"),
        bed_no="12", bed_type="1", doctor_code="D0001",
    )


def a_visit(person_no: str = "1000000001") -> OutpatientVisit:
    return OutpatientVisit(
        person_no=person_no, visit_date=DAY, diagnosis=Diagnosis("S62.001"),
        department=Department("K01", "测试科室"), ward=Ward("K01", "测试科室"), outpatient_no="MZ20190508001",
    )


A_DISCHARGE = Discharge(discharge_date=date(2019, 5, 20), diagnosis=Diagnosis("S62.501"), admission_route="1",
                        admission_condition="3", outcome="02", rescues=0, rescues_succeeded=0)


class HisDatabaseDown(Exception):
    """What a HIS commit callback raises in these tests."""


def failing_commit(result: object) -> None:
    raise HisDatabaseDown("HIS write failed")


# --------------------------------------------------------------------------- the mock, in process


@dataclass
class Province:
    """One fresh mock province and a client wired into it."""

    client: Client
    province: MockProvince
    faults: FaultPlan
    requests: RequestLog

    @property
    def outpatient(self) -> OutpatientService:
        return OutpatientService(self.client)

    @property
    def inpatient(self) -> InpatientService:
        return InpatientService(self.client)

    def sent(self, *function_ids: str) -> list[str]:
        """The function ids the province received, in order (only `function_ids` if given)."""
        return [str(r.function_id) for r in self.requests.records()
                if r.function_id != "sys0001" and (not function_ids or r.function_id in function_ids)]

    def statuses(self, function_id: str) -> list[Status]:
        """Journal statuses of `function_id`, oldest first."""
        return [e.status for e in reversed(self.client.journal.list(function_id=function_id))]

    def admitted(self, person_no: str = "1000000002") -> InpatientStay:
        stay = a_stay(person_no)
        return stay.with_visit_no(self.inpatient.admit(stay, OPERATOR).visit_no)

    def discharged(self, rows: int = 4) -> InpatientStay:
        stay = self.admitted()
        self.inpatient.upload_fees(stay, fees(rows))
        self.inpatient.discharge(stay, A_DISCHARGE, OPERATOR)
        return stay


def _settings(base_url: str, tmp_path: Path) -> Settings:
    return Settings(base_url=base_url, userid=USERID, password=PASSWORD, akb020=AKB020,
                    journal_path=str(tmp_path / "journal.sqlite"), retry_backoff=0.01, read_timeout=5)


@pytest.fixture(params=["strict", "real"])
def mock(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Province]:
    """A fresh province per test, answering in each style (adapter.mock.style): to the letter of
    spec/, and as a production platform plausibly does (4-decimal amounts, extra and empty elements,
    unlisted codes) — every workflow must hold against both."""
    app = create_app(style=AnswerStyle(request.param, seed=7))
    context = context_of(app)
    assert isinstance(context.province, MockProvince)
    with Client(_settings("http://127.0.0.1:9", tmp_path), http_transport=InProcessTransport(app)) as client:
        yield Province(client, context.province, context.faults, context.requests)


# --------------------------------------------------------------------------- outpatient 门诊


def test_outpatient_day_lookup_register_charge_refund_cancel(mock: Province) -> None:
    service = mock.outpatient
    [person] = service.lookup(Patient(IdentifierKind.CITIZEN_ID, "44190019900101001X"))
    assert person.person_no == "1000000001" and person.fund_usable and isinstance(person.valid_to, date)
    stored: list[Registration] = []
    registration = service.register(a_visit(person.person_no), OPERATOR, his_commit=stored.append)
    assert stored == [registration]
    [visit] = service.visits(Patient.by_visit_no(registration.visit_no))
    assert (visit.visit_no, visit.visit_date, visit.settled_flag) == (registration.visit_no, DAY, "0")

    items = [fee(0), fee(3)]  # one fund-covered, one self-pay item
    trial = service.trial(registration.visit_no, items, OPERATOR)
    assert (trial.total, trial.personal, trial.fund, trial.batch_no) == (
        Decimal("72.50"), Decimal("60.00"), Decimal("12.50"), None)
    charged = service.charge(registration.visit_no, items, OPERATOR)
    assert charged.total == total_of(items) == charged.personal + charged.fund and charged.batch_no == 1
    assert mock.sent("bizh110105") == ["bizh110105"] * 3  # trial, then charge = trial + commit

    refund = service.refund(registration.visit_no, 1, OPERATOR)
    assert (refund.total, refund.batch_no) == (-total_of(items), 2)
    service.cancel(registration.visit_no, OPERATOR)
    assert mock.province.stage_of(registration.visit_no) == "cancelled"


def test_charge_commits_nothing_when_the_trial_total_is_not_the_his_sum(mock: Province) -> None:
    class Doctored:
        """The province totalling the trial differently from the rows (差账 in the making)."""

        def call_wire(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
            answer = mock.client.call_wire(function_id, values)
            if function_id == "bizh110105" and values.get("bka893") == "0":
                answer["payinfo"][0]["akc264"] = "0.01"
            return answer

    registration = mock.outpatient.register(a_visit(), OPERATOR)
    with pytest.raises(AmountMismatch) as raised:
        OutpatientService(Doctored()).charge(registration.visit_no, [fee(0)], OPERATOR)
    assert (raised.value.his_total, raised.value.province_total) == (Decimal("12.50"), Decimal("0.01"))
    assert mock.sent("bizh110105") == ["bizh110105"]  # the trial only
    assert mock.province.stage_of(registration.visit_no) == "registered"


def test_outpatient_registration_is_cancelled_when_the_his_commit_fails(mock: Province) -> None:
    with pytest.raises(Compensated) as raised:
        mock.outpatient.register(a_visit(), OPERATOR, his_commit=failing_commit)
    error = raised.value
    assert isinstance(error.original, HisDatabaseDown) and error.__cause__ is error.original
    assert error.compensations == ("bizh110106",) == (FUNCTIONS["bizh110104"].compensation,)
    assert mock.province.stage_of(error.visit_no) == "cancelled"
    assert mock.sent() == ["bizh110104", "bizh110106"]
    assert mock.statuses("bizh110106") == [Status.OK]
    assert "HIS write failed" not in str(error)  # the HIS's own text stays in .original


# --------------------------------------------------------------------------- inpatient 住院


def test_inpatient_stay_lookup_to_settlement_sheet(mock: Province) -> None:
    service = mock.inpatient
    [person] = service.lookup(Patient(IdentifierKind.PERSON_NO, "1000000002"))
    assert person.fund_status == "0"
    stored: list[Registration] = []
    registration = service.admit(a_stay(person.person_no), OPERATOR, his_commit=stored.append)
    stay = a_stay().with_visit_no(registration.visit_no)
    assert stored == [registration] and service.stage_of(stay) == "admitted"

    moved = InpatientStay(**{**stay.__dict__, "ward": Ward("W05", "外科二病区"), "bed_no": "07"})
    service.modify(moved)
    [row] = service.stays(Patient.by_visit_no(stay.visit_no or ""))
    assert (row.ward_code, row.bed_no, row.hospital_no) == ("W05", "07", "ZY20190001")

    rows = 2 * CAP + 100
    items = fees(rows)
    progress: list[tuple[int, int]] = []
    upload = service.upload_fees(stay, items, progress=lambda done, total: progress.append((done, total)))
    assert (upload.rows, upload.calls) == (rows, 3)
    assert progress == [(CAP, rows), (2 * CAP, rows), (rows, rows)]
    assert mock.sent("bizh120002") == ["bizh120002"] * 3

    assert service.presettle(stay).total == total_of(items)
    discharge = service.discharge(stay, A_DISCHARGE, OPERATOR)
    assert discharge.total == total_of(items) and service.stage_of(stay) == "discharge_registered"
    settled: list[Settlement] = []
    settlement = service.settle(stay, OPERATOR, his_commit=settled.append)
    assert settled == [settlement] and settlement.visit_no == stay.visit_no
    assert settlement.total == settlement.personal + settlement.fund == total_of(items)
    assert service.stage_of(stay) == "settled"

    sheet = service.settlement_info(stay)
    assert (sheet.total, sheet.fund, sheet.personal) == (settlement.total, settlement.fund, settlement.personal)
    assert sheet.discharge_date == date(2019, 5, 20)
    assert [line.total for line in sheet.lines if line.label == "合计"] == [sheet.total]  # the matrix's total row
    lines = service.fee_list(stay)
    assert len(lines) == 700 and sum(line.amount for line in lines) == total_of(items)


def test_a_value_the_wire_cannot_carry_is_refused_before_any_chunk_is_sent(mock: Province) -> None:
    stay = mock.admitted()
    items = [*fees(650), fee(0, amount=Decimal("12.505"))]  # 3 decimals in chunk 3: never rounded
    with pytest.raises(ValueError, match="bka058"):
        mock.inpatient.upload_fees(stay, items)
    assert mock.sent("bizh120002", "bizh120004") == []


def test_a_row_breaking_the_spec_is_refused_before_any_chunk_is_sent(mock: Province) -> None:
    stay = mock.admitted()
    items = fees(650)
    items[350] = fee(350, item_code="X" * 60)  # ake005 is at most 20: row 350 sits in chunk 2
    with pytest.raises(InputError) as raised:
        mock.inpatient.upload_fees(stay, items)
    assert [(p.path, p.code, p.name) for p in raised.value.problems] == [
        ("feeinfo[350].ake005", "ake005", "医院药品项目编码")]
    assert mock.sent("bizh120002", "bizh120004") == []


def test_admission_is_cancelled_when_the_his_commit_fails(mock: Province) -> None:
    with pytest.raises(Compensated) as raised:
        mock.inpatient.admit(a_stay(), OPERATOR, his_commit=failing_commit)
    error = raised.value
    assert error.compensations == ("bizh120109",) == (FUNCTIONS["bizh120103"].compensation,)
    assert isinstance(error.original, HisDatabaseDown)
    assert mock.province.stage_of(error.visit_no) == "cancelled"
    assert mock.inpatient.stays(Patient.by_visit_no(error.visit_no)) == []  # bizh120102 no longer lists it
    assert mock.statuses("bizh120103") == [Status.OK] and mock.statuses("bizh120109") == [Status.OK]
    assert mock.admitted().visit_no != error.visit_no  # the person is free to be admitted again


def test_discharge_registration_is_cancelled_when_the_his_commit_fails(mock: Province) -> None:
    stay = mock.admitted()
    with pytest.raises(Compensated) as raised:
        mock.inpatient.discharge(stay, A_DISCHARGE, OPERATOR, his_commit=failing_commit)
    assert raised.value.compensations == ("bizh120108",)
    assert mock.province.stage_of(stay.visit_no or "") == "admitted"


def test_settlement_his_commit_failure_takes_the_stay_back_to_admitted(mock: Province) -> None:
    stay = mock.discharged()
    mock.requests.clear()
    with pytest.raises(Compensated) as raised:
        mock.inpatient.settle(stay, OPERATOR, his_commit=failing_commit)
    assert raised.value.compensations == ("bizh120107", "bizh120108")  # the reference's pair, in order
    assert mock.sent() == ["bizh120106", "bizh120107", "bizh120108"]
    assert mock.province.stage_of(stay.visit_no or "") == "admitted"
    assert mock.inpatient.stage_of(stay) == "admitted"
    # The stay goes on: discharge and settle again.
    mock.inpatient.discharge(stay, A_DISCHARGE, OPERATOR)
    assert mock.inpatient.settle(stay, OPERATOR).total == total_of(fees(4))


def test_fee_chunk_refused_after_earlier_chunks_deletes_all_fees(mock: Province) -> None:
    stay = mock.admitted()
    visit_no = stay.visit_no or ""
    mock.inpatient.upload_fees(stay, fees(3))  # an earlier upload: bizh120004 deletes it too

    def refuse_the_third_chunk(done: int, total: int) -> None:
        if done == 600:  # after chunk 2: the province refuses the next bizh120002 of this stay
            mock.faults.add("fail_then_succeed", function_id="bizh120002", aaz218=visit_no, n=1,
                            answer="return_code", code="-1", message="费用明细校验失败")

    with pytest.raises(FeeUploadFailed) as raised:
        mock.inpatient.upload_fees(stay, fees(700), progress=refuse_the_third_chunk)
    error = raised.value
    assert (error.uploaded_rows, error.total_rows, error.compensations) == (600, 700, ("bizh120004",))
    assert isinstance(error.original, BusinessError) and error.original.message == "费用明细校验失败"
    assert mock.inpatient.fee_list(stay) == []  # every fee of the stay is gone
    assert mock.statuses("bizh120002") == [Status.OK] * 3 + [Status.REJECTED]
    assert mock.statuses("bizh120004") == [Status.OK]
    assert mock.inpatient.upload_fees(stay, fees(700)).rows == 700  # re-upload the whole list


def test_first_fee_chunk_refused_deletes_nothing(mock: Province) -> None:
    stay = mock.admitted()
    mock.faults.add("fail_then_succeed", function_id="bizh120002", aaz218=stay.visit_no, n=1)
    with pytest.raises(BusinessError):
        mock.inpatient.upload_fees(stay, fees(700))
    assert mock.sent("bizh120002", "bizh120004") == ["bizh120002"]


# --------------------------------------------------------------------------- compensations that fail


def test_failed_cancel_admission_raises_with_both_errors_and_journals_both(mock: Province) -> None:
    mock.faults.add("fail_then_succeed", function_id="bizh120109", n=1, message="取消入院登记失败")
    with pytest.raises(CompensationFailed) as raised:
        mock.inpatient.admit(a_stay(), OPERATOR, his_commit=failing_commit)
    error = raised.value
    assert isinstance(error.original, HisDatabaseDown)
    assert isinstance(error.compensation_error, BusinessError) and error.compensation_error.message == "取消入院登记失败"
    assert (error.failed_function_id, error.completed) == ("bizh120109", ())
    assert mock.statuses("bizh120103") == [Status.OK] and mock.statuses("bizh120109") == [Status.REJECTED]
    assert mock.province.stage_of(error.visit_no) == "admitted"  # still held: reported, not hidden


def test_failed_second_reversal_of_a_settlement_names_what_was_done(mock: Province) -> None:
    stay = mock.discharged()
    mock.faults.add("fail_then_succeed", function_id="bizh120108", n=1)
    with pytest.raises(CompensationFailed) as raised:
        mock.inpatient.settle(stay, OPERATOR, his_commit=failing_commit)
    assert (raised.value.completed, raised.value.failed_function_id) == (("bizh120107",), "bizh120108")
    assert mock.province.stage_of(stay.visit_no or "") == "discharge_registered"


def test_failed_fee_deletion_leaves_the_saved_chunks_and_says_so(mock: Province) -> None:
    stay = mock.admitted()
    mock.faults.add("fail_then_succeed", function_id="bizh120004", n=1)

    def refuse_the_second_chunk(done: int, total: int) -> None:
        mock.faults.add("fail_then_succeed", function_id="bizh120002", n=1)

    with pytest.raises(CompensationFailed) as raised:
        mock.inpatient.upload_fees(stay, fees(CAP + 100), progress=refuse_the_second_chunk)
    assert isinstance(raised.value.original, BusinessError)
    assert isinstance(raised.value.compensation_error, BusinessError)
    assert len(mock.inpatient.fee_list(stay)) == CAP
    assert mock.statuses("bizh120004") == [Status.REJECTED]


def test_compensation_with_an_unknown_outcome_is_reported_unknown(mock: Province) -> None:
    mock.faults.add("malformed", function_id="bizh110106", times=1)
    with pytest.raises(CompensationFailed) as raised:
        mock.outpatient.register(a_visit(), OPERATOR, his_commit=failing_commit)
    assert isinstance(raised.value.compensation_error, OutcomeUnknownError)
    assert mock.statuses("bizh110106") == [Status.UNKNOWN]  # left for `gdwi journal recover`


# --------------------------------------------------------------------------- unknown outcomes: no blind compensation


def test_settlement_with_unknown_outcome_sends_no_reversal(mock: Province) -> None:
    stay = mock.discharged()
    mock.faults.add("malformed", function_id="bizh120106", times=1)  # settled, answer spoiled
    committed: list[Settlement] = []
    with pytest.raises(OutcomeUnknownError):
        mock.inpatient.settle(stay, OPERATOR, his_commit=committed.append)
    assert committed == []
    assert mock.sent("bizh120107", "bizh120108") == []
    assert mock.statuses("bizh120106") == [Status.UNKNOWN]
    assert mock.province.stage_of(stay.visit_no or "") == "settled"


def test_fee_chunk_with_unknown_outcome_deletes_nothing(mock: Province) -> None:
    stay = mock.admitted()

    def spoil_the_next_answer(done: int, total: int) -> None:
        mock.faults.add("malformed", function_id="bizh120002", times=1)

    with pytest.raises(OutcomeUnknownError) as raised:
        mock.inpatient.upload_fees(stay, fees(2 * CAP + 100), progress=spoil_the_next_answer)
    assert f"{CAP} of {2 * CAP + 100} fee rows were saved before this chunk" in "".join(raised.value.__notes__)
    assert mock.sent("bizh120002", "bizh120004") == ["bizh120002", "bizh120002"]
    assert len(mock.inpatient.fee_list(stay)) == 2 * CAP  # the province did save the spoiled chunk


def test_outpatient_registration_with_unknown_outcome_is_not_cancelled(mock: Province) -> None:
    mock.faults.add("malformed", function_id="bizh110104", times=1)
    with pytest.raises(OutcomeUnknownError):
        mock.outpatient.register(a_visit(), OPERATOR, his_commit=failing_commit)
    assert mock.sent() == ["bizh110104"]


# --------------------------------------------------------------------------- cancel_to and the registry's chain


def test_cancel_to_walks_a_settled_stay_back_in_order(mock: Province) -> None:
    stay = mock.discharged()
    mock.inpatient.settle(stay, OPERATOR)
    mock.requests.clear()
    assert mock.inpatient.cancel_to(stay, "settled") == ()
    assert mock.inpatient.cancel_to(stay, "cancelled") == ("bizh120107", "bizh120108", "bizh120109")
    assert mock.sent() == ["bizh120102", "bizh120102", "bizh120107", "bizh120108", "bizh120109"]
    assert mock.province.stage_of(stay.visit_no or "") == "cancelled"


def test_cancel_to_refuses_a_stage_that_is_not_behind_before_sending(mock: Province) -> None:
    stay = mock.admitted()
    with pytest.raises(ValueError, match="cannot go back from admitted to settled"):
        mock.inpatient.cancel_to(stay, "settled")
    assert mock.sent("bizh120107", "bizh120108", "bizh120109") == []


def test_chains_come_from_the_registry() -> None:
    assert workflows.reversal_path("inpatient", "settled", "admitted") == ("bizh120107", "bizh120108")
    assert workflows.reversal_path("outpatient", "registered", "cancelled") == ("bizh110106",)
    assert workflows.UNDO_SETTLEMENT == ("bizh120107", "bizh120108")
    assert (FUNCTIONS["bizh120002"].compensation,) == workflows.UNDO_FEES
    with pytest.raises(LookupError):
        workflows.compensations_of("bizh110105")  # outpatient settlement: reversed by a refund (D7)
    with pytest.raises(ValueError):
        workflows.reversal_path("inpatient", "cancelled", "admitted")


# --------------------------------------------------------------------------- medical record 病案首页


INSTITUTION = Institution(region_code="441900", licence_no="4419000000001", name="测试医院一")


def a_record(visit_no: str, *, full: bool) -> MedicalRecord:
    page = FrontPage(record_no="BA0000001", admission_count=1, name="测试乙", sex=Coded("2", "女"),
                     birth_date=date(1990, 1, 1), admitted_on=DAY, discharged_on=date(2019, 5, 20),
                     admission_department=Department("0301", "骨科"), stay_days=12,
                     attending_physician=Doctor("D0001", "测试医生"), total_cost=Decimal("100.00"),
                     extra={"yzy099": "M8000/3"})
    optional: dict[str, Any] = {}
    if full:
        optional = {
            "operations": [Operation("79.3300", "掌骨骨折切开复位内固定术", operated_on=DAY,
                                     incision=Coded("2", "Ⅰ类切口"), surgeon=Doctor("D020", "测试医生"))],
            "newborns": [Newborn(sex=Coded("2", "女"), weight="3200")],
            "oncology": OncologyTreatment(radiotherapy_mode=Coded(None, "体外照射"), primary_fractions=30,
                                          courses=[ChemotherapyCourse(DAY, "测试药物甲 100mg", "1")]),
        }
    return MedicalRecord(
        visit_no=visit_no, front_page=page, icd_version="1", id_document_type="1",
        diagnoses=[Diagnosis("S62.300", "右手第三掌骨骨折", "1", Coded("1", "有")), Diagnosis("S60.800", "挫伤", "2")],
        summary=DischargeSummary(admission_diagnosis="右手第三掌骨骨折", physician="测试医生"), **optional,
    )


def test_medical_record_sends_optional_parts_only_with_data(mock: Province) -> None:
    stay = mock.discharged()
    service = MedicalRecordService(mock.client, INSTITUTION)
    mock.requests.clear()
    assert service.upload(a_record(stay.visit_no or "", full=False)) == ("bizh200101", "bizh200102", "bizh200106")
    full = ("bizh200101", "bizh200102", "bizh200103", "bizh200104", "bizh200105", "bizh200106")
    assert service.upload(a_record(stay.visit_no or "", full=True)) == full
    assert mock.sent() == ["bizh200101", "bizh200102", "bizh200106", *full]
    records = mock.province.snapshot()["stays"][stay.visit_no]["records"]
    assert records["bizh200102"]["detail"][1]["yzy201"] == "2"  # 排序 from the list position
    assert records["bizh200101"]["yzy099"] == "M8000/3"  # an `extra` field by wire code


def test_medical_record_with_an_unknown_extra_code_sends_nothing(mock: Province) -> None:
    stay = mock.discharged()
    record = a_record(stay.visit_no or "", full=False)
    bad = MedicalRecord(**{**record.__dict__, "front_page": FrontPage(extra={"bka999": "x"})})
    mock.requests.clear()
    with pytest.raises(MappingError, match="bka999"):
        MedicalRecordService(mock.client, INSTITUTION).upload(bad)
    assert mock.sent() == []


# --------------------------------------------------------------------------- over a real loopback socket


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as running:
        yield running


@pytest.fixture
def loopback(server: MockServer, tmp_path: Path) -> Iterator[Province]:
    server.province.reset()
    server.faults.clear()
    server.requests.clear()
    assert isinstance(server.province, MockProvince)
    with Client(_settings(server.url, tmp_path)) as client:
        yield Province(client, server.province, server.faults, server.requests)


def test_loopback_admission_dropped_after_commit_is_not_compensated(loopback: Province) -> None:
    loopback.faults.add("commit_then_drop", function_id="bizh120103", times=1)
    called: list[Registration] = []
    with pytest.raises(OutcomeUnknownError):
        loopback.inpatient.admit(a_stay(), OPERATOR, his_commit=called.append)
    assert called == [] and loopback.sent() == ["bizh120103"]  # no bizh120109 sent blindly
    assert loopback.statuses("bizh120103") == [Status.UNKNOWN]
    [record] = loopback.requests.records("bizh120103")
    assert loopback.province.stage_of(str(record.aaz218)) == "admitted"  # the province committed


def test_loopback_stay_settled_then_undone_when_the_his_commit_fails(loopback: Province) -> None:
    stay = loopback.discharged(rows=301)
    with pytest.raises(Compensated) as raised:
        loopback.inpatient.settle(stay, OPERATOR, his_commit=failing_commit)
    assert raised.value.compensations == ("bizh120107", "bizh120108")
    assert loopback.inpatient.stage_of(stay) == "admitted"
    assert loopback.sent("bizh120002") == ["bizh120002"] * 2


# --------------------------------------------------------------------------- the mapping and its page


def test_mapping_page_is_up_to_date() -> None:
    assert doc.DOC_PATH.read_text(encoding="utf-8") == doc.render(), (
        "docs/his-mapping.md is stale: run `python -m adapter.his.doc`")


def test_mapping_table_rows_use_the_registry_names() -> None:
    assert set(doc.METHODS) == set(mapping.MAPPED_FUNCTIONS)
    for function_id in mapping.MAPPED_FUNCTIONS:
        rows = mapping_table(function_id)
        assert rows, function_id
        for his, wire, name in rows:
            code = wire.split(".")[-1]
            if code in FIELDS:
                assert name == FIELDS[code].name, (function_id, his, wire)
    assert ("stay.ward.code", "bka021", "病区编码") in mapping_table("bizh120103")
    assert ("fees[].amount", "feeinfo[].bka058", "金额") in mapping_table("bizh120002", "request")
    assert ("Settlement.total", "akc264", "医疗总费用") in mapping_table("bizh120106", "response")
    with pytest.raises(MappingError):
        mapping_table("sys0001")


def test_a_broken_declaration_is_refused() -> None:
    typo = mapping.Request("bizh120103", {"stay": InpatientStay}, {"bka021": "stay.ward.cod"})
    with pytest.raises(MappingError, match="Ward has no attribute 'cod'"):
        mapping._check_request(typo)
    unknown = mapping.Request("bizh120103", {"stay": InpatientStay}, {"bka999": "stay.bed_no"})
    with pytest.raises(MappingError, match="bka999"):
        mapping._check_request(unknown)


def _full_requests() -> dict[str, dict[str, Any]]:
    """Every mapped request built from fully filled HIS objects, as its generated build writes it."""
    return {function_id: converters(function_id).build_request(request)
            for function_id, request in _typed_requests().items()}


def _typed_requests() -> dict[str, Any]:
    """Every mapped request filled from fully filled HIS objects (generated typed requests)."""
    operator, stay = OPERATOR, a_stay().with_visit_no("90000001201900000001")
    visit_no = "90000001201900000001"
    items = [fee(0, prescription_no="CF0001", doctor=Doctor("D0001", "测试医生"), dosage_form="片剂",
                 manufacturer="测试药厂", specification="0.25g*24片", unit="盒", restricted="0",
                 injury_split="0", serial_no="1")]
    record = a_record(visit_no, full=True)
    patient = Patient(IdentifierKind.CITIZEN_ID, "44190019900101002X")
    built: dict[str, Any] = {
        "bizh110103": mapping.refund_lookup_request(visit_no, 1),
        "bizh110104": mapping.registration_request(a_visit(), operator),
        "bizh110105": mapping.charge_request(visit_no, items, operator, commit=True),
        "bizh110106": mapping.cancellation_request("bizh110106", visit_no, operator),
        "bizh120002": mapping.fee_upload_request(visit_no, items),
        "bizh120003": mapping.presettle_request(visit_no, "1"),
        "bizh120004": mapping.delete_fees_request(visit_no),
        "bizh120103": mapping.admission_request(stay, operator),
        "bizh120104": mapping.modify_admission_request(stay),
        "bizh120105": mapping.discharge_request(visit_no, A_DISCHARGE, operator),
        "bizh120106": mapping.settle_request(visit_no, operator),
        "bizh120113": mapping.fee_list_request(visit_no, "2"),
        "bizh120206": mapping.settlement_sheet_request(visit_no),
    }
    for function_id in ("bizh110001", "bizh110102", "bizh120001", "bizh120102"):
        built[function_id] = mapping.lookup_request(function_id, patient)
    for function_id in ("bizh120107", "bizh120108", "bizh120109"):
        built[function_id] = mapping.cancellation_request(function_id, visit_no)
    for number in range(1, 7):
        built[f"bizh20010{number}"] = mapping.medical_record_request(f"bizh20010{number}", record, INSTITUTION)
    return built


def test_every_mapped_request_is_valid_wire_text() -> None:
    built = _full_requests()
    assert set(built) == set(mapping.MAPPED_FUNCTIONS)
    for function_id, wire in built.items():
        validate_message(function_id, "request", {**wire, "akb020": AKB020})  # raises naming the field
    fee_row = built["bizh120002"]["feeinfo"][0]
    assert (fee_row["bka056"], fee_row["bka057"], fee_row["bka058"], fee_row["bka051"]) == (
        "3.1250", "4.00", "12.50", "20190508")
    assert built["bizh110105"]["bka893"] == "1" and built["bizh110001"]["bka895"] == "aac002"
    assert "bka022" in built["bizh120103"] and "bka021" not in built["bizh120003"]


def test_fee_chunks_respect_the_spec_limit() -> None:
    sent: list[int] = []

    class Counting:
        def call_wire(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
            sent.append(len(values["feeinfo"]))
            return {"return_code": "1"}

    upload = InpatientService(Counting()).upload_fees("90000001201900000001", fees(2 * SPEC.fee_rows_per_call + 1))
    assert sent == [SPEC.fee_rows_per_call, SPEC.fee_rows_per_call, 1] and upload.calls == 3


def test_services_take_any_wire_caller() -> None:
    """The gateway may wrap the client; the services only need call_wire."""
    caller: Callable[[str, dict[str, Any]], dict[str, Any]] = lambda fid, values: {  # noqa: E731
        "return_code": "1", "aaz218": "90000001201900000009"}

    class Wrapper:
        def call_wire(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
            return caller(function_id, values)

    assert InpatientService(Wrapper()).admit(a_stay(), OPERATOR).visit_no == "90000001201900000009"


# --------------------------------------------------------------------------- answers that deviate (D28)


class _Stripping:
    """A wire caller in front of the mock that drops fields from chosen answers."""

    def __init__(self, mock: Province, drop: dict[str, str]) -> None:
        self.mock, self.drop = mock, drop

    def call_wire(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        answer = self.mock.client.call_wire(function_id, values)
        if function_id in self.drop:
            answer.pop(self.drop[function_id], None)
        return answer


def test_an_admission_answer_without_its_visit_number_is_completed_by_the_look_up(mock: Province) -> None:
    service = InpatientService(_Stripping(mock, {"bizh120103": "aaz218"}))
    registration = service.admit(a_stay("1000000002"), OPERATOR)
    [row] = mock.inpatient.stays(Patient(IdentifierKind.PERSON_NO, "1000000002"))
    assert registration.visit_no == row.visit_no
    assert any("aaz218 missing_field" in warning for warning in registration.warnings)
    assert mock.sent() == ["bizh120103", "bizh120102", "bizh120102"]  # no reversal


def test_a_committed_admission_that_cannot_be_completed_is_never_compensated(mock: Province) -> None:
    service = InpatientService(_Stripping(mock, {"bizh120103": "aaz218", "bizh120102": "bizinfo"}))
    with pytest.raises(CommittedIncompleteError) as raised:
        service.admit(a_stay("1000000002"), OPERATOR, his_commit=lambda registration: None)
    assert raised.value.function_id == "bizh120103" and "aaz218" in raised.value.missing
    assert "bizh120109" not in mock.sent()  # the admission stands
    assert [s for s in mock.statuses("bizh120103")] == [Status.OK]


def test_a_registration_answer_with_the_number_only_in_payinfo_is_read_there(mock: Province) -> None:
    class MovedToPayinfo:
        def call_wire(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
            answer = mock.client.call_wire(function_id, values)
            if function_id == "bizh110104":
                answer["payinfo"] = [{"aaz218": answer.pop("aaz218")}]
            return answer

    registration = OutpatientService(MovedToPayinfo()).register(a_visit(), OPERATOR)
    assert registration.visit_no and mock.province.stage_of(registration.visit_no) == "registered"


def test_a_whole_inpatient_stay_against_real_shaped_answers(tmp_path: Path) -> None:
    """4-decimal amounts, indentation, extra and empty elements: read, warned, never raised."""
    app = create_app(style=AnswerStyle("real"))
    with Client(_settings("http://127.0.0.1:9", tmp_path), http_transport=InProcessTransport(app)) as client:
        service = InpatientService(client)
        registration = service.admit(a_stay("1000000002"), OPERATOR)
        stay = a_stay().with_visit_no(registration.visit_no)
        items = fees(650)
        service.upload_fees(stay, items)
        assert service.presettle(stay).total == total_of(items)
        service.discharge(stay, A_DISCHARGE, OPERATOR)
        settlement = service.settle(stay, OPERATOR)
        assert settlement.total == settlement.personal + settlement.fund == total_of(items)
        assert service.settlement_info(stay).total == total_of(items)
        assert sum(line.amount for line in service.fee_list(stay)) == total_of(items)
        recorded = client.journal.deviations()
    assert recorded and all(d.kind.value in ("unknown_element", "empty_element", "unlisted_code")
                            for _, _, d in recorded)


def test_a_deviation_repeated_on_every_row_is_journaled_once_per_answer(tmp_path: Path) -> None:
    """A 650-row real-shaped fee list: one record per field and kind, with the row count."""
    app = create_app(style=AnswerStyle("real"))
    with Client(_settings("http://127.0.0.1:9", tmp_path), http_transport=InProcessTransport(app)) as client:
        service = InpatientService(client)
        stay = a_stay().with_visit_no(service.admit(a_stay("1000000002"), OPERATOR).visit_no)
        service.upload_fees(stay, fees(650))
        listed = service.fee_list(stay)
        recorded = client.journal.deviations()
    assert len(listed) == 650
    keys = [(entry, re.sub(r"\[\d+\]", "[*]", d.path), d.kind, d.sample if d.kind.value == "unlisted_code" else "")
            for _, entry, d in recorded]
    assert len(keys) == len(set(keys)), "a field's deviation is journaled once per answer"
    per_row = [d for _, _, d in recorded if "[*]" in d.path]
    assert per_row, "the real style repeats deviations on rows"
    assert all(d.detail.startswith("in ") and " rows, first " in d.detail for d in per_row)


def test_any_mapped_function_is_filled_by_its_declaration_alone() -> None:
    """request_of: a new transaction needs a declaration, no builder function of its own."""
    visit_no = "90000001201900000001"
    assert mapping.request_of("bizh120106", visit_no=visit_no, operator=OPERATOR) == \
        mapping.settle_request(visit_no, OPERATOR)
    with pytest.raises(MappingError, match="needs operator"):
        mapping.request_of("bizh120106", visit_no=visit_no)
    with pytest.raises(MappingError, match="not mapped"):
        mapping.request_of("bizh410004")


def test_a_deviating_answer_is_one_warning_line_with_its_journal_entry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real answer differs in a dozen places on every call: stderr gets one line, INFO the rest."""
    app = create_app(style=AnswerStyle("real"))
    with Client(_settings("http://127.0.0.1:9", tmp_path), http_transport=InProcessTransport(app)) as client:
        service = InpatientService(client)
        stay = a_stay().with_visit_no(service.admit(a_stay("1000000002"), OPERATOR).visit_no)
        service.upload_fees(stay, fees(40))
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="gdwi"):
            service.fee_list(stay)
        everything = client.journal.deviations()
        last = max(entry for _, entry, _ in everything)
        recorded = [d for _, entry, d in everything if entry == last]
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    detailed = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "deviates" in r.getMessage()]
    assert len(warned) == 1, warned
    assert "differs from the spec in" in warned[0] and "journal entry" in warned[0]
    assert len(detailed) == len(recorded) > 1
