"""HIS objects <-> wire dicts, one declaration per transaction.

Each transaction the HIS layer sends is declared once, as data: which HIS attribute path
(`stay.ward.code`) fills which wire code (`bka021`), and which answer field fills which result
attribute (`Settlement.total` <- `akc264`). The same declarations build the requests, read the
answers, print the mapping table (`mapping_table`) and the page docs/his-mapping.md (written by
`python -m adapter.his.doc`). They are checked when this module is imported: every path must exist
on the declared HIS types, every code in the function's request or response in generated/registry.
So a spec change that drops a field, or a renamed model attribute, fails at import, not at the
counter.

Values become wire text through adapter.wire.codec.format_value (Decimal and date formatted, nothing
rounded); None and "" are left out (an empty element means absent); enums send their value and a
bool flag sends 1 / 0.

Public: one `*_request` function per transaction (HIS objects -> wire dict), the `read_*`
functions (answer -> result types), `mapping_table(function_id)` and `MAPPED_FUNCTIONS`.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, Generic, Literal, TypeVar, cast

from adapter.errors import FieldProblem, InputError, MappingError
from adapter.his.model import (
    BusinessInfo,
    Discharge,
    FeeItem,
    FeeListLine,
    InpatientStay,
    Institution,
    MedicalRecord,
    Operator,
    OutpatientVisit,
    Patient,
    PersonInfo,
    Registration,
    Settlement,
    SettlementSheet,
    SheetLine,
)
from adapter.wire.client import converters
from adapter.wire.codec import format_value
from generated.registry import FIELDS, FUNCTIONS

__all__ = [
    "MAPPED_FUNCTIONS",
    "MappingError",
    "admission_request",
    "cancellation_request",
    "charge_request",
    "delete_fees_request",
    "discharge_request",
    "fee_list_request",
    "fee_upload_request",
    "lookup_request",
    "mapping_table",
    "medical_record_request",
    "modify_admission_request",
    "presettle_request",
    "read_business",
    "read_fee_list",
    "read_persons",
    "read_registration",
    "read_settlement",
    "read_settlement_sheet",
    "refund_lookup_request",
    "refund_request",
    "registration_request",
    "settle_request",
    "settlement_sheet_request",
]

T = TypeVar("T")
Wire = dict[str, Any]


# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Fixed:
    """A wire value the HIS does not supply, the same for every call (e.g. 业务类型 42)."""

    value: str


@dataclass(frozen=True)
class Position:
    """The row's 1-based position in its list (排序 yzy201 of the front-page details)."""


Binding = str | Fixed | Position


@dataclass(frozen=True)
class Rows:
    """A dataset: one wire row per item of the sequence at `source`; paths relative to the item."""

    source: str
    fields: Mapping[str, Binding]


@dataclass(frozen=True)
class Request:
    """How one transaction's request is filled from HIS objects.

    `roots` names the mapping function's arguments and their types (the paths start with one of
    them); `fields` maps wire code -> binding; `extra` is a path to a {wire code: value} mapping
    sent as given (the front page's long tail).
    """

    function_id: str
    roots: Mapping[str, object]
    fields: Mapping[str, Binding]
    datasets: Mapping[str, Rows] = field(default_factory=dict)
    extra: str | None = None


@dataclass(frozen=True)
class Reading(Generic[T]):
    """How an answer is read into a result type: result attribute -> wire code.

    `dataset` None reads the answer's scalars (one result); a name reads one result per row.
    `lists` fills sequence attributes from datasets of the same answer.
    """

    result: type[T]
    fields: Mapping[str, str]
    dataset: str | None = None
    lists: Mapping[str, Reading[Any]] = field(default_factory=dict)


def _header(function_id: str) -> dict[str, Binding]:
    """The fields every medical-record upload (bizh2001xx) starts with."""
    header: dict[str, Binding] = {
        "aaz218": "record.visit_no",
        "aab299": "institution.region_code",
        "yab600": "institution.branch_code",
        "akb026": "institution.licence_no",
        "akb021": "institution.name",
        "aab301": "record.insured_region",
        "yab060": "record.insured_branch",
        "aac002": "record.social_security_no",
        "aac043": "record.id_document_type",
        "aac044": "record.id_document_no",
    }
    if function_id in ("bizh200101", "bizh200102"):
        header["yzy003"] = "record.icd_version"
    return header


def _prefixed(prefix: str, fields: Mapping[str, str]) -> dict[str, Binding]:
    return {code: f"{prefix}.{path}" for code, path in fields.items()}


