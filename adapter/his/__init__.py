"""The HIS layer: the hospital's vocabulary on top of the wire client.

A HIS (C#, Java, Delphi … through a gateway, or Python directly) makes one call per business step
and never sees XML or wire codes:

    from adapter import Client, Settings
    from adapter.his import InpatientService, InpatientStay, Operator, Patient, IdentifierKind

    with Client(Settings.from_env()) as client:
        inpatient = InpatientService(client)
        person = inpatient.lookup(Patient(IdentifierKind.CITIZEN_ID, "…"))[0]
        registration = inpatient.admit(stay, operator, his_commit=store_visit_no)

Modules:
  model      the HIS's words: inputs (Patient, InpatientStay, FeeItem, …) and results
             (Registration, Settlement, …), Decimal money and date days
  mapping    one declaration per transaction (HIS attribute path <-> wire code), the request
             builders and answer readers, `mapping_table(function_id)` (docs/his-mapping.md)
  workflows  OutpatientService, InpatientService, MedicalRecordService, with the registry's
             compensation (交易补偿) around the HIS's own commit
  errors     Compensated, FeeUploadFailed, CompensationFailed, AmountMismatch
"""

from adapter.his.errors import (
    AmountMismatch,
    Compensated,
    CompensationFailed,
    FeeUploadFailed,
    HisWorkflowError,
)
from adapter.his.mapping import MAPPED_FUNCTIONS, MappingError, mapping_table
from adapter.his.model import (
    BusinessInfo,
    ChemotherapyCourse,
    Coded,
    Department,
    Diagnosis,
    Discharge,
    DischargeSummary,
    Doctor,
    FeeItem,
    FeeListLine,
    FeeUpload,
    FrontPage,
    FrontPageSet,
    IdentifierKind,
    InpatientStay,
    Institution,
    MedicalRecord,
    Newborn,
    OncologyTreatment,
    Operation,
    Operator,
    OutpatientVisit,
    Patient,
    PersonInfo,
    Registration,
    Settlement,
    SettlementSheet,
    SheetLine,
    Ward,
)
from adapter.his.workflows import (
    HisCommit,
    InpatientService,
    MedicalRecordService,
    OutpatientService,
    Progress,
    WireCaller,
)

__all__ = [
    "MAPPED_FUNCTIONS",
    "AmountMismatch",
    "BusinessInfo",
    "ChemotherapyCourse",
    "Coded",
    "Compensated",
    "CompensationFailed",
    "Department",
    "Diagnosis",
    "Discharge",
    "DischargeSummary",
    "Doctor",
    "FeeItem",
    "FeeListLine",
    "FeeUpload",
    "FeeUploadFailed",
    "FrontPage",
    "FrontPageSet",
    "HisCommit",
    "HisWorkflowError",
    "IdentifierKind",
    "InpatientService",
    "InpatientStay",
    "Institution",
    "MappingError",
    "MedicalRecord",
    "MedicalRecordService",
    "Newborn",
    "OncologyTreatment",
    "Operation",
    "Operator",
    "OutpatientService",
    "OutpatientVisit",
    "Patient",
    "PersonInfo",
    "Progress",
    "Registration",
    "Settlement",
    "SettlementSheet",
    "SheetLine",
    "Ward",
    "WireCaller",
    "mapping_table",
]
