"""Pydantic models of the spec files: this module *is* the meta-schema.

Every YAML file under spec/ is validated against one of these models before
anything is generated. Cross-file checks (a field used by a function exists in
the dictionary, a code list exists, ...) live in codegen.load.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Confidence = Literal["high", "medium", "low"]
PiiClass = Literal["id_number", "name", "phone", "card_no", "address", "free_text", "none"]
FieldType = Literal["string", "integer", "decimal", "date", "datetime", "code"]
FunctionKind = Literal["login", "query", "state_changing"]
Group = Literal["system", "outpatient", "inpatient", "medical_record", "other"]

WIRE_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
FUNCTION_ID = re.compile(r"^(sys\d{4}|bizh\d{6})$")
PYTHON_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Strict(BaseModel):
    """Unknown keys in a spec file are errors: a typo must not pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SpecSources(Strict):
    sources: list[str] = Field(default_factory=list, description="read_file ids of the reference")
    confidence: Confidence = "medium"
    notes: str | None = None


# --- spec/spec.yaml ---------------------------------------------------------


class Transport(Strict):
    path: str
    content_type: str
    encoding: Literal["utf-8"]
    root_element: str = "program"
    row_element: str = "row"


class ReturnCodes(Strict):
    success: str
    session_expired: str
    failure_rule: str
    server_fault_text: str


class WireTolerance(Strict):
    """How a reader treats what real messages carry beyond the spec."""

    empty_element: Literal["absent"]
    unknown_element: Literal["warning", "error"]
    element_order: Literal["free", "strict"]


class StageMachine(Strict):
    business_key: str
    initial: str
    stages: dict[str, str] = Field(description="stage name -> Chinese label")


class Limits(Strict):
    fee_rows_per_call: int = Field(gt=0)


class EnvelopeFields(Strict):
    request: list[str]
    response: list[str]


class Invariant(SpecSources):
    """An identity between amounts: `total` = the sum of `parts`, in Decimal arithmetic.

    It applies to every answer scope (the scalars of a response, or one row of a dataset) that
    declares the total and every part; the loader refuses one that applies nowhere.
    """

    name: str = Field(description="short identifier, e.g. total_is_personal_plus_fund")
    title: str = Field(description="Chinese statement, e.g. 医疗总费用 = 个人自付 + 工伤保险支付")
    total: str
    parts: list[str] = Field(min_length=2)


class AnswerPolicy(Strict):
    """How the province's answers are read where they deviate from the spec (requests stay strict).

    Each kind is `warn` (read as well as possible, recorded as a deviation) or `refuse` (a
    read-only answer with it is refused; a state-changing answer is still returned, since the
    province committed it). The generated parsers apply it; no hand code decides it.
    """

    extra_places: Literal["warn", "refuse"] = "warn"
    unlisted_code: Literal["warn", "refuse"] = "warn"
    unknown_element: Literal["warn", "refuse"] = "warn"
    empty_element: Literal["warn", "refuse"] = "warn"
    missing_field: Literal["warn", "refuse"] = "warn"
    bad_value: Literal["warn", "refuse"] = "warn"
    unlisted_code_label: str = "未列出的代码"

    def refused(self) -> tuple[str, ...]:
        kinds = ("extra_places", "unlisted_code", "unknown_element", "empty_element",
                 "missing_field", "bad_value")
        return tuple(kind for kind in kinds if getattr(self, kind) == "refuse")


class SpecRoot(Strict):
    name: str
    title: str
    version: str
    transport: Transport
    return_codes: ReturnCodes
    wire: WireTolerance
    limits: Limits
    envelope: EnvelopeFields
    stage_machines: dict[str, StageMachine]
    invariants: list[Invariant] = Field(default_factory=list)
    answer_policy: AnswerPolicy = Field(default_factory=AnswerPolicy)


# --- spec/fields.yaml -------------------------------------------------------


class FieldDef(SpecSources):
    name: str = Field(description="Chinese name (中文名)")
    meaning: str = Field(description="English meaning")
    python_name: str
    type: FieldType
    max_length: int | None = Field(default=None, gt=0, description="null = unknown")
    min_length: int | None = Field(default=None, ge=0)
    digits: int | None = Field(default=None, gt=0, description="decimal: total digits")
    scale: int | None = Field(default=None, ge=0, description="decimal: digits after the point")
    format: str | None = Field(default=None, description="date/datetime wire format")
    code_list: str | None = None
    pii: PiiClass = "none"

    @field_validator("python_name")
    @classmethod
    def _python_name(cls, value: str) -> str:
        if not PYTHON_NAME.match(value):
            raise ValueError("must be a lower-case Python identifier")
        return value

    @model_validator(mode="after")
    def _type_rules(self) -> FieldDef:
        if self.type == "decimal" and (self.digits is None or self.scale is None):
            raise ValueError("decimal needs digits and scale")
        if self.type != "decimal" and (self.digits is not None or self.scale is not None):
            raise ValueError("digits/scale are only for decimal")
        if self.type == "code" and not self.code_list:
            raise ValueError("type code needs code_list")
        if self.type in ("date", "datetime") and self.format is None:
            raise ValueError(f"type {self.type} needs format")
        lengths = (self.min_length, self.max_length)
        if None not in lengths and lengths[0] > lengths[1]:  # type: ignore[operator]
            raise ValueError("min_length is larger than max_length")
        return self


# --- spec/codes/<list>.yaml -------------------------------------------------


class CodeValue(Strict):
    code: str
    label: str
    notes: str | None = None


