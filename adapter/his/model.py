"""The hospital's vocabulary: what a HIS knows about a patient, a visit, a stay and a bill.

Plain frozen dataclasses with English names a HIS developer recognizes; each class docstring gives
the Chinese label of every attribute. Money is `Decimal` (never float), days are `date`. Nothing
here knows a wire code: `adapter.his.mapping` says which attribute becomes which field, and
`docs/his-mapping.md` prints that table.

Inputs (the HIS fills them in): Patient, Operator, Doctor, Department, Ward, Diagnosis, FeeItem,
OutpatientVisit, InpatientStay, Discharge, and for the medical-record front page (病案首页)
Institution, MedicalRecord, FrontPage, Operation, Newborn, OncologyTreatment, ChemotherapyCourse,
DischargeSummary.

Results (the province answers, read back into HIS words): PersonInfo, BusinessInfo,
Registration, Settlement, FeeUpload, FeeListLine, SettlementSheet, SheetLine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "ZERO",
    "BusinessInfo",
    "ChemotherapyCourse",
    "Coded",
    "Department",
    "Diagnosis",
    "Discharge",
    "DischargeSummary",
    "Doctor",
    "FeeItem",
    "FeeListLine",
    "FeeUpload",
    "FrontPage",
    "IdentifierKind",
    "InpatientStay",
    "Institution",
    "MedicalRecord",
    "Newborn",
    "OncologyTreatment",
    "Operation",
    "Operator",
    "OutpatientVisit",
    "Patient",
    "PersonInfo",
    "Registration",
    "Settlement",
    "SettlementSheet",
    "SheetLine",
    "Ward",
]

ZERO = Decimal("0.00")


# --------------------------------------------------------------------------- small parts


class IdentifierKind(StrEnum):
    """入参类型: which identifier a lookup carries (the province's bka895 values)."""

    PERSON_NO = "aac001"  # 电脑号 (social-insurance computer number)
    CITIZEN_ID = "aac002"  # 社会保障号码 (citizen ID number)
    CARD_NO = "bka100"  # 社保卡号 (social security card number)
    VISIT_NO = "aaz218"  # 就医登记号 (the province's visit / stay number)
    HOSPITAL_NO = "bka025"  # 住院号 (the hospital's own inpatient number; stays only)


@dataclass(frozen=True)
class Patient:
    """Whom to look up. 参保人: id_kind 入参类型, id_value 入参值, name 姓名 (HIS side only)."""

    id_kind: IdentifierKind
    id_value: str
    name: str | None = None

    @classmethod
    def by_visit_no(cls, visit_no: str) -> Patient:
        """The business registered under 就医登记号 `visit_no` (aaz218)."""
        return cls(IdentifierKind.VISIT_NO, visit_no)


@dataclass(frozen=True)
class Operator:
    """The member of staff at the counter. code 工号, name 姓名 (登记人 / 结算人 / 录入人 / 结束人)."""

    code: str
    name: str


@dataclass(frozen=True)
class Doctor:
    """A doctor. code 医生编号, name 医生姓名."""

    code: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Department:
    """科室: code 科室编码, name 科室名称."""

    code: str
    name: str | None = None


@dataclass(frozen=True)
class Ward:
    """病区: code 病区编码, name 病区名称."""

    code: str
    name: str | None = None


@dataclass(frozen=True)
class Coded:
    """A value from a code table, sent as two fields: code 编号 and name 名称 (病案首页 pairs)."""

    code: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Diagnosis:
    """诊断. icd_code ICD码 / 疾病诊断编码, name 疾病名称; for the front page (bizh200102) also
    type_code 诊断类型 (1 主要诊断, 2 其他诊断) and admission_condition 入院病情 (编号 + 名称)."""

    icd_code: str
    name: str | None = None
    type_code: str | None = None
    admission_condition: Coded | None = None


# --------------------------------------------------------------------------- fees


@dataclass(frozen=True)
class FeeItem:
    """One fee line (费用明细) as the HIS booked it.

    item_code 医院药品项目编码, item_name 医院药品项目名称, unit_price 单价 (4 places),
    quantity 用量 (2 places; negative = refund 冲减), amount 金额 (2 places; the HIS's booked
    amount, never recomputed here), fee_date 费用发生日期, prescription_no 处方号,
    doctor 处方医生 (编号 + 姓名), hospital_fee_id 医院费用唯一标识, dosage_form 剂型,
    manufacturer 厂家, specification 规格, unit 计量单位, restricted 限制使用标志 (0/1),
    injury_split 伤病分离使用标志 (0/1), serial_no 费用序号 (aaz213, the province's, refunds only),
    entered_by 录入人 (工号 + 姓名, inpatient only).
    """

    item_code: str
    item_name: str
    unit_price: Decimal
    quantity: Decimal
    amount: Decimal
    fee_date: date
    prescription_no: str | None = None
    doctor: Doctor | None = None
    hospital_fee_id: str | None = None
    dosage_form: str | None = None
    manufacturer: str | None = None
    specification: str | None = None
    unit: str | None = None
    restricted: str | None = None
    injury_split: str | None = None
    serial_no: str | None = None
    entered_by: Operator | None = None


# --------------------------------------------------------------------------- visits and stays


@dataclass(frozen=True)
class OutpatientVisit:
    """门诊就诊 to register (bizh110104).

    person_no 电脑号 (from the lookup), visit_date 就诊日期, diagnosis 疾病诊断,
    department 科室, ward 病区, outpatient_no 医院业务号 (门诊号), prescription_no 处方号,
    injury_application_no 申请序列号, injury_certificate_no 工伤凭证号,
    business_type 业务类型 (41 工伤门诊), treatment_type 医疗待遇类型 (410 工伤门诊),
    visit_no 就医登记号 (aaz218, once registered).
    """

    person_no: str
    visit_date: date
    diagnosis: Diagnosis
    department: Department | None = None
    ward: Ward | None = None
    outpatient_no: str | None = None
    prescription_no: str | None = None
    injury_application_no: str | None = None
    injury_certificate_no: str | None = None
    business_type: str = "41"
    treatment_type: str = "410"
    visit_no: str | None = None


@dataclass(frozen=True)
class InpatientStay:
    """住院 as the HIS holds it (bizh120103 admission, bizh120104 changes).

    person_no 电脑号 (from the lookup), admission_date 入院日期 (就诊日期), diagnosis 入院诊断
    (疾病诊断编码), hospital_stay_no 住院号 (医院业务号), ward 病区, department 科室, bed_no 床位号,
    bed_type 床位类型, doctor_code 医师编码, remarks 备注, business_type 业务类型 (42 工伤住院),
    treatment_type 医疗待遇类型 (420 工伤普通住院), visit_no 就医登记号 (aaz218, once admitted).
    """

    person_no: str
    admission_date: date
    diagnosis: Diagnosis
    hospital_stay_no: str | None = None
    ward: Ward | None = None
    department: Department | None = None
    bed_no: str | None = None
    bed_type: str | None = None
    doctor_code: str | None = None
    remarks: str | None = None
    business_type: str = "42"
    treatment_type: str = "420"
    visit_no: str | None = None

    def with_visit_no(self, visit_no: str) -> InpatientStay:
        """This stay once the province has numbered it (就医登记号 from the admission)."""
        return replace(self, visit_no=visit_no)


@dataclass(frozen=True)
class Discharge:
    """出院登记 (bizh120105).

    discharge_date 出院日期, diagnosis 出院疾病诊断, admission_route 入院方式 (1 门诊, 2 急诊),
    admission_condition 入院情况 (1 危, 2 急, 3 一般), outcome 出院转归情况 (01 治愈 … 99 其它),
    blood_type 血型, rescues 抢救次数, rescues_succeeded 抢救成功次数, stay_days 住院天数,
    dialysis_count 血透次数, reason 出院原因, note 出院说明 (备注).
    """

    discharge_date: date
    diagnosis: Diagnosis
    admission_route: str | None = None
    admission_condition: str | None = None
    outcome: str | None = None
    blood_type: str | None = None
    rescues: int | None = None
    rescues_succeeded: int | None = None
    stay_days: int | None = None
    dialysis_count: int | None = None
    reason: str | None = None
    note: str | None = None


# --------------------------------------------------------------------------- medical record (病案首页)


@dataclass(frozen=True)
class Institution:
    """The hospital as the front page names it: region_code 行政区划代码（就医地）,
    branch_code 就医地社保分支机构代码, licence_no 医疗机构执业许可证登记号, name 医疗机构名称."""

    region_code: str | None = None
    branch_code: str | None = None
    licence_no: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class FrontPage:
    """病案首页 patient and stay page (bizh200101). The named attributes are the ones a HIS
    nearly always has; `extra` carries any other bizh200101 field by wire code (see
    docs/his-mapping.md and generated/docs/bizh200101.md), e.g. {"yzy099": "M8000/3"}.

    record_no 病案号, admission_count 住院次数, stay_serial_no 住院流水号, health_card_no 健康卡号,
    name 姓名, sex 性别 (编号 + 名称), birth_date 出生日期, age 年龄, birthplace 出生地,
    id_card_no 身份证号, nationality 国籍, ethnicity 民族, occupation 职业, marital_status 婚姻状况,
    native_place 籍贯, current_address 现住址, current_phone 现电话, current_postcode 现邮编,
    hukou_address 户口地址, hukou_postcode 户口邮编, employer_name 单位名称, employer_address
    单位地址, employer_phone 单位电话, employer_postcode 单位邮编, contact_name 联系人,
    contact_relationship 与病人关系, contact_address 联系人地址, contact_phone 联系人电话,
    admission_route 入院途径, admitted_on 入院日期, admission_department 入院科别,
    admission_ward 入院病室, discharged_on 出院日期, discharge_department 出院科别,
    discharge_ward 出院病室, stay_days 住院天数, outpatient_diagnosis 门（急）诊诊断,
    outpatient_doctor 门、急诊医生, rescues 抢救次数, rescues_succeeded 抢救成功次数,
    department_head 科主任, chief_physician 主（副主）任医生, attending_physician 主治医生,
    resident_physician 住院医生, responsible_nurse 责任护士, coder 编码员, record_quality 病案质量,
    blood_type 血型, rh RH, drug_allergy 是否药物过敏, allergy_drugs 过敏药物, discharge_mode 离院方式,
    readmission_plan 是否有出院31天内再住院计划, readmission_purpose 再住院目的,
    payment_method 付款方式, total_cost 医疗总费用, self_paid 自费金额, western_medicine 西药费,
    chinese_medicine 中药费, chinese_patent_medicine 中成药费, chinese_herbal_medicine 中草药费,
    other_cost 其他费, hospital_infections 医院感染次数.
    """

    record_no: str | None = None
    admission_count: int | None = None
    stay_serial_no: str | None = None
    health_card_no: str | None = None
    name: str | None = None
    sex: Coded | None = None
    birth_date: date | None = None
    age: int | None = None
    birthplace: str | None = None
    id_card_no: str | None = None
    nationality: Coded | None = None
    ethnicity: Coded | None = None
    occupation: Coded | None = None
    marital_status: Coded | None = None
    native_place: str | None = None
    current_address: str | None = None
    current_phone: str | None = None
    current_postcode: str | None = None
    hukou_address: str | None = None
    hukou_postcode: str | None = None
    employer_name: str | None = None
    employer_address: str | None = None
    employer_phone: str | None = None
    employer_postcode: str | None = None
    contact_name: str | None = None
    contact_relationship: str | None = None
    contact_address: str | None = None
    contact_phone: str | None = None
    admission_route: Coded | None = None
    admitted_on: date | None = None
    admission_department: Department | None = None
    admission_ward: str | None = None
    discharged_on: date | None = None
    discharge_department: Department | None = None
    discharge_ward: str | None = None
    stay_days: int | None = None
    outpatient_diagnosis: Coded | None = None
    outpatient_doctor: Doctor | None = None
    rescues: int | None = None
    rescues_succeeded: int | None = None
    department_head: Doctor | None = None
    chief_physician: Doctor | None = None
    attending_physician: Doctor | None = None
    resident_physician: Doctor | None = None
    responsible_nurse: Doctor | None = None
    coder: Doctor | None = None
    record_quality: Coded | None = None
    blood_type: Coded | None = None
    rh: Coded | None = None
    drug_allergy: Coded | None = None
    allergy_drugs: str | None = None
    discharge_mode: Coded | None = None
    readmission_plan: Coded | None = None
    readmission_purpose: str | None = None
    payment_method: Coded | None = None
    total_cost: Decimal | None = None
    self_paid: Decimal | None = None
    western_medicine: Decimal | None = None
    chinese_medicine: Decimal | None = None
    chinese_patent_medicine: Decimal | None = None
    chinese_herbal_medicine: Decimal | None = None
    other_cost: Decimal | None = None
    hospital_infections: int | None = None
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    """手术 (bizh200103, one row each). code_type 手术码类型, code 手术码, name 手术名称,
    operated_on 手术日期, incision 切口, healing 愈合, surgeon 手术医生, anaesthesia 麻醉方式,
    additional 是否附加手术 (1/0), first_assistant I助, second_assistant II助, anaesthetist 麻醉医生,
    elective 择期手术, level 手术级别, treatment_item_code 诊疗代码."""

    code: str
    name: str | None = None
    code_type: str | None = None
    operated_on: date | None = None
    incision: Coded | None = None
    healing: Coded | None = None
    surgeon: Doctor | None = None
    anaesthesia: Coded | None = None
    additional: str | None = None
    first_assistant: Doctor | None = None
    second_assistant: Doctor | None = None
    anaesthetist: Doctor | None = None
    elective: Coded | None = None
    level: Coded | None = None
    treatment_item_code: str | None = None


@dataclass(frozen=True)
class Newborn:
    """分娩婴儿 (bizh200104, one row each). sex 性别 (编号 + 名称), weight 婴儿体重,
    delivery_result 分娩结果, outcome 转归, rescues_succeeded 婴儿抢救成功次数, breathing 呼吸."""

    rescues_succeeded: int = 0
    sex: Coded | None = None
    weight: str | None = None
    delivery_result: Coded | None = None
    outcome: Coded | None = None
    breathing: Coded | None = None


@dataclass(frozen=True)
class ChemotherapyCourse:
    """化疗记录 (bizh200105 detail row). given_on 化疗日期, drugs_and_doses 化疗药物名称及剂量,
    course 化疗疗程, effect 疗效."""

    given_on: date | None = None
    drugs_and_doses: str | None = None
    course: str | None = None
    effect: Coded | None = None


@dataclass(frozen=True)
class OncologyTreatment:
    """肿瘤专科治疗记录 (bizh200105). Radiotherapy 放疗: mode 放疗方式, procedure 放疗程序,
    device 放疗装置; primary focus 原发灶, regional lymph nodes 区域淋巴结, metastasis 转移灶, each
    with dose 剂量, fractions 次数, days 天数, start 开始日期, end 结束日期. Chemotherapy 化疗:
    chemo_mode 化疗方式, chemo_method 化疗方法, courses 化疗记录."""

    radiotherapy_mode: Coded | None = None
    radiotherapy_procedure: Coded | None = None
    radiotherapy_device: Coded | None = None
    primary_dose: str | None = None
    primary_fractions: int | None = None
    primary_days: int | None = None
    primary_start: date | None = None
    primary_end: date | None = None
    lymph_node_dose: str | None = None
    lymph_node_fractions: int | None = None
    lymph_node_days: int | None = None
    lymph_node_start: date | None = None
    lymph_node_end: date | None = None
    metastasis_name: str | None = None
    metastasis_dose: str | None = None
    metastasis_fractions: int | None = None
    metastasis_days: int | None = None
    metastasis_start: date | None = None
    metastasis_end: date | None = None
    chemo_mode: Coded | None = None
    chemo_method: Coded | None = None
    courses: Sequence[ChemotherapyCourse] = ()


@dataclass(frozen=True)
class DischargeSummary:
    """出院小结 (bizh200106). admission_diagnosis 入院诊断描述, discharge_diagnosis 出院诊断描述,
    symptoms 入院时主要症状，体征, course 入院后处理及经过, condition 出院时情况,
    orders 出院时医嘱, physician 医师."""

    admission_diagnosis: str | None = None
    discharge_diagnosis: str | None = None
    symptoms: str | None = None
    course: str | None = None
    condition: str | None = None
    orders: str | None = None
    physician: str | None = None


@dataclass(frozen=True)
class FrontPageSet:
    """What the front-page set of a stay says (病案首页, bizh200101–bizh200106), without the stay.

    insured_region 参保人所属行政区划, insured_branch 参保地社保分支机构代码,
    social_security_no 社会保障号码, id_document_type 证件类型, id_document_no 证件号码,
    icd_version ICD版本, front_page 病案首页, diagnoses 诊断 (at least one), operations 手术,
    newborns 分娩婴儿, oncology 肿瘤治疗, summary 出院小结. Empty operations / newborns and no
    oncology mean those parts are not sent.
    """

    front_page: FrontPage
    diagnoses: Sequence[Diagnosis]
    summary: DischargeSummary
    operations: Sequence[Operation] = ()
    newborns: Sequence[Newborn] = ()
    oncology: OncologyTreatment | None = None
    insured_region: str | None = None
    insured_branch: str | None = None
    social_security_no: str | None = None
    id_document_type: str | None = None
    id_document_no: str | None = None
    icd_version: str | None = None


@dataclass(frozen=True)
class MedicalRecord(FrontPageSet):
    """The front-page set of one stay: FrontPageSet plus visit_no 就医登记号 (keyword only)."""

    visit_no: str = field(kw_only=True)

    @classmethod
    def of(cls, visit_no: str, content: FrontPageSet) -> MedicalRecord:
        """The record of stay `visit_no` with the given content (e.g. a gateway body)."""
        parts = {name: getattr(content, name) for name in FrontPageSet.__dataclass_fields__}
        return cls(visit_no=visit_no, **parts)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PersonInfo:
    """An insured person as the province knows them (bizh110001 / bizh120001 personinfo).

    person_no 电脑号, name 姓名, sex 性别, citizen_id 社会保障号码, birth_date 出生日期,
    phone 联系电话, person_category 人员类别, employer_no 单位编码, employer_name 单位名称,
    insured_region 参保地统筹区, fund_status 个人基金状态 (0 正常, 1 冻结, 9 未参保),
    treatment_type 医疗待遇类型, injury_application_no 申请序列号, injury_certificate_no 工伤凭证号,
    injury_diagnosis_code 疾病诊断编码, valid_from 开始日期, valid_to 结束日期.
    """

    person_no: str
    name: str | None = None
    sex: str | None = None
    citizen_id: str | None = None
    birth_date: date | None = None
    phone: str | None = None
    person_category: str | None = None
    employer_no: str | None = None
    employer_name: str | None = None
    insured_region: str | None = None
    fund_status: str | None = None
    treatment_type: str | None = None
    injury_application_no: str | None = None
    injury_certificate_no: str | None = None
    injury_diagnosis_code: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None

    @property
    def fund_usable(self) -> bool:
        """True when the fund is neither frozen nor missing (个人基金状态 0)."""
        return self.fund_status == "0"


@dataclass(frozen=True)
class BusinessInfo:
    """A registered visit or stay (bizh110102 / bizh120102 bizinfo).

    visit_no 就医登记号, person_no 电脑号, name 姓名, business_type 业务类型, treatment_type
    医疗待遇类型, visit_date 就诊日期 (入院日期), department_code 科室编码, ward_code 病区编码,
    bed_no 床位号, hospital_no 医院业务号 (住院号 / 门诊号), diagnosis_code 疾病诊断编码,
    settled_flag 结算标识 (1 已结算), discharged_flag 完成标志 (1 已出院), discharge_date 出院日期,
    stay_days 住院天数, registered_by 登记人姓名.
    """

    visit_no: str
    person_no: str | None = None
    name: str | None = None
    business_type: str | None = None
    treatment_type: str | None = None
    visit_date: date | None = None
    department_code: str | None = None
    ward_code: str | None = None
    bed_no: str | None = None
    hospital_no: str | None = None
    diagnosis_code: str | None = None
    settled_flag: str | None = None
    discharged_flag: str | None = None
    discharge_date: date | None = None
    stay_days: int | None = None
    registered_by: str | None = None


@dataclass(frozen=True)
class Registration:
    """A registration (bizh110104) or admission (bizh120103) the province accepted:
    visit_no 就医登记号 (aaz218), the key of every later call of that visit or stay. `warnings`:
    where the province's answer deviated from the spec (read anyway; also in the journal)."""

    visit_no: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settlement:
    """The money of a (trial) settlement, in HIS words. The province keeps
    total = personal + fund, personal = personal_cash + personal_account + other_personal, and
    fund = pooled_fund + civil_servant_subsidy + supplementary_fund + major_expense_subsidy +
    employer + hospital_advance + other_fund + civil_affairs_relief. Absent amounts read as 0.00.

    visit_no 就医登记号, batch_no 费用批次 (outpatient), total 医疗总费用, personal 个人自付,
    fund 工伤保险支付, fully_self_paid 全自费费用, partly_self_paid 部分自费费用, deductible 起付线费用,
    over_band_self_paid 超共付段费用个人自付, personal_cash 个人现金支付, personal_account
    个人账户支付, other_personal 其他支付, civil_affairs_relief 民政救助金支付, pooled_fund
    工伤保险统筹基金支付, civil_servant_subsidy 公务员医疗补助基金支付, supplementary_fund
    企业补充工伤保险基金支付, major_expense_subsidy 大额医疗费用补助基金支付, employer 单位支付,
    hospital_advance 医院垫付, other_fund 其他基金支付.
    """

    total: Decimal
    personal: Decimal
    fund: Decimal
    visit_no: str | None = None
    batch_no: int | None = None
    fully_self_paid: Decimal = ZERO
    partly_self_paid: Decimal = ZERO
    deductible: Decimal = ZERO
    over_band_self_paid: Decimal = ZERO
    personal_cash: Decimal = ZERO
    personal_account: Decimal = ZERO
    other_personal: Decimal = ZERO
    civil_affairs_relief: Decimal = ZERO
    pooled_fund: Decimal = ZERO
    civil_servant_subsidy: Decimal = ZERO
    supplementary_fund: Decimal = ZERO
    major_expense_subsidy: Decimal = ZERO
    employer: Decimal = ZERO
    hospital_advance: Decimal = ZERO
    other_fund: Decimal = ZERO
    warnings: tuple[str, ...] = ()  # where the answer deviated from the spec (read anyway)


@dataclass(frozen=True)
class FeeUpload:
    """What an inpatient fee upload sent: rows 费用明细条数 in calls 次 (≤ 300 rows each)."""

    visit_no: str
    rows: int
    calls: int


@dataclass(frozen=True)
class FeeListLine:
    """One line of the stay's fee list (费用清单, bizh120113). category 费用类别, centre_item_name
    中心药品项目名称, item_name 医院药品项目名称, dosage_form 剂型, specification 规格, unit_price 单价,
    quantity 用量, amount 金额, self_pay_first_ratio 先自付比例."""

    item_name: str | None = None
    category: str | None = None
    centre_item_name: str | None = None
    dosage_form: str | None = None
    specification: str | None = None
    unit_price: Decimal | None = None
    quantity: Decimal | None = None
    amount: Decimal = ZERO
    self_pay_first_ratio: str | None = None


@dataclass(frozen=True)
class SheetLine:
    """One fee-category row of the settlement sheet matrix (fundList). label 名称 (e.g. 西药费),
    personal_cash 个人现金, basic_fund 基本医疗保障, supplementary 补充保险支付, essential_drug_subsidy
    工伤保险统筹基金基本药物补助, major_illness_subsidy 重大疾病补助, other_subsidy 其他补助, total 合计."""

    label: str | None = None
    personal_cash: Decimal = ZERO
    basic_fund: Decimal = ZERO
    supplementary: Decimal = ZERO
    essential_drug_subsidy: Decimal = ZERO
    major_illness_subsidy: Decimal = ZERO
    other_subsidy: Decimal = ZERO
    total: Decimal = ZERO


@dataclass(frozen=True)
class SettlementSheet:
    """The settlement sheet of a settled stay (结算信息, bizh120206).

    visit_no 就医登记号, hospital_name 医疗机构名称, name 姓名, person_no 电脑号, department_name
    科室名称, hospital_stay_no 住院号, admission_date 入院日期, discharge_date 出院日期, stay_days
    住院天数, settled_on 结算日期, prepared_by 制单人, total 总费用, fund 工伤保险支付金额, personal
    个人支付金额, fund_paid_to_date 基本工伤保险统筹已支付, lines 费用类别支付信息.
    """

    visit_no: str | None = None
    hospital_name: str | None = None
    name: str | None = None
    person_no: str | None = None
    department_name: str | None = None
    hospital_stay_no: str | None = None
    admission_date: date | None = None
    discharge_date: date | None = None
    stay_days: int | None = None
    settled_on: date | None = None
    prepared_by: str | None = None
    total: Decimal = ZERO
    fund: Decimal = ZERO
    personal: Decimal = ZERO
    fund_paid_to_date: Decimal = ZERO
    lines: Sequence[SheetLine] = ()