OUTPATIENT_FEE_ROW: Mapping[str, Binding] = {
    "ake005": "item_code", "ake006": "item_name", "aaz213": "serial_no", "bka052": "dosage_form",
    "bka053": "manufacturer", "bka054": "specification", "bka051": "fee_date", "bka055": "unit",
    "bka056": "unit_price", "bka057": "quantity", "bka058": "amount", "bka070": "prescription_no",
    "bka074": "doctor.code", "bka075": "doctor.name", "bka071": "hospital_fee_id",
    "aka036": "restricted", "bka061": "injury_split",
}
INPATIENT_FEE_ROW: Mapping[str, Binding] = {
    "ake005": "item_code", "ake006": "item_name", "bka056": "unit_price", "bka057": "quantity",
    "bka058": "amount", "bka051": "fee_date", "bka063": "entered_by.code", "bka064": "entered_by.name",
    "bka052": "dosage_form", "bka053": "manufacturer", "bka054": "specification", "bka055": "unit",
    "bka070": "prescription_no", "bka074": "doctor.code", "bka075": "doctor.name",
    "aaz213": "serial_no", "aka036": "restricted", "bka061": "injury_split",
    "bka071": "hospital_fee_id",
}
FRONT_PAGE: Mapping[str, str] = {
    "yzy001": "record_no", "yzy002": "admission_count", "yzy004": "stay_serial_no",
    "yzy029": "health_card_no", "aac003": "name", "aac004": "sex.code", "yzy008": "sex.name",
    "aac006": "birth_date", "akc023": "age", "yzy010": "birthplace", "yzy011": "id_card_no",
    "aac161": "nationality.code", "yzy013": "nationality.name", "aac005": "ethnicity.code",
    "yzy015": "ethnicity.name", "aca111": "occupation.code", "yzy016": "occupation.name",
    "aac017": "marital_status.code", "yzy018": "marital_status.name", "yzy088": "native_place",
    "yzy089": "current_address", "yzy090": "current_phone", "yzy091": "current_postcode",
    "aac010": "hukou_address", "yzy024": "hukou_postcode", "aab004": "employer_name",
    "yzy020": "employer_address", "yzy021": "employer_phone", "yzy022": "employer_postcode",
    "aae004": "contact_name", "yzy026": "contact_relationship", "yzy027": "contact_address",
    "yzy028": "contact_phone", "yzy095": "admission_route.code", "yzy096": "admission_route.name",
    "ykc701": "admitted_on", "yzy032": "admission_department.code",
    "yzy033": "admission_department.name", "yzy034": "admission_ward", "ykc702": "discharged_on",
    "yzy037": "discharge_department.code", "yzy038": "discharge_department.name",
    "yzy039": "discharge_ward", "akb063": "stay_days", "akc193": "outpatient_diagnosis.code",
    "akc050": "outpatient_diagnosis.name", "yzy043": "outpatient_doctor.code",
    "ake022": "outpatient_doctor.name", "yzy047": "rescues", "yzy048": "rescues_succeeded",
    "yzy049": "department_head.code", "yzy050": "department_head.name",
    "yzy051": "chief_physician.code", "yzy052": "chief_physician.name",
    "yzy053": "attending_physician.code", "yzy054": "attending_physician.name",
    "yzy055": "resident_physician.code", "yzy056": "resident_physician.name",
    "yzy103": "responsible_nurse.code", "yzy104": "responsible_nurse.name", "yzy061": "coder.code",
    "yzy062": "coder.name", "yzy063": "record_quality.code", "yzy064": "record_quality.name",
    "yzy078": "blood_type.code", "yzy079": "blood_type.name", "yzy080": "rh.code", "yzy081": "rh.name",
    "yzy101": "drug_allergy.code", "yzy102": "drug_allergy.name", "yzy046": "allergy_drugs",
    "yzy105": "discharge_mode.code", "yzy106": "discharge_mode.name",
    "yzy109": "readmission_plan.code", "yzy110": "readmission_plan.name",
    "yzy111": "readmission_purpose", "yzy120": "payment_method.code", "yzy121": "payment_method.name",
    "akc264": "total_cost", "yzy122": "self_paid", "ake047": "western_medicine",
    "yzy072": "chinese_medicine", "ake050": "chinese_patent_medicine",
    "ake049": "chinese_herbal_medicine", "ake044": "other_cost", "yzy175": "hospital_infections",
}
ONCOLOGY: Mapping[str, str] = {
    "yzy239": "radiotherapy_mode.code", "yzy240": "radiotherapy_mode.name",
    "yzy241": "radiotherapy_procedure.code", "yzy242": "radiotherapy_procedure.name",
    "yzy243": "radiotherapy_device.code", "yzy244": "radiotherapy_device.name",
    "yzy245": "primary_dose", "yzy246": "primary_fractions", "yzy247": "primary_days",
    "yzy248": "primary_start", "yzy249": "primary_end", "yzy250": "lymph_node_dose",
    "yzy251": "lymph_node_fractions", "yzy252": "lymph_node_days", "yzy253": "lymph_node_start",
    "yzy254": "lymph_node_end", "yzy255": "metastasis_name", "yzy256": "metastasis_dose",
    "yzy257": "metastasis_fractions", "yzy258": "metastasis_days", "yzy259": "metastasis_start",
    "yzy260": "metastasis_end", "yzy261": "chemo_mode.code", "yzy262": "chemo_mode.name",
    "yzy263": "chemo_method.code", "yzy264": "chemo_method.name",
}
SUMMARY: Mapping[str, str] = {
    "yzy301": "admission_diagnosis", "yzy302": "discharge_diagnosis", "yzy303": "symptoms",
    "yzy304": "course", "yzy305": "condition", "yzy306": "orders", "akc273": "physician",
}
RECORD_ROOTS: Mapping[str, object] = {"record": MedicalRecord, "institution": Institution}
LOOKUP: Mapping[str, Binding] = {"bka895": "patient.id_kind", "bka896": "patient.id_value"}
VISIT_NO_ONLY: Mapping[str, Binding] = {"aaz218": "visit_no"}