class CodeList(SpecSources):
    name: str = Field(description="list name, usually the field code")
    title: str = Field(description="Chinese title")
    closed: bool = Field(description="closed: other values are errors; open: warnings")
    values: list[CodeValue] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_codes(self) -> CodeList:
        seen: set[str] = set()
        for value in self.values:
            if value.code in seen:
                raise ValueError(f"code value {value.code!r} listed twice")
            seen.add(value.code)
        return self


# --- spec/functions/<function_id>.yaml --------------------------------------


class FieldUse(Strict):
    """One field as a function uses it; the definition comes from fields.yaml."""

    code: str
    required: bool = False
    notes: str | None = None
    # A function may narrow or relax the dictionary for its own use.
    code_list: str | None = None
    no_code_list: bool = False
    max_length: int | None = Field(default=None, gt=0)
    # Answers only: the next step needs this value (a missing one is reported as such, and a
    # read-only answer without it is refused), and other codes peers are seen to send it under.
    needed: bool = False
    also_read: list[str] = Field(default_factory=list)


class Dataset(Strict):
    name: str
    title: str
    required: bool = False
    min_rows: int = Field(default=0, ge=0)
    max_rows: int | None = Field(default=None, gt=0)
    fields: list[FieldUse] = Field(min_length=1)
    notes: str | None = None


class Message(Strict):
    fields: list[FieldUse] = Field(default_factory=list)
    datasets: list[Dataset] = Field(default_factory=list)


class StageRule(Strict):
    machine: str
    requires: list[str] = Field(min_length=1)
    leads_to: str | None = None


# How recovery reads back a lost outcome of a state-changing call: a named predicate and the
# read-only queries it asks, by the part each plays. The rule names are a closed list because
# each is code in adapter/ops/recovery.py; the loader checks the roles each rule needs.
ConfirmRule = Literal[
    "opening_listed",  # the new business is listed by the query (by the person), not claimed by an ok entry
    "charge_batch",  # the first batch number no ok entry accounts for holds the request's rows
    "cancel_unlisted",  # the listing no longer shows the business as live
    "fields_shown",  # the listing shows the `modifies` fields it can show as requested
    "fee_rows_listed",  # the fee list holds the chunk's rows beyond what ok uploads account for
    "fee_rows_cleared",  # the fee list holds only rows uploaded after the delete
    "stage_shown",  # the listing (and the sheet, for a discharged stay) shows where the call leads
    "not_queryable",  # no query returns what the call sent
]
CONFIRM_ROLES: dict[str, tuple[str, ...]] = {
    "opening_listed": ("listing",),
    "charge_batch": ("batches",),
    "cancel_unlisted": ("listing",),
    "fields_shown": ("listing",),
    "fee_rows_listed": ("fees",),
    "fee_rows_cleared": ("fees",),
    "stage_shown": ("listing", "sheet"),
    "not_queryable": (),
}


class Confirmation(Strict):
    rule: ConfirmRule
    queries: dict[str, str] = Field(default_factory=dict, description="role -> query function_id")
    notes: str | None = None


RefusalMeaning = Literal["no_such_batch", "already_refunded", "is_a_refund", "nothing_to_refund"]


class Refusal(SpecSources):
    """A refusal text (a part of return_code_message) whose meaning a reader may act on."""

    meaning: RefusalMeaning
    text: str = Field(min_length=1)


class Example(Strict):
    name: str
    request: dict[str, object]
    response: dict[str, object]


class FunctionSpec(SpecSources):
    function_id: str
    section: str
    group: Group
    name: str = Field(description="Chinese name")
    title_en: str
    purpose: str
    kind: FunctionKind
    stage: StageRule | None = None
    compensation: str | None = Field(default=None, description="function that undoes this one")
    compensates: str | None = Field(default=None, description="function this one undoes")
    opens: str | None = Field(default=None, description="business key this call creates (in its answer)")
    modifies: list[str] = Field(default_factory=list, description="fields of the business this call changes")
    confirm: Confirmation | None = Field(default=None, description="how recovery reads back the outcome")
    refusals: list[Refusal] = Field(default_factory=list)
    request: Message
    response: Message
    examples: list[Example] = Field(min_length=1)

    @field_validator("function_id")
    @classmethod
    def _function_id(cls, value: str) -> str:
        if not FUNCTION_ID.match(value):
            raise ValueError("must look like sys0001 or bizh123456")
        return value

    @model_validator(mode="after")
    def _kind_rules(self) -> FunctionSpec:
        if self.kind == "query" and self.compensation:
            raise ValueError("a read-only query has no compensation")
        if self.kind != "state_changing" and (self.opens or self.modifies or self.confirm):
            raise ValueError("only a state-changing function opens, modifies or is confirmed")
        return self


# --- spec/cities.yaml (optional) ----------------------------------------------


class CityProfile(SpecSources):
    """What one city's centre offers of the interface (issue 10: per-city policy)."""

    name: str = Field(description="Chinese name of the city (or of the policy, for a generic profile)")
    centre_code: str | None = Field(default=None, description="aaa027 工伤保险中心编码, when known")
    fee_deletion: bool = Field(description="bizh120004 offered; otherwise fees are offset by refund rows")
    cross_month_cancel: bool = Field(description="bizh120107 allowed in a later month than the settlement")


class Cities(Strict):
    default: str
    cities: dict[str, CityProfile] = Field(min_length=1)

    @model_validator(mode="after")
    def _default_is_listed(self) -> Cities:
        if self.default not in self.cities:
            raise ValueError(f"default: {self.default!r} is not one of the cities ({', '.join(self.cities)})")
        for key in self.cities:
            if not PYTHON_NAME.match(key):
                raise ValueError(f"city key {key!r}: must be a lower-case identifier")
        return self
