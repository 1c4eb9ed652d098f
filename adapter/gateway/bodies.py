"""The JSON shapes of the gateway's endpoints, as dataclasses (read and written by convert.py).

Request bodies name their parts after the service method's arguments (`stay`, `operator`, `fees`,
`discharge`, `record`, …), so a body path such as `stay.ward.code` is exactly the HIS path of
docs/his-mapping.md, and a field error from the province's spec points at the JSON the HIS sent.
The visit / stay number (就医登记号) is always the URL's `{visit}` / `{stay}`, never a body field.

Result shapes wrap the services' results (adapter.his.model) where a bare list or nothing would
otherwise be returned: JSON answers are always objects, so a field can be added later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from adapter.his.model import (
    Department,
    Discharge,
    FeeItem,
    FeeListLine,
    FrontPageSet,
    InpatientStay,
    Institution,
    Operator,
    OutpatientVisit,
    Patient,
    PersonInfo,
    Ward,
)

__all__ = [
    "AdmitBody",
    "CancelStayBody",
    "ChargeBody",
    "DischargeBody",
    "Done",
    "FeeList",
    "FeeListQuery",
    "FeesBody",
    "LookupBody",
    "MedicalRecordBody",
    "ModifyBody",
    "NoBody",
    "OperatorBody",
    "Persons",
    "PresettleBody",
    "RecordSent",
    "RefundBody",
    "RegisterBody",
    "Reversals",
    "StayChanges",
]


# --------------------------------------------------------------------------- request bodies


@dataclass(frozen=True)
class NoBody:
    """No parameters: an empty body (or `{}`)."""


@dataclass(frozen=True)
class LookupBody:
    """Whom to look up: `patient` {id_kind, id_value}."""

    patient: Patient


@dataclass(frozen=True)
class OperatorBody:
    """The member of staff at the counter (登记人 / 结算人)."""

    operator: Operator


@dataclass(frozen=True)
class RegisterBody:
    """门诊挂号: the visit to register and who registers it. Leave visit.visit_no out."""

    visit: OutpatientVisit
    operator: Operator


@dataclass(frozen=True)
class ChargeBody:
    """门诊试算 / 收费: the fee lines (费用明细) and the operator."""

    fees: Sequence[FeeItem]
    operator: Operator


@dataclass(frozen=True)
class RefundBody:
    """门诊退费: the charged batch (费用批次, from the charge's batch_no) to refund whole."""

    batch_no: int
    operator: Operator


@dataclass(frozen=True)
class AdmitBody:
    """入院登记: the stay and the operator. Leave stay.visit_no out: the province assigns it."""

    stay: InpatientStay
    operator: Operator


@dataclass(frozen=True)
class StayChanges:
    """What bizh120104 may change on an admitted stay, as it is now: ward 病区, department 科室,
    hospital_stay_no 住院号, bed_no 床位号, doctor_code 医师编码."""

    ward: Ward | None = None
    department: Department | None = None
    hospital_stay_no: str | None = None
    bed_no: str | None = None
    doctor_code: str | None = None


@dataclass(frozen=True)
class ModifyBody:
    """入院登记信息修改: the stay's changeable attributes as they are now, and who changes them
    (bizh120104 carries no operator: the gateway logs it)."""

    stay: StayChanges
    operator: Operator | None = None


@dataclass(frozen=True)
class FeesBody:
    """住院费用上传: every fee line to add (the gateway sends them in chunks of at most 300)."""

    fees: Sequence[FeeItem]


@dataclass(frozen=True)
class PresettleBody:
    """预结算: scene 业务场景阶段 (1 开始, the default; 2 结算; 3 结束)."""

    scene: str = "1"


@dataclass(frozen=True)
class DischargeBody:
    """出院登记: the discharge and the operator."""

    discharge: Discharge
    operator: Operator


@dataclass(frozen=True)
class CancelStayBody:
    """Walk the stay back to stage `to`: admitted, discharge_registered or cancelled; `operator`
    who does it (the reversals carry no operator: the gateway logs it)."""

    to: str
    operator: Operator | None = None


@dataclass(frozen=True)
class FeeListQuery:
    """Query string of GET /inpatient/{stay}/fees: grouping 明细分组 (0 by category, 1 by name,
    absent: every line)."""

    grouping: str | None = None


@dataclass(frozen=True)
class MedicalRecordBody:
    """病案首页: the hospital as the front page names it, and the record of the stay."""

    institution: Institution
    record: FrontPageSet  # the stay is the URL's {stay}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Persons:
    """The insured person(s) behind the identifier (usually one)."""

    persons: Sequence[PersonInfo]


@dataclass(frozen=True)
class Done:
    """A step that returns nothing but its acceptance: `done` names it (cancelled, modified,
    fees_deleted); `already` is true when it had been done before and nothing was sent now."""

    visit_no: str
    done: str
    already: bool = False


@dataclass(frozen=True)
class FeeList:
    """The stay's fee list as the province holds it (费用清单, bizh120113)."""

    visit_no: str
    lines: Sequence[FeeListLine]


@dataclass(frozen=True)
class Reversals:
    """The stay walked back to `stage`; `reversals` are the function ids sent, in order;
    `already` is true when the stay was at `stage` before (nothing sent)."""

    visit_no: str
    stage: str
    reversals: Sequence[str] = field(default_factory=tuple)
    already: bool = False


@dataclass(frozen=True)
class RecordSent:
    """The medical-record parts sent, in order (bizh200101 …)."""

    visit_no: str
    sent: Sequence[str]