_REQUESTS: tuple[Request, ...] = (
    # --- outpatient 门诊
    Request("bizh110001", {"patient": Patient}, {**LOOKUP, "bka006": Fixed("410")}),
    Request("bizh110102", {"patient": Patient}, {**LOOKUP, "bka006": Fixed("410")}),
    Request("bizh110103", {"visit_no": str, "batch_no": int},
            {"bka895": Fixed("aaz218"), "bka896": "visit_no", "bka006": Fixed("410"), "bka001": "batch_no"}),
    Request("bizh110104", {"visit": OutpatientVisit, "operator": Operator}, {
        "aac001": "visit.person_no", "aka130": "visit.business_type", "bka006": "visit.treatment_type",
        "bka017": "visit.visit_date", "bka014": "operator.code", "bka015": "operator.name",
        "bka021": "visit.ward.code", "bka022": "visit.ward.name", "bka019": "visit.department.code",
        "bka020": "visit.department.name", "bka026": "visit.diagnosis.icd_code",
        "bka025": "visit.outpatient_no", "bka070": "visit.prescription_no",
        "aaz267": "visit.injury_application_no", "bka042": "visit.injury_certificate_no",
    }),
    Request("bizh110105", {"visit_no": str, "fees": Sequence[FeeItem], "operator": Operator,
                           "commit": bool}, {
        "aaz218": "visit_no", "bka014": "operator.code", "bka015": "operator.name", "bka893": "commit",
    }, {"feeinfo": Rows("fees", OUTPATIENT_FEE_ROW)}),
    Request("bizh110106", {"visit_no": str, "operator": Operator},
            {"aaz218": "visit_no", "bka014": "operator.code", "bka015": "operator.name"}),
    # --- inpatient 住院
    Request("bizh120001", {"patient": Patient},
            {**LOOKUP, "aka130": Fixed("42"), "bka006": Fixed("420")}),
    Request("bizh120102", {"patient": Patient}, {**LOOKUP, "aka130": Fixed("42")}),
    Request("bizh120103", {"stay": InpatientStay, "operator": Operator}, {
        "aac001": "stay.person_no", "aka130": "stay.business_type", "bka006": "stay.treatment_type",
        "bka017": "stay.admission_date", "bka014": "operator.code", "bka015": "operator.name",
        "bka021": "stay.ward.code", "bka022": "stay.ward.name", "bka019": "stay.department.code",
        "bka020": "stay.department.name", "bka026": "stay.diagnosis.icd_code",
        "bka025": "stay.hospital_stay_no", "bka023": "stay.bed_no", "bka024": "stay.bed_type",
        "bka043": "stay.remarks", "bka503": "stay.doctor_code",
    }),
    # bizh120104 may change only ward, department, 住院号 and bed (and the vendors resend bka503).
    Request("bizh120104", {"stay": InpatientStay}, {
        "aaz218": "stay.visit_no", "bka021": "stay.ward.code", "bka022": "stay.ward.name",
        "bka019": "stay.department.code", "bka020": "stay.department.name",
        "bka025": "stay.hospital_stay_no", "bka023": "stay.bed_no", "bka503": "stay.doctor_code",
    }),
    Request("bizh120002", {"visit_no": str, "fees": Sequence[FeeItem]}, dict(VISIT_NO_ONLY),
            {"feeinfo": Rows("fees", INPATIENT_FEE_ROW)}),
    Request("bizh120003", {"visit_no": str, "scene": str}, {"aaz218": "visit_no", "bka438": "scene"}),
    Request("bizh120004", {"visit_no": str}, dict(VISIT_NO_ONLY)),
    Request("bizh120105", {"visit_no": str, "discharge": Discharge, "operator": Operator}, {
        "aaz218": "visit_no", "bka032": "discharge.discharge_date", "bka033": "operator.code",
        "bka034": "operator.name", "bkf001": "discharge.blood_type",
        "bkf002": "discharge.admission_route", "bkf003": "discharge.admission_condition",
        "bkf004": "discharge.outcome", "bkf005": "discharge.rescues",
        "bkf006": "discharge.rescues_succeeded", "bka031": "discharge.diagnosis.icd_code",
        "bka043": "discharge.note", "ykc195": "discharge.reason", "akb063": "discharge.stay_days",
        "bka856": "discharge.dialysis_count", "bka006": Fixed("420"),
    }),
    Request("bizh120106", {"visit_no": str, "operator": Operator},
            {"aaz218": "visit_no", "bka046": "operator.code", "bka047": "operator.name"}),
    Request("bizh120107", {"visit_no": str}, dict(VISIT_NO_ONLY)),
    Request("bizh120108", {"visit_no": str}, dict(VISIT_NO_ONLY)),
    Request("bizh120109", {"visit_no": str}, dict(VISIT_NO_ONLY)),
    Request("bizh120113", {"visit_no": str, "grouping": str}, {"aaz218": "visit_no", "operate": "grouping"}),
    Request("bizh120206", {"visit_no": str}, dict(VISIT_NO_ONLY)),
    # --- medical record 病案首页
    Request("bizh200101", RECORD_ROOTS,
            {**_header("bizh200101"), **_prefixed("record.front_page", FRONT_PAGE)},
            extra="record.front_page.extra"),
    Request("bizh200102", RECORD_ROOTS, _header("bizh200102"), {"detail": Rows("record.diagnoses", {
        "yzy201": Position(), "yzy202": "type_code", "akc185": "name", "akc196": "icd_code",
        "yzy205": "admission_condition.code", "yzy206": "admission_condition.name",
    })}),
    Request("bizh200103", RECORD_ROOTS, _header("bizh200103"), {"detail": Rows("record.operations", {
        "yzy201": Position(), "yzy901": "code_type", "yzy207": "code", "yzy208": "name",
        "yzy209": "operated_on", "yzy210": "incision.code", "yzy211": "incision.name",
        "yzy212": "healing.code", "yzy213": "healing.name", "yzy214": "surgeon.code",
        "yzy215": "surgeon.name", "yzy216": "anaesthesia.code", "yzy217": "anaesthesia.name",
        "yzy218": "additional", "yzy219": "first_assistant.code", "yzy220": "first_assistant.name",
        "yzy221": "second_assistant.code", "yzy222": "second_assistant.name",
        "yzy223": "anaesthetist.code", "yzy224": "anaesthetist.name", "yzy225": "elective.code",
        "yzy226": "elective.name", "yzy227": "level.code", "yzy228": "level.name",
        "bkb135": "treatment_item_code",
    })}),
    Request("bizh200104", RECORD_ROOTS, _header("bizh200104"), {"detail": Rows("record.newborns", {
        "yzy201": Position(), "aac004": "sex.code", "yzy230": "sex.name", "yzy231": "weight",
        "yzy232": "delivery_result.code", "yzy233": "delivery_result.name", "yzy234": "outcome.code",
        "yzy235": "outcome.name", "yzy236": "rescues_succeeded", "yzy237": "breathing.code",
        "yzy238": "breathing.name",
    })}),
    Request("bizh200105", RECORD_ROOTS, {**_header("bizh200105"), **_prefixed("record.oncology", ONCOLOGY)},
            {"detail": Rows("record.oncology.courses", {
                "yzy201": Position(), "yzy265": "given_on", "yzy266": "drugs_and_doses",
                "yzy267": "course", "yzy268": "effect.code", "yzy269": "effect.name",
            })}),
    Request("bizh200106", RECORD_ROOTS, {**_header("bizh200106"), **_prefixed("record.summary", SUMMARY)}),
)
REQUESTS: Mapping[str, Request] = {request.function_id: request for request in _REQUESTS}

