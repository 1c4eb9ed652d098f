"""The HIS endpoints, declared once: the app routes them and openapi.py documents them.

One endpoint per business step, each a thin call of an adapter.his service method:

    POST   /outpatient/lookup                 OutpatientService.lookup         bizh110001
    POST   /outpatient/register               OutpatientService.register       bizh110104
    POST   /outpatient/{visit}/trial          OutpatientService.trial          bizh110105 (试算)
    POST   /outpatient/{visit}/charge         OutpatientService.charge         bizh110105 ×2
    POST   /outpatient/{visit}/refund         OutpatientService.refund         bizh110103 + 110105
    POST   /outpatient/{visit}/cancel         OutpatientService.cancel         bizh110106
    POST   /inpatient/lookup                  InpatientService.lookup          bizh120001
    POST   /inpatient/admit                   InpatientService.admit           bizh120103
    POST   /inpatient/{stay}/modify           InpatientService.modify          bizh120104
    POST   /inpatient/{stay}/fees             InpatientService.upload_fees     bizh120002 (≤300/call)
    DELETE /inpatient/{stay}/fees             InpatientService.delete_fees     bizh120004
    GET    /inpatient/{stay}/fees             InpatientService.fee_list        bizh120113
    POST   /inpatient/{stay}/presettle        InpatientService.presettle       bizh120003
    POST   /inpatient/{stay}/discharge        InpatientService.discharge       bizh120105
    POST   /inpatient/{stay}/settle           InpatientService.settle          bizh120106
    GET    /inpatient/{stay}/settlement       InpatientService.settlement_info bizh120206
    POST   /inpatient/{stay}/cancel           InpatientService.cancel_to       120107/120108/120109
    POST   /medical-record/{stay}             MedicalRecordService.upload      bizh200101–200106

No `his_commit` over HTTP: a gateway call returns once the province has committed; the HIS then
stores the result. A HIS that fails to store it undoes the step itself with the cancel endpoint
(registration -> /outpatient/{visit}/cancel; admission -> /inpatient/{stay}/cancel to cancelled;
discharge or settlement -> /inpatient/{stay}/cancel to admitted), or refunds a charge. The
services' own compensations (a fee chunk refused after earlier ones were saved) still run inside
the gateway and come back as 409.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

from adapter.errors import BusinessError
from adapter.gateway import bodies as b
from adapter.gateway.convert import BodyError, Problem
from adapter.gateway.errors import Refused
from adapter.his import (
    FeeUpload,
    InpatientService,
    InpatientStay,
    MedicalRecord,
    MedicalRecordService,
    OutpatientService,
    Registration,
    Settlement,
    SettlementSheet,
)
from adapter.his.errors import HisWorkflowError
from adapter.his.model import Diagnosis, Operator
from adapter.wire.client import Client
from adapter.wire.journal import Status
from generated.registry import CODE_LISTS, FIELDS, FUNCTIONS, OPENERS, STAGE_MACHINES

__all__ = ["ENDPOINTS", "Endpoint", "Services"]

log = logging.getLogger("gdwi.gateway")

BodyT = TypeVar("BodyT")


def _reversal_targets(machine: str) -> tuple[str, ...]:
    """The stages a declared reversal (a function that `compensates` another) leads back into."""
    targets = {meta.stage.leads_to for meta in FUNCTIONS.values()
               if meta.compensates and meta.stage is not None and meta.stage.machine == machine}
    return tuple(name for name, _ in STAGE_MACHINES[machine].stages if name in targets)


def _leading_to(machine: str, stage: str, *, reversal: bool = False) -> str:
    """The function whose success puts a business of `machine` into `stage`: the forward step, or
    with `reversal` the declared reversal (a function that `compensates` another)."""
    return next(fid for fid, meta in FUNCTIONS.items()
                if meta.stage is not None and (meta.stage.machine, meta.stage.leads_to) == (machine, stage)
                and bool(meta.compensates) == reversal)


def _reversals(machine: str) -> tuple[str, ...]:
    """Every declared reversal of `machine` that leads back into a stage, in function-id order."""
    return tuple(fid for fid, meta in FUNCTIONS.items()
                 if meta.compensates and meta.stage is not None and meta.stage.machine == machine
                 and meta.stage.leads_to is not None)


# The transactions behind the endpoints, from the registry's roles where it declares one; the
# rest are named once here.
CANCELLED = "cancelled"
CANCEL_TARGETS = _reversal_targets("inpatient")  # admitted, discharge_registered, cancelled
OUTPATIENT_CANCEL = _leading_to("outpatient", CANCELLED, reversal=True)  # bizh110106
ADMISSION_CANCEL = _leading_to("inpatient", CANCELLED, reversal=True)  # bizh120109
DISCHARGE = _leading_to("inpatient", "discharge_registered")  # bizh120105
SETTLE = _leading_to("inpatient", "settled")  # bizh120106
STAY_REVERSALS = _reversals("inpatient")  # bizh120107, bizh120108, bizh120109
MODIFY = next(fid for fid, meta in FUNCTIONS.items() if meta.modifies)  # bizh120104
MEDICAL_RECORD = tuple(fid for fid, meta in FUNCTIONS.items() if meta.group == "medical_record")
FEE_UPLOAD = "bizh120002"
FEE_DELETE = FUNCTIONS[FEE_UPLOAD].compensation or ""  # bizh120004
OUTPATIENT_SETTLE = "bizh110105"  # trial (试算) and charge alike
# GET /inpatient/{stay}/fees?grouping=: the codes bizh120113's 明细分组 lists (an open list on the
# wire; the gateway sends only the listed ones).
GROUPING_CODE = "operate"
GROUPINGS = tuple(code for code, _ in CODE_LISTS[FIELDS[GROUPING_CODE].code_list or GROUPING_CODE].values)


@dataclass(frozen=True)
class Services:
    """The services every endpoint shares; one client behind them (thread-safe)."""

    client: Client
    outpatient: OutpatientService
    inpatient: InpatientService

    @classmethod
    def over(cls, client: Client) -> Services:
        return cls(client, OutpatientService(client), InpatientService(client))

    def done_before(self, visit_no: str, function_id: str) -> bool:
        """True when the journal holds an accepted `function_id` on this visit or stay (a repeated
        cancel: the province lists cancelled businesses no more, so only the journal can tell)."""
        return any(entry.function_id == function_id and entry.status is Status.OK
                   for entry in self.client.journal.history(visit_no))


@dataclass(frozen=True)
class Endpoint(Generic[BodyT]):
    """One HIS step. `key` is the URL's {visit} / {stay} ("" when the path has none); `body` is
    read into `body_type` (from the query string for GET); `run` returns a result dataclass."""

    method: str
    path: str
    body_type: type[BodyT]
    result_type: type
    run: Callable[[Services, str, BodyT], object]
    function_ids: tuple[str, ...]
    summary: str
    description: str = ""
    tag: str = "inpatient"
    statuses: tuple[int, ...] = (400, 422, 502, 504)

    @property
    def key_name(self) -> str | None:
        """The path parameter naming the visit or stay, if any."""
        for name in ("visit", "stay"):
            if "{" + name + "}" in self.path:
                return name
        return None


# --------------------------------------------------------------------------- outpatient 门诊


def outpatient_lookup(services: Services, key: str, body: b.LookupBody) -> b.Persons:
    return b.Persons(tuple(services.outpatient.lookup(body.patient)))


def outpatient_register(services: Services, key: str, body: b.RegisterBody) -> Registration:
    return services.outpatient.register(body.visit, body.operator)


def outpatient_trial(services: Services, key: str, body: b.ChargeBody) -> Settlement:
    return services.outpatient.trial(key, body.fees, body.operator)


def outpatient_charge(services: Services, key: str, body: b.ChargeBody) -> Settlement:
    return services.outpatient.charge(key, body.fees, body.operator)


def outpatient_refund(services: Services, key: str, body: b.RefundBody) -> Settlement:
    return services.outpatient.refund(key, body.batch_no, body.operator)


def outpatient_cancel(services: Services, key: str, body: b.OperatorBody) -> b.Done:
    try:
        services.outpatient.cancel(key, body.operator)
    except BusinessError:
        if services.done_before(key, OUTPATIENT_CANCEL):
            return b.Done(key, "cancelled", already=True)
        raise
    return b.Done(key, "cancelled")


# --------------------------------------------------------------------------- inpatient 住院


def inpatient_lookup(services: Services, key: str, body: b.LookupBody) -> b.Persons:
    return b.Persons(tuple(services.inpatient.lookup(body.patient)))


def inpatient_admit(services: Services, key: str, body: b.AdmitBody) -> Registration:
    return services.inpatient.admit(body.stay, body.operator)


def inpatient_modify(services: Services, key: str, body: b.ModifyBody) -> b.Done:
    changes = body.stay
    # bizh120104 reads only the stay's number and these five attributes (adapter.his.mapping);
    # the admission-only attributes are placeholders that never reach the wire.
    stay = InpatientStay(
        person_no="", admission_date=date.min, diagnosis=Diagnosis(""), visit_no=key,
        ward=changes.ward, department=changes.department, hospital_stay_no=changes.hospital_stay_no,
        bed_no=changes.bed_no, doctor_code=changes.doctor_code,
    )
    services.inpatient.modify(stay)
    _log_operator("modify", key, body.operator)
    return b.Done(key, "modified")


def _log_operator(step: str, visit_no: str, operator: Operator | None) -> None:
    """The staff member behind a step whose transactions carry no operator (an audit line)."""
    if operator is not None:
        log.info("%s of stay %s by operator %s", step, visit_no, operator.code)


def inpatient_upload_fees(services: Services, key: str, body: b.FeesBody) -> FeeUpload:
    if not body.fees:
        raise BodyError([Problem.at("fees", "at least one fee line is required")])
    return services.inpatient.upload_fees(key, body.fees)


def inpatient_delete_fees(services: Services, key: str, body: b.NoBody) -> b.Done:
    services.inpatient.delete_fees(key)
    return b.Done(key, "fees_deleted")


def inpatient_fee_list(services: Services, key: str, body: b.FeeListQuery) -> b.FeeList:
    if body.grouping is not None and body.grouping not in GROUPINGS:
        raise BodyError([Problem.at("grouping", f"must be one of {', '.join(GROUPINGS)} (or absent)")])
    return b.FeeList(key, tuple(services.inpatient.fee_list(key, grouping=body.grouping)))


def inpatient_presettle(services: Services, key: str, body: b.PresettleBody) -> Settlement:
    return services.inpatient.presettle(key, scene=body.scene)


def inpatient_discharge(services: Services, key: str, body: b.DischargeBody) -> Settlement:
    return services.inpatient.discharge(key, body.discharge, body.operator)


def inpatient_settle(services: Services, key: str, body: b.OperatorBody) -> Settlement:
    return services.inpatient.settle(key, body.operator)


def inpatient_settlement(services: Services, key: str, body: b.NoBody) -> SettlementSheet:
    return services.inpatient.settlement_info(key)


def inpatient_cancel(services: Services, key: str, body: b.CancelStayBody) -> b.Reversals:
    if body.to not in CANCEL_TARGETS:
        raise BodyError([Problem.at("to", f"must be one of {', '.join(CANCEL_TARGETS)}")])
    try:
        sent = services.inpatient.cancel_to(key, body.to)
    except HisWorkflowError:  # the province lists no open stay: cancelled before, or never admitted
        if body.to == CANCELLED and services.done_before(key, ADMISSION_CANCEL):
            return b.Reversals(key, body.to, (), already=True)
        raise
    except ValueError as exc:  # not behind the current stage: nothing was sent
        raise Refused(str(exc)) from None
    _log_operator(f"cancel to {body.to}", key, body.operator)
    return b.Reversals(key, body.to, sent, already=not sent)


# --------------------------------------------------------------------------- medical record 病案首页


def medical_record(services: Services, key: str, body: b.MedicalRecordBody) -> b.RecordSent:
    record = MedicalRecord.of(key, body.record)
    if not record.diagnoses:
        raise BodyError([Problem.at("record.diagnoses", "at least one diagnosis is required")])
    sent = MedicalRecordService(services.client, body.institution).upload(record)
    return b.RecordSent(key, sent)


# --------------------------------------------------------------------------- the table

CANCEL_NOTE = ("If the HIS cannot store the result, undo the step at the province with {undo} "
               "(the gateway has no HIS commit callback).")
SETTLEMENT_NOTE = "Money as decimal strings: total = personal + fund."

ENDPOINTS: tuple[Endpoint[Any], ...] = (
    Endpoint("POST", "/outpatient/lookup", b.LookupBody, b.Persons, outpatient_lookup, ("bizh110001",),
             "门诊取人员信息: the insured person behind an identifier", tag="outpatient",
             statuses=(400, 422, 502)),
    Endpoint("POST", "/outpatient/register", b.RegisterBody, Registration, outpatient_register,
             (OPENERS["outpatient"],), "门诊挂号: register a visit; returns its visit_no (就医登记号)",
             CANCEL_NOTE.format(undo="POST /outpatient/{visit}/cancel"), tag="outpatient"),
    Endpoint("POST", "/outpatient/{visit}/trial", b.ChargeBody, Settlement, outpatient_trial,
             (OUTPATIENT_SETTLE,), "门诊试算: what the fees would cost; nothing is saved", SETTLEMENT_NOTE,
             tag="outpatient"),
    Endpoint("POST", "/outpatient/{visit}/charge", b.ChargeBody, Settlement, outpatient_charge,
             (OUTPATIENT_SETTLE,), "门诊收费: trial, then commit when the trial total equals the sum of the "
             "fee amounts (else 422 amount_mismatch, nothing committed)",
             SETTLEMENT_NOTE + " batch_no is the 费用批次 to refund. If the HIS cannot store the result, "
             "refund the batch (POST /outpatient/{visit}/refund).", tag="outpatient"),
    Endpoint("POST", "/outpatient/{visit}/refund", b.RefundBody, Settlement, outpatient_refund,
             ("bizh110103", OUTPATIENT_SETTLE), "门诊退费: refund a whole charged batch (negative amounts)",
             tag="outpatient"),
    Endpoint("POST", "/outpatient/{visit}/cancel", b.OperatorBody, b.Done, outpatient_cancel,
             (OUTPATIENT_CANCEL,), "门诊挂号取消: cancel a registration with no un-refunded charge",
             tag="outpatient"),
    Endpoint("POST", "/inpatient/lookup", b.LookupBody, b.Persons, inpatient_lookup, ("bizh120001",),
             "住院取人员信息: the insured person behind an identifier, before admission",
             statuses=(400, 422, 502)),
    Endpoint("POST", "/inpatient/admit", b.AdmitBody, Registration, inpatient_admit, (OPENERS["inpatient"],),
             "入院登记: admit; returns the stay's visit_no (就医登记号)",
             CANCEL_NOTE.format(undo='POST /inpatient/{stay}/cancel {"to": "cancelled"}')),
    Endpoint("POST", "/inpatient/{stay}/modify", b.ModifyBody, b.Done, inpatient_modify, (MODIFY,),
             "入院登记信息修改: send the stay's ward, department, 住院号, bed and doctor as they are now",
             "To undo, send the previous values again."),
    Endpoint("POST", "/inpatient/{stay}/fees", b.FeesBody, FeeUpload, inpatient_upload_fees,
             (FEE_UPLOAD,), "住院费用上传: add fee lines, sent in chunks of at most 300 per call",
             "A chunk refused after earlier chunks were saved: every fee of the stay is deleted "
             "(bizh120004) and 409 compensated reports it (uploaded_rows, total_rows): upload the whole "
             "list again. A first chunk refused: 422 / 400, nothing saved.",
             statuses=(400, 409, 422, 502, 504)),
    Endpoint("DELETE", "/inpatient/{stay}/fees", b.NoBody, b.Done, inpatient_delete_fees, (FEE_DELETE,),
             "删除住院费用: delete every fee line of the stay"),
    Endpoint("GET", "/inpatient/{stay}/fees", b.FeeListQuery, b.FeeList, inpatient_fee_list,
             ("bizh120113",), "费用清单: the stay's fee lines as the province holds them",
             "Query string: ?grouping=0 (by category) or 1 (by name); absent: every line.",
             statuses=(400, 422, 502)),
    Endpoint("POST", "/inpatient/{stay}/presettle", b.PresettleBody, Settlement, inpatient_presettle,
             ("bizh120003",), "预结算: the amounts of the fees so far; nothing changes", SETTLEMENT_NOTE),
    Endpoint("POST", "/inpatient/{stay}/discharge", b.DischargeBody, Settlement, inpatient_discharge,
             (DISCHARGE,), "出院登记: register the discharge; returns the trial amounts",
             CANCEL_NOTE.format(undo='POST /inpatient/{stay}/cancel {"to": "admitted"}')),
    Endpoint("POST", "/inpatient/{stay}/settle", b.OperatorBody, Settlement, inpatient_settle,
             (SETTLE,), "出院结算: settle the stay",
             SETTLEMENT_NOTE + " " + CANCEL_NOTE.format(
                 undo='POST /inpatient/{stay}/cancel {"to": "admitted"} (the reference undoes 结算 and '
                      '出院 together; "discharge_registered" undoes only the settlement)')),
    Endpoint("GET", "/inpatient/{stay}/settlement", b.NoBody, SettlementSheet, inpatient_settlement,
             ("bizh120206",), "结算信息: the settlement sheet of a settled stay", statuses=(400, 422, 502)),
    Endpoint("POST", "/inpatient/{stay}/cancel", b.CancelStayBody, b.Reversals, inpatient_cancel,
             STAY_REVERSALS,
             "撤销: walk the stay back to `to` (admitted, discharge_registered or cancelled)",
             "The current stage is asked of the province (bizh120102) first; each reversal undoes the "
             "step that led into the stage left: settled -bizh120107-> discharge_registered -bizh120108-> "
             "admitted -bizh120109-> cancelled. 422 workflow when `to` is not behind the current stage."),
    Endpoint("POST", "/medical-record/{stay}", b.MedicalRecordBody, b.RecordSent, medical_record,
             MEDICAL_RECORD,
             "病案首页: upload the front-page set of a discharged or settled stay",
             "200101, 200102 and 200106 always; 200103 (operations), 200104 (newborns) and 200105 "
             "(oncology) only when the record has them. A part that fails is reported with a note of "
             "the parts already sent.", tag="medical-record"),
)
