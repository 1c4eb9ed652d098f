"""The HIS layer's declarations: which HIS attribute fills which wire field, per transaction.

Data only, one declaration per transaction the HIS layer sends: a `Request` names the HIS
attribute path (`stay.ward.code`) that fills each wire code (`bka021`), a `Reading` the answer
field that fills each result attribute (`Settlement.total` <- `akc264`). The engine in
adapter.his.mapping fills the generated typed requests from them, reads the typed answers, prints
the mapping table and checks every declaration against the HIS types and generated/registry when
it is imported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

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

__all__ = [
    "MAPPED_FUNCTIONS",
    "PASSED_THROUGH",
    "READINGS",
    "REQUESTS",
    "Binding",
    "Fixed",
    "Position",
    "Reading",
    "Request",
    "Rows",
]

T = TypeVar("T")



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