# --- answers

AMOUNTS: Mapping[str, str] = {
    "visit_no": "aaz218", "total": "akc264", "personal": "bka831", "fund": "bka832",
    "fully_self_paid": "bka825", "partly_self_paid": "bka826", "deductible": "aka151",
    "over_band_self_paid": "bka838", "personal_cash": "akb067", "personal_account": "akb066",
    "other_personal": "bka839", "civil_affairs_relief": "bka821", "pooled_fund": "ake039",
    "civil_servant_subsidy": "ake035", "supplementary_fund": "ake026",
    "major_expense_subsidy": "ake029", "employer": "bka841", "hospital_advance": "bka842",
    "other_fund": "bka840",
}
PERSON: Mapping[str, str] = {
    "person_no": "aac001", "name": "aac003", "sex": "aac004", "citizen_id": "aac002",
    "birth_date": "aac006", "phone": "aae005", "person_category": "bka004", "employer_no": "aab001",
    "employer_name": "bka008", "insured_region": "baa027", "fund_status": "bka888",
    "treatment_type": "bka006", "injury_application_no": "aaz267", "injury_certificate_no": "bka042",
    "injury_diagnosis_code": "bka026", "valid_from": "aae030", "valid_to": "aae031",
}
BUSINESS: Mapping[str, str] = {
    "visit_no": "aaz218", "person_no": "aac001", "name": "aac003", "business_type": "aka130",
    "treatment_type": "bka006", "visit_date": "bka017", "department_code": "bka019",
    "ward_code": "bka021", "hospital_no": "bka025", "diagnosis_code": "bka026",
    "settled_flag": "bka891", "registered_by": "bka015",
}
STAY_BUSINESS: Mapping[str, str] = {
    **BUSINESS, "bed_no": "bka023", "discharged_flag": "bka039", "discharge_date": "bka032",
    "stay_days": "bka030",
}
PERSONS = Reading(PersonInfo, PERSON, dataset="personinfo")
SETTLEMENT_SCALARS = Reading(Settlement, AMOUNTS)
SETTLEMENT_ROWS = Reading(Settlement, {**AMOUNTS, "batch_no": "bka001"}, dataset="payinfo")
SHEET = Reading(SettlementSheet, {
    "visit_no": "aaz218", "hospital_name": "akb021", "name": "aac003", "person_no": "aac001",
    "department_name": "bka020", "hospital_stay_no": "bka025", "admission_date": "bka017",
    "discharge_date": "bka032", "stay_days": "bka030", "settled_on": "bka045", "prepared_by": "aae011",
    "total": "bka979", "fund": "bka811", "personal": "bka812", "fund_paid_to_date": "bka814",
}, lists={"lines": Reading(SheetLine, {
    "label": "bka800", "personal_cash": "bka801_1", "basic_fund": "bka801_2",
    "supplementary": "bka801_3", "essential_drug_subsidy": "bka801_4",
    "major_illness_subsidy": "bka801_5", "other_subsidy": "bka801_6", "total": "bka801_7",
}, dataset="fundList")})

READINGS: Mapping[str, Reading[Any]] = {
    "bizh110001": PERSONS,
    "bizh110102": Reading(BusinessInfo, BUSINESS, dataset="bizinfo"),
    "bizh110104": Reading(Registration, {"visit_no": "aaz218"}),
    "bizh110105": SETTLEMENT_ROWS,
    "bizh120001": PERSONS,
    "bizh120102": Reading(BusinessInfo, STAY_BUSINESS, dataset="bizinfo"),
    "bizh120103": Reading(Registration, {"visit_no": "aaz218"}),
    "bizh120003": SETTLEMENT_SCALARS,
    "bizh120105": SETTLEMENT_SCALARS,
    "bizh120106": SETTLEMENT_SCALARS,
    "bizh120113": Reading(FeeListLine, {
        "item_name": "ake006", "category": "aka063", "centre_item_name": "ake002",
        "dosage_form": "bka052", "specification": "bka054", "unit_price": "bka056",
        "quantity": "dosage", "amount": "money", "self_pay_first_ratio": "pay_first",
    }, dataset="list"),
    "bizh120206": SHEET,
}
# Answers the HIS layer hands on unchanged: the refund rows of a batch go back to the province
# as they came (bizh110105), so their amounts and fee serial numbers are the province's own.
PASSED_THROUGH: Mapping[str, str] = {"bizh110103": "feeinfo"}

MAPPED_FUNCTIONS: tuple[str, ...] = tuple(sorted(REQUESTS))


# --------------------------------------------------------------------------- requests


def lookup_request(function_id: str, patient: Patient) -> Wire:
    """bizh110001 / bizh110102 (outpatient) or bizh120001 / bizh120102 (inpatient) lookups."""
    return _build(function_id, patient=patient)


def registration_request(visit: OutpatientVisit, operator: Operator) -> Wire:
    """bizh110104 门诊挂号 (no fees: registration only)."""
    return _build("bizh110104", visit=visit, operator=operator)


def charge_request(visit_no: str, fees: Sequence[FeeItem], operator: Operator, *, commit: bool) -> Wire:
    """bizh110105 门诊计算并保存费用信息: commit False is the trial (试算), True saves the batch."""
    return _build("bizh110105", visit_no=visit_no, fees=fees, operator=operator, commit=commit)


def refund_lookup_request(visit_no: str, batch_no: int) -> Wire:
    """bizh110103 退费时提取门诊业务信息: the rows of batch `batch_no`, negated, ready to refund."""
    return _build("bizh110103", visit_no=visit_no, batch_no=batch_no)


def refund_request(visit_no: str, refund_rows: Sequence[Any], operator: Operator) -> Wire:
    """bizh110105 with the rows bizh110103 returned (see PASSED_THROUGH), value for value.

    The rows are the typed bizh110103 answer rows; they go back through bizh110105's own
    converter, so a quantity the province printed as -4.0000 is sent as -4.00 (same value).
    """
    wire = charge_request(visit_no, (), operator, commit=True)
    module = converters("bizh110105")
    names = [f.name for f in fields(module.RequestFeeinfoRow)]
    rows = tuple(module.RequestFeeinfoRow(**{n: getattr(row, n) for n in names if hasattr(row, n)})
                 for row in refund_rows)
    try:
        wire["feeinfo"] = module.build_request(module.Request(feeinfo_rows=rows))["feeinfo"]
    except (TypeError, ValueError) as exc:  # a refund row the request cannot carry: named, not sent
        raise MappingError(str(exc), "bizh110105") from None
    return wire


def at_spec_scale(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Answer rows made sendable again: a decimal printed with more places than the spec's scale
    (a platform's `-4.0000`) is written at the scale (`-4.00`). Only trailing zeros are dropped;
    a value that would need rounding stays as it is, for request validation to refuse by name."""
    return [{code: _rescaled(code, value) for code, value in row.items()} for row in rows]


def _rescaled(code: str, value: Any) -> Any:
    meta = FIELDS.get(code)
    if meta is None or meta.type != "decimal" or not isinstance(value, str | Decimal):
        return value
    try:
        return format_value(code, Decimal(value))
    except (ArithmeticError, ValueError):  # not a number, or not exact at the scale: as it came
        return value


def admission_request(stay: InpatientStay, operator: Operator) -> Wire:
    """bizh120103 入院登记."""
    return _build("bizh120103", stay=stay, operator=operator)


def modify_admission_request(stay: InpatientStay) -> Wire:
    """bizh120104 入院登记信息修改: the stay's current ward, department, 住院号, bed."""
    return _build("bizh120104", stay=stay)


def fee_upload_request(visit_no: str, fees: Sequence[FeeItem]) -> Wire:
    """bizh120002 校验并保存费用信息: one chunk (the workflow keeps it ≤ SPEC.fee_rows_per_call)."""
    return _build("bizh120002", visit_no=visit_no, fees=fees)


def delete_fees_request(visit_no: str) -> Wire:
    """bizh120004 删除本次住院业务的所有费用明细."""
    return _build("bizh120004", visit_no=visit_no)


def presettle_request(visit_no: str, scene: str) -> Wire:
    """bizh120003 校验并计算费用信息 (预结算); scene 业务场景阶段 1 开始, 2 结算, 3 结束."""
    return _build("bizh120003", visit_no=visit_no, scene=scene)


def discharge_request(visit_no: str, discharge: Discharge, operator: Operator) -> Wire:
    """bizh120105 出院登记."""
    return _build("bizh120105", visit_no=visit_no, discharge=discharge, operator=operator)


def settle_request(visit_no: str, operator: Operator) -> Wire:
    """bizh120106 出院结算."""
    return _build("bizh120106", visit_no=visit_no, operator=operator)


def cancellation_request(function_id: str, visit_no: str, operator: Operator | None = None) -> Wire:
    """A reversal (bizh110106, bizh120004, bizh120107, bizh120108, bizh120109) of `visit_no`.

    Only bizh110106 names the operator; the inpatient reversals need the visit number alone.
    """
    roots: dict[str, object] = {"visit_no": visit_no}
    if "operator" in REQUESTS[function_id].roots:
        if operator is None:
            raise MappingError(f"{function_id}: needs the operator (登记人工号 / 登记人姓名)")
        roots["operator"] = operator
    return _build(function_id, **roots)


def fee_list_request(visit_no: str, grouping: str | None) -> Wire:
    """bizh120113 费用清单信息提取; grouping 明细分组 0 by category, 1 by name, 2 / None all."""
    return _build("bizh120113", visit_no=visit_no, grouping=grouping)


def settlement_sheet_request(visit_no: str) -> Wire:
    """bizh120206 结算信息提取."""
    return _build("bizh120206", visit_no=visit_no)


def medical_record_request(function_id: str, record: MedicalRecord, institution: Institution) -> Wire:
    """bizh200101 … bizh200106: one part of the front-page set."""
    return _build(function_id, record=record, institution=institution)


def _build(function_id: str, **roots: object) -> Wire:
    request = REQUESTS[function_id]
    wire: Wire = _fill(function_id, request.fields, lambda path: _resolve(path, roots))
    for name, rows in request.datasets.items():
        items = cast(Sequence[object], _resolve(rows.source, roots) or ())
        if items:
            numbered = enumerate(items, start=1)
            wire[name] = [_fill(function_id, rows.fields, _on(item), position, f"{name}[{position - 1}]")
                          for position, item in numbered]
    if request.extra is not None:
        _add_extra(function_id, wire, _resolve(request.extra, roots))
    return wire


def _fill(
    function_id: str, bindings: Mapping[str, Binding], lookup: Callable[[str], object], position: int = 0,
    row: str = "",
) -> Wire:
    """One message or row: wire code -> text, fields without a value left out. A value that cannot
    be wire text (an amount with 3 decimals) is an InputError located at its wire path (`row.code`)."""
    wire: Wire = {}
    for code, binding in bindings.items():
        if isinstance(binding, Fixed):
            value: object = binding.value
        elif isinstance(binding, Position):
            value = position
        else:
            value = lookup(binding)
        try:
            text = _text(code, value)
        except ValueError as exc:
            name = FIELDS[code].name if code in FIELDS else None
            where = f"{row}.{code}" if row else code
            raise InputError(function_id, [FieldProblem(where, code, name, str(exc))]) from None
        if text is not None:
            wire[code] = text
    return wire


def _on(item: object) -> Callable[[str], object]:
    """Paths inside a dataset row are relative to the row's HIS item."""
    return lambda path: _walk(item, path.split("."))


def _resolve(path: str, roots: Mapping[str, object]) -> object:
    """'stay.ward.code' -> roots['stay'].ward.code; None as soon as a step is None."""
    first, *rest = path.split(".")
    return _walk(roots[first], rest)


def _walk(value: object, names: Sequence[str]) -> object:
    for name in names:
        if value is None:
            return None
        value = getattr(value, name)
    return value


def _text(code: str, value: object) -> str | None:
    """Wire text of one HIS value, or None to leave the field out."""
    if value is None or value == "":
        return None
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "1" if value else "0"
    return format_value(code, value)


def _add_extra(function_id: str, wire: Wire, extra: object) -> None:
    """The HIS's {wire code: value} extras; a code that is not a request field is refused."""
    if not extra:
        return
    allowed = {use.code for use in FUNCTIONS[function_id].request.fields}
    for code, value in cast(Mapping[str, object], extra).items():
        if code not in allowed:
            raise MappingError(f"{function_id}: extra field {code!r} is not a field of this request")
        if code in wire:
            raise MappingError(f"{function_id}: extra field {code} is already filled from a named attribute")
        text = _text(code, value)
        if text is not None:
            wire[code] = text


# --------------------------------------------------------------------------- answers


def read_persons(answer: Any) -> list[PersonInfo]:
    """personinfo rows of bizh110001 / bizh120001 (their typed answers)."""
    return _read_rows(PERSONS, answer)


def read_business(function_id: str, answer: Any) -> list[BusinessInfo]:
    """bizinfo rows of bizh110102 / bizh120102."""
    return _read_rows(cast(Reading[BusinessInfo], READINGS[function_id]), answer)


def read_registration(function_id: str, answer: Any) -> Registration:
    """The 就医登记号 of bizh110104 / bizh120103."""
    return _read_one(cast(Reading[Registration], READINGS[function_id]), answer)


def read_settlement(function_id: str, answer: Any) -> Settlement:
    """Amounts of bizh110105 (first payinfo row) or bizh120003 / bizh120105 / bizh120106."""
    reading = cast(Reading[Settlement], READINGS[function_id])
    if reading.dataset is None:
        return _read_one(reading, answer)
    rows = _read_rows(reading, answer)
    if not rows:
        raise MappingError(f"{function_id}: the answer has no {reading.dataset} row")
    return rows[0]


def read_fee_list(answer: Any) -> list[FeeListLine]:
    """list rows of bizh120113."""
    return _read_rows(cast(Reading[FeeListLine], READINGS["bizh120113"]), answer)


def read_settlement_sheet(answer: Any) -> SettlementSheet:
    """bizh120206: header and fundList matrix."""
    return _read_one(SHEET, answer)


def _read_one(reading: Reading[T], source: object, whole: object | None = None) -> T:
    """One result from a typed answer (or one of its rows): attributes by the fields' python_name."""
    hints = _hints(reading.result)
    values: dict[str, object] = {}
    for attribute, code in reading.fields.items():
        value = getattr(source, FIELDS[code].python_name, None)
        if value is not None and value != "":
            values[attribute] = _coerce(code, value, hints[attribute])
    for attribute, nested in reading.lists.items():
        values[attribute] = tuple(_read_rows(nested, whole if whole is not None else source))
    lacking = [reading.fields.get(name, name) for name in _required(cast(type, reading.result))
               if name not in values]
    if lacking:
        raise MappingError(f"the answer lacks {', '.join(_code_label(code) for code in lacking)}")
    return cast(Callable[..., T], reading.result)(**values)


def _read_rows(reading: Reading[T], answer: object) -> list[T]:
    attribute = getattr(type(answer), "DATASETS", {}).get(reading.dataset or "")
    rows: Sequence[object] = getattr(answer, attribute) if attribute else ()
    return [_read_one(reading, row, answer) for row in rows]


def _coerce(code: str, value: object, hint: object) -> object:
    """A typed answer value -> the result attribute's type (text results get wire text)."""
    if isinstance(value, str):
        return _parse(code, value, hint)
    kind = _base_type(hint)
    if kind is str:
        return format_value(code, value) if isinstance(value, date) else str(value)
    if kind is Decimal and isinstance(value, int):
        return Decimal(value)
    return value


@cache
def _required(result: type) -> tuple[str, ...]:
    """Attributes of a result type without a default: an answer must supply them."""
    return tuple(f.name for f in fields(result) if f.default is MISSING and f.default_factory is MISSING)


def _code_label(code: str) -> str:
    return f"{code} {FIELDS[code].name}" if code in FIELDS else code


def _parse(code: str, text: str, hint: object) -> object:
    """Wire text -> the result attribute's type (Decimal, date, int or text)."""
    kind = _base_type(hint)
    if kind is Decimal:
        return Decimal(text)
    if kind is date:
        pattern = (FIELDS[code].strftime if code in FIELDS else None) or "%Y%m%d"
        return datetime.strptime(text, pattern).date()
    if kind is int:
        return int(text)
    return text


def _base_type(hint: object) -> object:
    """`X | None` -> X; anything else unchanged."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return members[0] if len(members) == 1 else hint
    return hint


def _hints(cls: type) -> dict[str, Any]:
    return _cached_hints(cls)


@cache
def _cached_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


# --------------------------------------------------------------------------- the mapping table

Part = Literal["request", "response"]


def mapping_table(function_id: str, part: Part | None = None) -> list[tuple[str, str, str]]:
    """(HIS field, wire code, 中文名) rows of one transaction, request rows first.

    Derived from the declarations above and generated.registry.FIELDS. Request rows name the HIS
    path (`stay.ward.code`, `fees[].amount`, `= 42` for a fixed value); response rows name the
    result attribute (`Settlement.total`). Dataset fields are written `feeinfo[].ake005`.
    """
    if function_id not in REQUESTS:
        mapped = ", ".join(MAPPED_FUNCTIONS)
        raise MappingError(f"{function_id}: not mapped by the HIS layer (mapped: {mapped})")
    rows: list[tuple[str, str, str]] = []
    if part in (None, "request"):
        rows.extend(_request_table(REQUESTS[function_id]))
    if part in (None, "response"):
        rows.extend(_response_table(function_id))
    return rows


def _request_table(request: Request) -> list[tuple[str, str, str]]:
    rows = [(_label(binding, ""), code, FIELDS[code].name) for code, binding in request.fields.items()]
    for name, dataset in request.datasets.items():
        rows.extend((_label(binding, f"{dataset.source}[]"), f"{name}[].{code}", FIELDS[code].name)
                    for code, binding in dataset.fields.items())
    if request.extra is not None:
        rows.append((f"{request.extra}[code]", "(any other request field, by code)", "其他字段"))
    return rows


def _label(binding: Binding, row: str) -> str:
    if isinstance(binding, Fixed):
        return f"= {binding.value}"
    if isinstance(binding, Position):
        return f"{row} position (1, 2, …)"
    return f"{row}.{binding}" if row else binding


def _response_table(function_id: str) -> list[tuple[str, str, str]]:
    if function_id in PASSED_THROUGH:
        name = PASSED_THROUGH[function_id]
        title = next(d.title for d in FUNCTIONS[function_id].response.datasets if d.name == name)
        return [("(passed on unchanged to bizh110105)", f"{name}[]", title)]
    reading = READINGS.get(function_id)
    return _reading_table(reading, reading.result.__name__) if reading is not None else []


def _reading_table(reading: Reading[Any], owner: str) -> list[tuple[str, str, str]]:
    prefix = f"{reading.dataset}[]." if reading.dataset else ""
    rows = [(f"{owner}.{attribute}", f"{prefix}{code}", FIELDS[code].name)
            for attribute, code in reading.fields.items()]
    for attribute, nested in reading.lists.items():
        rows.extend(_reading_table(nested, f"{owner}.{attribute}[]"))
    return rows


# --------------------------------------------------------------------------- import-time checks


def _check_request(request: Request) -> None:
    """Every code in the function's request, every path an attribute chain of the HIS types."""
    meta = FUNCTIONS.get(request.function_id)
    if meta is None:
        raise MappingError(f"{request.function_id}: not a function of the spec")
    where = request.function_id
    _check_codes(where, request.fields, {use.code for use in meta.request.fields})
    for binding in request.fields.values():
        if isinstance(binding, str):
            _path_type(where, request.roots[binding.split(".")[0]], binding.split(".")[1:], binding)
    datasets = {dataset.name: dataset for dataset in meta.request.datasets}
    for name, rows in request.datasets.items():
        if name not in datasets:
            raise MappingError(f"{where}: {name} is not a dataset of the request")
        _check_codes(f"{where}.{name}", rows.fields, {use.code for use in datasets[name].fields})
        source = rows.source.split(".")
        item = _item_type(where, _path_type(where, request.roots[source[0]], source[1:], rows.source))
        for binding in rows.fields.values():
            if isinstance(binding, str):
                _path_type(where, item, binding.split("."), binding)
    if request.extra is not None:
        extra = request.extra.split(".")
        _path_type(where, request.roots[extra[0]], extra[1:], request.extra)


def _check_reading(function_id: str, reading: Reading[Any], fields_of: dict[str, set[str]]) -> None:
    codes = fields_of.get(reading.dataset or "")
    if codes is None:
        raise MappingError(f"{function_id}: {reading.dataset} is not a dataset of the response")
    attributes = {item.name for item in fields(cast(Any, reading.result))}
    for attribute, code in {**reading.fields, **dict.fromkeys(reading.lists, "")}.items():
        if attribute not in attributes:
            raise MappingError(f"{function_id}: {reading.result.__name__} has no attribute {attribute}")
        if code and code not in codes:
            raise MappingError(f"{function_id}: {code} is not a field of the response "
                               f"{reading.dataset or ''}".rstrip())
    for nested in reading.lists.values():
        _check_reading(function_id, nested, fields_of)


def _response_fields(function_id: str) -> dict[str, set[str]]:
    """'' -> the response's scalar codes; dataset name -> its row codes."""
    response = FUNCTIONS[function_id].response
    codes = {"": {use.code for use in response.fields}}
    codes.update({dataset.name: {use.code for use in dataset.fields} for dataset in response.datasets})
    return codes


def _check_codes(where: str, bindings: Mapping[str, Binding], allowed: set[str]) -> None:
    unknown = sorted(set(bindings) - allowed)
    if unknown:
        raise MappingError(f"{where}: {', '.join(unknown)} not in the spec's message")


def _path_type(where: str, start: object, names: Sequence[str], path: str) -> object:
    """The type at the end of an attribute chain; MappingError naming the broken step."""
    current = start
    for name in names:
        owner = _base_type(current)
        if not (isinstance(owner, type) and is_dataclass(owner)):
            raise MappingError(f"{where}: {path}: {name!r} follows a value that has no attributes")
        hints = _hints(owner)
        if name not in hints:
            raise MappingError(f"{where}: {path}: {owner.__name__} has no attribute {name!r}")
        current = hints[name]
    return current


def _item_type(where: str, hint: object) -> object:
    hint = _base_type(hint)
    if typing.get_origin(hint) is not Sequence or not typing.get_args(hint):
        raise MappingError(f"{where}: a dataset source must be a Sequence[...] of HIS items, got {hint}")
    return typing.get_args(hint)[0]


def _check_all() -> None:
    for request in _REQUESTS:
        _check_request(request)
    for function_id, reading in READINGS.items():
        _check_reading(function_id, reading, _response_fields(function_id))


_check_all()
