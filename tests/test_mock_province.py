"""MockProvince called directly (no HTTP): flows, business rules and their refusals, arithmetic,
concurrency, persistence and seed files. Every request is validated against its request model
and every answer against its response model, so the mock never drifts from the spec."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seed_login import AKB020, OTHER_PASSWORD, OTHER_USERID, PASSWORD, USERID

from adapter.errors import InputError
from adapter.mock.province import MockProvince, Refusal
from adapter.mock.seed import SeedError, default_seed, load_seed, seed_as_text
from adapter.wire.validation import validate_message
from generated.registry import CODE_LISTS, FUNCTIONS, SPEC, STAGE_MACHINES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES: dict[str, Any] = json.loads((ROOT / "generated" / "examples.json").read_text(encoding="utf-8"))
H1, H2 = "H44190000001", "H44190000002"
VALID, VALID_2, FROZEN, NOT_INSURED, ELSEWHERE, SPARE = (
    "1000000001", "1000000002", "1000000003", "1000000004", "1000000005", "1000000006")
AMOUNT_CODES = ("akc264", "bka831", "bka832", "akb067", "akb066", "bka839", "ake039", "ake035",
                "ake026", "ake029", "bka841", "bka842", "bka840", "bka821")


class Clock:
    """An injectable clock (naive = Shanghai wall time)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Desk:
    """One logged-in hospital: validates each request and answer against the spec's models."""

    def __init__(self, province: MockProvince, userid: str = USERID, password: str = PASSWORD) -> None:
        self.province = province
        self.session = province.login(userid, password)
        self.akb020 = province.session_institution(self.session)
        self.called: set[str] = set()

    def call(self, fid: str, **values: Any) -> dict[str, Any]:
        values.setdefault("akb020", self.akb020)
        validate_message(fid, "request", values)
        answer = self.province.handle(fid, values, akb020=self.province.session_institution(self.session))
        validate_message(fid, "response", answer)
        assert answer["return_code"] == "1"
        self.called.add(fid)
        return answer

    def refused(self, fid: str, **values: Any) -> Refusal:
        values.setdefault("akb020", self.akb020)
        with pytest.raises(Refusal) as caught:
            self.province.handle(fid, values, akb020=self.akb020)
        self.called.add(fid)
        return caught.value

    # -- common steps

    def register(self, aac001: str = VALID, **extra: Any) -> str:
        values = {"aac001": aac001, "aka130": "41", "bka006": "410", "bka017": "20190508",
                  "bka014": "T001", "bka015": "测试乙", "bka026": "S62.001", "bka025": "MZ0001", **extra}
        return str(self.call("bizh110104", **values)["aaz218"])

    def charge(self, aaz218: str, rows: list[dict[str, str]], commit: bool = True) -> dict[str, str]:
        answer = self.call("bizh110105", aaz218=aaz218, bka014="T001", bka015="测试乙",
                           bka893="1" if commit else "0", feeinfo=rows)
        return dict(answer["payinfo"][0])

    def admit(self, aac001: str = VALID_2, **extra: Any) -> str:
        values = {"aac001": aac001, "aka130": "42", "bka006": "420", "bka017": "20190508",
                  "bka014": "T001", "bka015": "测试操作员", "bka021": "W03", "bka022": "骨科病区",
                  "bka019": "0301", "bka020": "骨科", "bka026": "S62.501", "bka025": "ZY0001",
                  "bka023": "12", **extra}
        return str(self.call("bizh120103", **values)["aaz218"])

    def add_fees(self, aaz218: str, rows: list[dict[str, str]]) -> None:
        self.call("bizh120002", aaz218=aaz218, feeinfo=rows)

    def discharge(self, aaz218: str, bka032: str = "20190520") -> dict[str, Any]:
        return self.call("bizh120105", aaz218=aaz218, bka032=bka032, bka033="T001", bka034="测试操作员",
                         bka031="S62.501", bka006="420", bkf004="02")

    def settle(self, aaz218: str) -> dict[str, Any]:
        return self.call("bizh120106", aaz218=aaz218, bka046="T001", bka047="测试操作员")


def fee(code: str, price: str, quantity: str, name: str = "测试项目", **extra: str) -> dict[str, str]:
    amount = (Decimal(price) * Decimal(quantity)).quantize(Decimal("0.01"))
    return {"ake005": code, "ake006": name, "bka051": "20190508", "bka056": price,
            "bka057": quantity, "bka058": f"{amount:.2f}", **extra}


DRUG = fee("XY0001", "3.1250", "4.00", "测试药品甲片")  # 12.50
BED = fee("CW0001", "45.0000", "2.00", "测试床位费")  # 90.00
SELF_PAY = fee("ZF0001", "60.0000", "1.00", "测试自费营养品")  # 60.00, self-pay


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2019, 5, 8, 10, 0, 0))


@pytest.fixture
def province(clock: Clock) -> MockProvince:
    return MockProvince(clock=clock)


@pytest.fixture
def desk(province: MockProvince) -> Desk:
    return Desk(province)


def assert_identities(amounts: dict[str, str]) -> None:
    d = {code: Decimal(amounts[code]) for code in AMOUNT_CODES}
    assert d["akc264"] == d["bka831"] + d["bka832"]
    assert d["bka831"] == d["akb067"] + d["akb066"] + d["bka839"]
    assert d["bka832"] == sum(d[c] for c in ("ake039", "ake035", "ake026", "ake029", "bka841",
                                             "bka842", "bka840", "bka821"))
    assert all(len(amounts[c].split(".")[1]) == 2 for c in AMOUNT_CODES)


# ============================================================================ sessions


def test_login_binds_the_session_to_the_users_institution(province: MockProvince) -> None:
    session = province.login(OTHER_USERID, OTHER_PASSWORD)
    uuid.UUID(session)
    assert province.session_institution(session) == H2


@pytest.mark.parametrize(("userid", "password"), [(USERID, "wrong"), ("nobody", PASSWORD),
                                                  (AKB020, PASSWORD)])
def test_wrong_credentials_are_refused_without_saying_which(
        province: MockProvince, userid: str, password: str) -> None:
    with pytest.raises(Refusal) as caught:
        province.login(userid, password)
    assert caught.value.code == "-1"
    assert "wrong user id or password" in caught.value.message


@pytest.mark.parametrize("session", [None, "", "not-a-session", "3f2b8c1e-9d4a-4e7b-8a61-5c0f2d9e7b13"])
def test_unknown_session_is_minus_9(province: MockProvince, session: str | None) -> None:
    with pytest.raises(Refusal) as caught:
        province.session_institution(session)
    assert caught.value.code == "-9"
    assert caught.value.message


def test_expire_sessions_on_demand(province: MockProvince) -> None:
    session = province.login(USERID, PASSWORD)
    province.expire_sessions()
    with pytest.raises(Refusal) as caught:
        province.session_institution(session)
    assert caught.value.code == "-9"


def test_session_ends_at_midnight_shanghai(province: MockProvince, clock: Clock) -> None:
    clock.now = datetime(2019, 5, 8, 23, 59, 0)
    session = province.login(USERID, PASSWORD)
    clock.now = datetime(2019, 5, 8, 23, 59, 59, 999999)
    assert province.session_institution(session) == H1
    clock.now = datetime(2019, 5, 9, 0, 0, 0)
    with pytest.raises(Refusal) as caught:
        province.session_institution(session)
    assert caught.value.code == "-9"
    assert province.session_institution(province.login(USERID, PASSWORD)) == H1


def test_midnight_is_shanghai_midnight_for_an_aware_utc_clock() -> None:
    clock = Clock(datetime(2019, 5, 8, 15, 30, tzinfo=UTC))  # 23:30 in Shanghai
    province = MockProvince(clock=clock)
    session = province.login(USERID, PASSWORD)
    clock.now = datetime(2019, 5, 8, 15, 59, 59, tzinfo=UTC)
    assert province.session_institution(session) == H1
    clock.now = datetime(2019, 5, 8, 16, 0, 0, tzinfo=UTC)
    with pytest.raises(Refusal):
        province.session_institution(session)


def test_akb020_must_be_the_sessions_institution(desk: Desk) -> None:
    with pytest.raises(Refusal) as caught:
        desk.province.handle("bizh120205", {"akb020": H2}, akb020=H1)
    assert "akb020 医疗机构编码" in caught.value.message and H2 in caught.value.message


def test_unknown_function_is_refused(province: MockProvince) -> None:
    with pytest.raises(Refusal) as caught:
        province.handle("bizh999999", {"akb020": H1}, akb020=H1)
    assert "bizh999999" in caught.value.message


def test_sys0001_through_handle(province: MockProvince) -> None:
    answer = province.handle("sys0001", {"userid": USERID, "password": PASSWORD}, akb020="")
    validate_message("sys0001", "response", answer)
    assert province.session_institution(answer["session_id"]) == H1


# ============================================================================ every function


def test_every_function_in_an_example_like_journey(desk: Desk) -> None:
    """All 29 business functions, in the order a hospital uses them; every answer validates."""
    other = Desk(desk.province, OTHER_USERID, OTHER_PASSWORD)
    for fid in ("bizh110001", "bizh120001"):
        request = {**EXAMPLES[fid][0]["request"], "bka895": "aac001", "bka896": VALID}
        desk.call(fid, **request)
    visit = desk.register()
    desk.call("bizh110102", bka895="aaz218", bka896=visit, bka006="410")
    desk.charge(visit, EXAMPLES["bizh110105"][0]["request"]["feeinfo"])
    rows = desk.call("bizh110103", bka895="aaz218", bka896=visit, bka006="410", bka001="1")["feeinfo"]
    desk.charge(visit, rows)
    desk.call("bizh110106", aaz218=visit, bka014="T001", bka015="测试乙")
    stay = desk.admit()
    desk.call("bizh120104", **{**EXAMPLES["bizh120104"][0]["request"], "aaz218": stay})
    for example in EXAMPLES["bizh120002"]:
        desk.call("bizh120002", **{**example["request"], "aaz218": stay})
    desk.call("bizh120004", aaz218=stay)
    desk.add_fees(stay, [DRUG, BED])
    desk.call("bizh120003", aaz218=stay, bka438="1")
    desk.call("bizh120102", bka895="aaz218", bka896=stay, aka130="42")
    desk.discharge(stay)
    for fid in ("bizh200101", "bizh200102", "bizh200103", "bizh200104", "bizh200105", "bizh200106"):
        desk.call(fid, **{**EXAMPLES[fid][0]["request"], "aaz218": stay})
    desk.settle(stay)
    desk.call("bizh120206", aaz218=stay)
    desk.call("bizh120113", aaz218=stay, operate="2")
    desk.call("bizh120107", aaz218=stay)
    desk.call("bizh120108", aaz218=stay)
    desk.call("bizh120109", aaz218=stay)
    desk.call("bizh120205", aaa100="bka006")
    desk.call("bizh410004", aac001=VALID)
    desk.call("bizh410005", aac001=VALID, bka977="1")
    other.call("bizh120205")
    assert desk.called == {fid for fid in FUNCTIONS if fid != "sys0001"}


# ============================================================================ lookups


@pytest.mark.parametrize(("kind", "value"), [("aac001", VALID), ("aac002", "44190019900101001X"),
                                             ("bka100", "K00000001")])
def test_person_lookup_by_each_identifier(desk: Desk, kind: str, value: str) -> None:
    answer = desk.call("bizh110001", bka895=kind, bka896=value, bka006="410")
    person = answer["personinfo"][0]
    assert (person["aac001"], person["aac003"], person["bka888"]) == (VALID, "测试甲", "0")
    assert answer["injuryorbirthinfo"][0]["bka042"] == person["bka042"]
    assert answer["freezeinfo"][0]["aaa157"] == "501"


@pytest.mark.parametrize("fid", ["bizh110001", "bizh120001"])
def test_person_lookups_take_a_person_identifier_only(desk: Desk, fid: str) -> None:
    """aaz218 / bka025 name a business: they are for bizh110102 / bizh120102 (D31)."""
    visit = desk.register(aac001=SPARE)
    for kind in ("aaz218", "bka025"):
        with pytest.raises(InputError, match=f"bka895 入参类型: '{kind}' is not in the code list"):
            desk.call(fid, bka895=kind, bka896=visit, bka006="410", aka130="41")
    assert desk.call("bizh110102", bka895="aaz218", bka896=visit, bka006="410")["bizinfo"]


def test_inpatient_lookup_answers_personinfo_only(desk: Desk) -> None:
    answer = desk.call("bizh120001", bka895="aac001", bka896=VALID_2, aka130="42", bka006="420")
    assert set(answer) == {"return_code", "return_code_message", "personinfo"}
    assert answer["personinfo"][0]["bka006"] == "420"


@pytest.mark.parametrize("fid", ["bizh110001", "bizh120001"])
def test_unknown_person_is_refused(desk: Desk, fid: str) -> None:
    refusal = desk.refused(fid, bka895="aac002", bka896="44190019900101999X", bka006="410", aka130="42")
    assert "bka896 入参值" in refusal.message and "aac002 社会保障号码" in refusal.message


@pytest.mark.parametrize(("aac001", "bka888"), [(FROZEN, "1"), (NOT_INSURED, "9")])
def test_frozen_and_uninsured_persons_are_found_with_their_fund_status(
        desk: Desk, aac001: str, bka888: str) -> None:
    answer = desk.call("bizh110001", bka895="aac001", bka896=aac001, bka006="410")
    assert answer["personinfo"][0]["bka888"] == bka888
    if bka888 == "9":
        assert "injuryorbirthinfo" not in answer and "freezeinfo" not in answer


@pytest.mark.parametrize(("aac001", "words"), [(FROZEN, "冻结"), (NOT_INSURED, "未参保")])
def test_frozen_and_uninsured_persons_cannot_register_or_be_admitted(
        desk: Desk, aac001: str, words: str) -> None:
    for fid, extra in (("bizh110104", {"aka130": "41", "bka006": "410"}),
                       ("bizh120103", {"aka130": "42", "bka006": "420"})):
        refusal = desk.refused(fid, aac001=aac001, bka017="20190508", bka014="T", bka015="测试",
                               bka026="S62.001", **extra)
        assert "bka888 个人基金状态" in refusal.message and words in refusal.message


def test_registration_of_an_unknown_person_is_refused(desk: Desk) -> None:
    refusal = desk.refused("bizh110104", aac001="999", aka130="41", bka006="410", bka017="20190508",
                           bka014="T", bka015="测试", bka026="S62.001")
    assert "aac001 电脑号" in refusal.message


# ============================================================================ outpatient


def test_registration_with_fees_is_only_a_trial(desk: Desk) -> None:
    answer = desk.call("bizh110104", aac001=VALID, aka130="41", bka006="410", bka017="20190508",
                       bka014="T", bka015="测试", bka026="S62.001", feeinfo=[DRUG, SELF_PAY])
    visit = answer["aaz218"]
    assert len(visit) == 20
    payinfo = answer["payinfo"][0]
    assert "bka001" not in payinfo and payinfo["aaz218"] == visit
    assert (payinfo["akc264"], payinfo["bka831"], payinfo["bka832"]) == ("72.50", "60.00", "12.50")
    assert desk.province.stage_of(visit) == "registered"
    assert desk.province.snapshot()["visits"][visit]["batches"] == []


def test_trial_saves_nothing_and_commits_number_batches(desk: Desk) -> None:
    visit = desk.register()
    before = desk.province.snapshot()
    trial = desk.charge(visit, [DRUG], commit=False)
    assert "bka001" not in trial and desk.province.snapshot() == before
    first, second = desk.charge(visit, [DRUG, BED]), desk.charge(visit, [SELF_PAY])
    assert (first["bka001"], second["bka001"]) == ("1", "2")
    assert (first["aaz218"], first["akc264"], second["akc264"]) == (visit, "102.50", "60.00")
    assert_identities(first)
    assert desk.province.stage_of(visit) == "charged"


def test_find_registered_visits_by_person_skips_cancelled(desk: Desk) -> None:
    kept, cancelled = desk.register(aac001=SPARE), desk.register(aac001=SPARE)
    desk.call("bizh110106", aaz218=cancelled, bka014="T", bka015="测试")
    rows = desk.call("bizh110102", bka895="aac002", bka896="44190019900101006X", bka006="410")["bizinfo"]
    assert [row["aaz218"] for row in rows] == [kept]
    assert rows[0]["bka891"] == "0" and rows[0]["akb021"] == "测试医院一"


def test_refund_round_trip_and_no_second_refund(desk: Desk) -> None:
    visit = desk.register()
    desk.charge(visit, [DRUG, SELF_PAY])
    fetched = desk.call("bizh110103", bka895="aaz218", bka896=visit, bka006="410", bka001="1")
    rows = fetched["feeinfo"]
    assert [r["bka058"] for r in rows] == ["-12.50", "-60.00"] and all(r["aaz213"] for r in rows)
    assert fetched["bizinfo"][0]["aaz218"] == visit and fetched["bizinfo"][0]["bka891"] == "1"
    trial = desk.charge(visit, rows, commit=False)
    assert trial["akc264"] == "-72.50" and "bka001" not in trial
    refund = desk.charge(visit, rows)
    assert (refund["bka001"], refund["akc264"], refund["bka831"]) == ("2", "-72.50", "-60.00")
    assert_identities(refund)
    again = desk.refused("bizh110103", bka895="aaz218", bka896=visit, bka006="410", bka001="1")
    assert (again.code, again.message) == ("-1", "已经办理过退费，不能重复退费")
    assert "不能重复退费" in desk.refused("bizh110105", aaz218=visit, bka014="T", bka015="测试",
                                      bka893="1", feeinfo=rows).message
    assert "itself a refund" in desk.refused("bizh110103", bka895="aaz218", bka896=visit, bka006="410",
                                             bka001="2").message


def refund_rows(desk: Desk, visit: str, batch: str = "1") -> list[dict[str, str]]:
    rows = desk.call("bizh110103", bka895="aaz218", bka896=visit, bka006="410", bka001=batch)["feeinfo"]
    return [dict(r) for r in rows]


def test_refund_must_reverse_the_whole_batch_exactly(desk: Desk) -> None:
    visit = desk.register()
    desk.charge(visit, [DRUG, BED])
    rows = refund_rows(desk, visit)

    def refuse(feeinfo: list[dict[str, str]]) -> str:
        return desk.refused("bizh110105", aaz218=visit, bka014="T", bka015="测试", bka893="1",
                            feeinfo=feeinfo).message

    assert "whole batch" in refuse(rows[:1])
    assert "negated" in refuse([{**rows[0], "bka057": "-2.00", "bka058": "-6.25"}, rows[1]])
    assert "aaz213 费用序号" in refuse([{k: v for k, v in rows[0].items() if k != "aaz213"}, rows[1]])
    assert "not a charged row" in refuse([{**rows[0], "aaz213": "42"}, rows[1]])
    assert "twice" in refuse([rows[0], rows[0], rows[1]])
    assert "mixes" in refuse([rows[0], DRUG])
    assert desk.province.stage_of(visit) == "charged"


def test_refund_of_all_batches_with_batch_zero(desk: Desk) -> None:
    visit = desk.register()
    desk.charge(visit, [DRUG])
    desk.charge(visit, [BED])
    rows = refund_rows(desk, visit, batch="0")
    assert len(rows) == 2
    assert desk.charge(visit, rows)["akc264"] == "-102.50"
    assert desk.province.stage_of(visit) == "registered"


def test_cancel_registration_only_without_unrefunded_charges(desk: Desk) -> None:
    visit = desk.register()
    desk.charge(visit, [DRUG])
    refusal = desk.refused("bizh110106", aaz218=visit, bka014="T", bka015="测试")
    assert "charged" in refusal.message and "取消门诊挂号" in refusal.message
    desk.charge(visit, refund_rows(desk, visit))
    desk.call("bizh110106", aaz218=visit, bka014="T", bka015="测试")
    assert desk.province.stage_of(visit) == "cancelled"
    assert "cancelled" in desk.refused("bizh110105", aaz218=visit, bka014="T", bka015="测试",
                                       bka893="1", feeinfo=[DRUG]).message


def test_cancel_guard_holds_even_after_a_jump(desk: Desk) -> None:
    visit = desk.register()
    desk.charge(visit, [DRUG])
    desk.province.jump(visit, "registered")
    assert "un-refunded" in desk.refused("bizh110106", aaz218=visit, bka014="T", bka015="测试").message


def test_unknown_or_foreign_visit_is_refused(desk: Desk) -> None:
    other = Desk(desk.province, OTHER_USERID, OTHER_PASSWORD)
    visit = other.register(aac001=SPARE)
    for aaz218 in ("00000000000000000000", visit):
        refusal = desk.refused("bizh110105", aaz218=aaz218, bka014="T", bka015="测试", bka893="0",
                               feeinfo=[DRUG])
        assert "aaz218 就医登记号" in refusal.message


# ============================================================================ inpatient


def test_admission_fees_discharge_settlement_and_back(desk: Desk) -> None:
    stay = desk.admit()
    assert len(stay) == 20 and desk.province.stage_of(stay) == "admitted"
    desk.add_fees(stay, [DRUG, BED, SELF_PAY])
    pre = desk.call("bizh120003", aaz218=stay, bka438="1")
    at_discharge = desk.discharge(stay)
    settled = desk.settle(stay)
    for answer in (pre, at_discharge, settled):
        assert (answer["akc264"], answer["bka831"], answer["bka832"]) == ("162.50", "60.00", "102.50")
        assert_identities(answer)
    assert at_discharge["bka031"] == "S62.501" and desk.province.stage_of(stay) == "settled"
    for fid, stage in (("bizh120107", "discharge_registered"), ("bizh120108", "admitted"),
                       ("bizh120109", "cancelled")):
        desk.call(fid, aaz218=stay)
        assert desk.province.stage_of(stay) == stage


def stage_requests(stay: str) -> dict[str, dict[str, Any]]:
    """A valid request for every stage-ruled inpatient function, for the given stay."""
    requests: dict[str, dict[str, Any]] = {
        "bizh120104": {"bka021": "W09"},
        "bizh120002": {"feeinfo": [DRUG]},
        "bizh120004": {},
        "bizh120105": {"bka032": "20190520", "bka033": "T", "bka034": "测试", "bka031": "S62.501",
                       "bka006": "420"},
        "bizh120106": {"bka046": "T", "bka047": "测试"},
        "bizh120107": {}, "bizh120108": {}, "bizh120109": {},
    }
    for fid in ("bizh200101", "bizh200102", "bizh200103", "bizh200104", "bizh200105", "bizh200106"):
        requests[fid] = {k: v for k, v in EXAMPLES[fid][0]["request"].items() if k != "akb020"}
    return {fid: {**values, "aaz218": stay} for fid, values in requests.items()}


def _ruled(machine: str) -> list[str]:
    """The functions of a machine whose stage rule the province enforces (all but its opener)."""
    return sorted(fid for fid, meta in FUNCTIONS.items()
                  if meta.stage and meta.stage.machine == machine and not meta.opens)


def _stages_after_opening(machine: str) -> tuple[str, ...]:
    return tuple(name for name, _ in STAGE_MACHINES[machine].stages if name != STAGE_MACHINES[machine].initial)


INPATIENT_RULED = _ruled("inpatient")
INPATIENT_STAGES = _stages_after_opening("inpatient")


@pytest.mark.parametrize("fid", INPATIENT_RULED)
def test_inpatient_stage_rules_each_way(desk: Desk, fid: str) -> None:
    """Every stage-ruled function in every stage: allowed exactly where the registry says."""
    rule = FUNCTIONS[fid].stage
    assert rule is not None
    for stage in INPATIENT_STAGES:
        stay = desk.admit(aac001=SPARE)
        desk.province.jump(stay, stage)
        values = stage_requests(stay)[fid]
        if stage in rule.requires:
            desk.call(fid, **values)
            assert desk.province.stage_of(stay) == (rule.leads_to or stage)
        else:
            refusal = desk.refused(fid, **values)
            assert stage in refusal.message and FUNCTIONS[fid].name in refusal.message
            assert desk.province.stage_of(stay) == stage
        desk.province.jump(stay, "cancelled")  # free the person for the next round


OUTPATIENT_RULED = _ruled("outpatient")


@pytest.mark.parametrize("fid", OUTPATIENT_RULED)
def test_outpatient_stage_rules_each_way(desk: Desk, fid: str) -> None:
    rule = FUNCTIONS[fid].stage
    assert rule is not None
    for stage in _stages_after_opening("outpatient"):
        visit = desk.register()
        desk.province.jump(visit, stage)
        values: dict[str, Any] = {"aaz218": visit, "bka014": "T", "bka015": "测试"}
        if fid == "bizh110105":
            values.update(bka893="1", feeinfo=[DRUG])
        if stage in rule.requires:
            desk.call(fid, **values)
        else:
            assert stage in desk.refused(fid, **values).message


def test_a_stay_is_never_settled_twice(desk: Desk) -> None:
    stay = desk.admit()
    desk.discharge(stay)
    desk.settle(stay)
    refusal = desk.refused("bizh120106", aaz218=stay, bka046="T", bka047="测试")
    assert "settled 已出院结算" in refusal.message and "出院结算" in refusal.message


def test_cancellations_go_strictly_backwards(desk: Desk) -> None:
    stay = desk.admit()
    desk.discharge(stay)
    desk.settle(stay)
    assert "settled" in desk.refused("bizh120108", aaz218=stay).message
    assert "settled" in desk.refused("bizh120109", aaz218=stay).message
    desk.call("bizh120107", aaz218=stay)
    assert "discharge_registered" in desk.refused("bizh120109", aaz218=stay).message
    assert "discharge_registered" in desk.refused("bizh120107", aaz218=stay).message


def test_compensation_pairs_in_the_registry_are_the_ones_implemented() -> None:
    pairs = {fid: meta.compensation for fid, meta in FUNCTIONS.items() if meta.compensation}
    assert pairs == {"bizh110104": "bizh110106", "bizh120103": "bizh120109", "bizh120002": "bizh120004",
                     "bizh120105": "bizh120108", "bizh120106": "bizh120107"}


def test_mutual_exclusion_across_institutions(desk: Desk) -> None:
    other = Desk(desk.province, OTHER_USERID, OTHER_PASSWORD)
    refusal = desk.refused("bizh120103", aac001=ELSEWHERE, aka130="42", bka006="420", bka017="20190508",
                           bka014="T", bka015="测试", bka026="S62.501")
    assert "业务互斥" in refusal.message and "测试医院二" in refusal.message
    seeded = other.call("bizh120102", bka895="aac001", bka896=ELSEWHERE, aka130="42")["bizinfo"]
    other.call("bizh120109", aaz218=seeded[0]["aaz218"])
    stay = desk.admit(aac001=ELSEWHERE)
    assert "测试医院一" in other.refused("bizh120103", aac001=ELSEWHERE, aka130="42", bka006="420",
                                    bka017="20190508", bka014="T", bka015="测试",
                                    bka026="S62.501").message
    assert "业务互斥" in desk.refused("bizh120103", aac001=ELSEWHERE, aka130="42", bka006="420",
                                   bka017="20190508", bka014="T", bka015="测试", bka026="S62.501").message
    desk.discharge(stay)
    assert "业务互斥" in other.refused("bizh120103", aac001=ELSEWHERE, aka130="42", bka006="420",
                                    bka017="20190601", bka014="T", bka015="测试", bka026="S62.501").message
    desk.settle(stay)
    other.admit(aac001=ELSEWHERE)


def test_modification_changes_only_ward_department_number_and_bed(desk: Desk) -> None:
    stay = desk.admit()
    desk.call("bizh120104", aaz218=stay, bka021="W05", bka022="外科二病区", bka019="0302",
              bka020="手外科", bka025="ZY0002", bka023="07", bka503="D0009")
    admission = desk.province.snapshot()["stays"][stay]["admission"]
    assert (admission["bka021"], admission["bka020"], admission["bka025"], admission["bka023"]) == (
        "W05", "手外科", "ZY0002", "07")
    assert "bka503" not in admission


def test_fee_row_cap_is_enforced(desk: Desk) -> None:
    stay = desk.admit()
    cap = SPEC.fee_rows_per_call
    desk.add_fees(stay, [DRUG] * cap)
    # One row too many never passes the request model; the mock checks again on its own.
    refusal = desk.refused("bizh120002", aaz218=stay, feeinfo=[DRUG] * (cap + 1))
    assert f"at most {cap}" in refusal.message
    assert len(desk.province.snapshot()["stays"][stay]["fees"]) == cap


def test_fee_rows_are_checked_and_get_server_serials(desk: Desk) -> None:
    stay = desk.admit()
    assert "bka058 金额" in desk.refused("bizh120002", aaz218=stay,
                                       feeinfo=[{**DRUG, "bka058": "13.00"}]).message
    assert "bka056 单价" in desk.refused("bizh120002", aaz218=stay,
                                       feeinfo=[{**DRUG, "bka056": "-3.1250", "bka057": "-4.00"}]).message
    assert "费用参数集不允许为空" in desk.refused("bizh120002", aaz218=stay, feeinfo=[]).message
    desk.add_fees(stay, [{**DRUG, "aaz213": "1"}, {**BED, "aaz213": "2"}])
    desk.add_fees(stay, [fee("XY0001", "3.1250", "-2.00")])  # 冲减 part of the drug
    assert "退费金额超过" in desk.refused("bizh120002", aaz218=stay,
                                     feeinfo=[fee("XY0001", "3.1250", "-4.00")]).message
    fees = desk.province.snapshot()["stays"][stay]["fees"]
    serials = [row["aaz213"] for row in fees]
    assert len(set(serials)) == 3 and "1" not in serials
    assert desk.call("bizh120003", aaz218=stay, bka438="1")["akc264"] == "96.25"


def test_delete_all_fees_and_presettlement_changes_nothing(desk: Desk) -> None:
    stay = desk.admit()
    desk.add_fees(stay, [DRUG, BED])
    before = desk.province.snapshot()
    desk.call("bizh120003", aaz218=stay, bka438="1")
    assert desk.province.snapshot() == before
    desk.call("bizh120004", aaz218=stay)
    assert desk.call("bizh120003", aaz218=stay, bka438="2")["akc264"] == "0.00"


def test_presettlement_of_a_cancelled_stay_is_refused(desk: Desk) -> None:
    stay = desk.admit()
    desk.call("bizh120109", aaz218=stay)
    assert "cancelled" in desk.refused("bizh120003", aaz218=stay, bka438="1").message


def test_discharge_before_admission_is_refused(desk: Desk) -> None:
    stay = desk.admit()
    refusal = desk.refused("bizh120105", aaz218=stay, bka032="20190501", bka033="T", bka034="测试",
                           bka031="S62.501", bka006="420")
    assert "bka032 出院日期" in refusal.message


def test_inpatient_business_lookup_and_filters(desk: Desk) -> None:
    settled, open_stay = desk.admit(), desk.admit(aac001=SPARE, bka017="20190601", bka025="ZY0009")
    desk.discharge(settled)
    desk.settle(settled)

    def found(**values: Any) -> list[str]:
        rows = desk.call("bizh120102", aka130="42", **values).get("bizinfo", [])
        return [row["aaz218"] for row in rows]

    assert found(bka895="bka025", bka896="ZY0009") == [open_stay]
    assert found(bka895="aac001", bka896=VALID_2, bka891="1") == [settled]
    assert found(bka895="aac001", bka896=VALID_2, bka891="0") == []
    assert found(bka895="aac001", bka896=SPARE, aae030="20190501", aae031="20190531") == []
    row = desk.call("bizh120102", aka130="42", bka895="aaz218", bka896=settled)["bizinfo"][0]
    assert (row["bka891"], row["bka039"], row["bka030"], row["bka045"]) == ("1", "1", "12", "20190508")
    assert "aaz218 就医登记号" in desk.refused("bizh120102", aka130="42", bka895="aaz218",
                                            bka896="00000000000000000000").message


def test_settlement_sheet_adds_up(desk: Desk) -> None:
    stay = desk.admit()
    desk.add_fees(stay, [DRUG, BED, SELF_PAY, fee("X0001", "3.1250", "2.00")])
    assert "settled" in desk.refused("bizh120206", aaz218=stay).message
    desk.discharge(stay)
    settled = desk.settle(stay)
    sheet = desk.call("bizh120206", aaz218=stay)
    assert (sheet["bka979"], sheet["bka811"], sheet["bka812"]) == (
        settled["akc264"], settled["bka832"], settled["bka831"])
    rows = sheet["fundList"]
    total = rows[-1]
    assert total["bka800"] == "合计"
    for column in ("bka801_1", "bka801_2", "bka801_7"):
        assert sum(Decimal(r[column]) for r in rows[:-1]) == Decimal(total[column])
    for row in rows:
        assert sum(Decimal(row[f"bka801_{n}"]) for n in range(1, 7)) == Decimal(row["bka801_7"])
    assert (total["bka801_7"], total["bka801_1"]) == (sheet["bka979"], sheet["bka812"])
    assert [r["bka800"] for r in rows[:-1]] == ["西药费", "床位费", "其他费用"]
    assert (sheet["bka030"], sheet["bka890"], sheet["bka814"]) == ("12", "2019 年05 月08 日", "108.75")


@pytest.mark.parametrize("operate", ["0", "1", "2", None])
def test_fee_list_groupings_add_up(desk: Desk, operate: str | None) -> None:
    stay = desk.admit()
    desk.add_fees(stay, [DRUG, DRUG, BED, SELF_PAY])
    values = {"aaz218": stay, **({"operate": operate} if operate else {})}
    rows = desk.call("bizh120113", **values)["list"]
    assert sum(Decimal(r["money"]) for r in rows) == Decimal("175.00")
    assert len(rows) == {"0": 3, "1": 3, "2": 4, None: 4}[operate]
    assert all(r["aac003"] == "测试乙" and r["aaz218"] == stay for r in rows)
    self_pay = [r for r in rows if r["aka063"] == "99"]
    if operate != "0":
        assert self_pay[0]["pay_first"] == "1" and self_pay[0]["ake002"] == "测试自费营养品"


def test_medical_records_are_kept_per_stay(desk: Desk) -> None:
    stay = desk.admit()
    request = stage_requests(stay)["bizh200106"]
    desk.call("bizh200106", **request)  # any time after admission (D31)
    desk.discharge(stay)
    desk.call("bizh200106", **{**request, "yzy305": "第二次上传"})
    records = desk.province.snapshot()["stays"][stay]["records"]
    assert records["bizh200106"]["yzy305"] == "第二次上传"


# ============================================================================ other functions


def test_code_tables(desk: Desk) -> None:
    everything = desk.call("bizh120205")["codeinfo"]
    assert len(everything) == sum(len(meta.values) for meta in CODE_LISTS.values())
    rows = desk.call("bizh120205", aaa100="BKA006")["codeinfo"]
    assert [(r["aaa102"], r["aaa103"]) for r in rows] == list(CODE_LISTS["bka006"].values)
    assert all(r["aaa101"] == "医疗待遇类型" for r in rows)
    assert len(desk.call("bizh120205", aaa100="bka006", aaa102="420")["codeinfo"]) == 1
    assert "aaa100 代码类别" in desk.refused("bizh120205", aaa100="nope").message


def test_accumulated_totals_follow_settlements(desk: Desk, clock: Clock) -> None:
    def totals(**values: Any) -> dict[str, str]:
        rows = desk.call("bizh410004", aac001=VALID_2, **values).get("totalinfo", [])
        return {row["aka036"]: row["ake053"] for row in rows}

    assert totals()["工伤保险基金支付累计"] == "0.00"
    stay = desk.admit()
    desk.add_fees(stay, [DRUG, SELF_PAY])
    desk.discharge(stay)
    desk.settle(stay)
    visit = desk.register(aac001=VALID_2)
    desk.charge(visit, [BED])
    assert totals(aae001="2019") == {"医疗总费用累计": "162.50", "工伤保险基金支付累计": "102.50",
                                     "个人自付累计": "60.00"}
    assert totals(aae001="2018")["医疗总费用累计"] == "0.00"
    assert totals(aae140="310") == {}
    desk.call("bizh120107", aaz218=stay)
    assert totals()["医疗总费用累计"] == "90.00"


def test_fund_status_by_month(desk: Desk) -> None:
    rows = desk.call("bizh410005", aac001=FROZEN, bka977="1", aae030="20190101",
                     aae031="20190531")["freezeinfo"]
    assert [(r["aae003"], r["bka888"]) for r in rows] == [(f"2019{m:02d}", "1") for m in range(1, 6)]
    single = desk.call("bizh410005", aac001=VALID)["freezeinfo"]
    assert [(r["aae003"], r["bka888"]) for r in single] == [("201905", "0")]
    assert desk.call("bizh410005", aac001=NOT_INSURED)["freezeinfo"][0]["bka888"] == "9"
    assert "aae031 结束日期" in desk.refused("bizh410005", aac001=VALID, aae030="20190501",
                                           aae031="20190101").message
    assert "aac001 电脑号" in desk.refused("bizh410005", aac001="42").message


# ============================================================================ arithmetic


ROW_STRATEGY = st.builds(
    lambda code, cents, quantity: fee(code, f"{Decimal(cents) / 100:.4f}", f"{quantity}.00"),
    st.sampled_from(["XY0001", "CW0001", "ZF0001", "ZF0002", "SS0001", "UNKNOWN1"]),
    st.integers(min_value=0, max_value=500_000),
    st.integers(min_value=0, max_value=50),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW_STRATEGY, min_size=1, max_size=40))
def test_settlement_identities_and_totals_equal_uploaded_fees(rows: list[dict[str, str]]) -> None:
    desk = Desk(MockProvince(clock=Clock(datetime(2019, 5, 8, 10, 0))))
    uploaded = sum(Decimal(r["bka058"]) for r in rows)
    self_pay = sum(Decimal(r["bka058"]) for r in rows if r["ake005"].startswith("ZF"))
    stay = desk.admit()
    desk.add_fees(stay, rows)
    desk.discharge(stay)
    settled = desk.settle(stay)
    assert_identities(settled)
    assert (Decimal(settled["akc264"]), Decimal(settled["bka831"])) == (uploaded, self_pay)
    visit = desk.register()
    payinfo = desk.charge(visit, rows)
    assert_identities(payinfo)
    assert Decimal(payinfo["akc264"]) == uploaded
    refund = desk.charge(visit, refund_rows(desk, visit))
    assert_identities(refund)
    assert Decimal(refund["akc264"]) == -uploaded


# ============================================================================ concurrency


def test_parallel_fee_uploads_lose_no_rows(desk: Desk) -> None:
    stay = desk.admit()
    threads_count, calls, per_call = 8, 10, 5
    errors: list[BaseException] = []

    def upload(worker: int) -> None:
        try:
            for n in range(calls):
                rows = [fee("XY0001", "1.0000", f"{worker + 1}.00", f"线程{worker}-{n}-{i}") for i in range(per_call)]
                desk.province.handle("bizh120002", {"akb020": H1, "aaz218": stay, "feeinfo": rows}, akb020=H1)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(w,)) for w in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    fees = desk.province.snapshot()["stays"][stay]["fees"]
    assert len(fees) == threads_count * calls * per_call
    assert len({row["aaz213"] for row in fees}) == len(fees)
    expected = sum((w + 1) * calls * per_call for w in range(threads_count))
    assert desk.call("bizh120003", aaz218=stay, bka438="1")["akc264"] == f"{expected}.00"


# ============================================================================ persistence


def test_state_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "mock.sqlite"
    first = MockProvince(clock=clock, persist_path=path)
    desk = Desk(first)
    stay = desk.admit()
    desk.add_fees(stay, [DRUG, BED])
    desk.discharge(stay)
    visit = desk.register()
    desk.charge(visit, [DRUG])
    before = first.snapshot()

    second = MockProvince(clock=clock, persist_path=path)
    assert second.snapshot() == before
    assert (second.stage_of(stay), second.stage_of(visit)) == ("discharge_registered", "charged")
    assert second.session_institution(desk.session) == H1
    again = Desk(second)
    assert again.settle(stay)["akc264"] == "102.50"
    assert again.charge(visit, [BED])["bka001"] == "2"
    assert MockProvince(clock=clock, persist_path=path).stage_of(stay) == "settled"


def test_reset_goes_back_to_the_seed(desk: Desk) -> None:
    seeded = set(desk.province.snapshot()["stays"])
    desk.admit()
    desk.register()
    desk.province.reset()
    snapshot = desk.province.snapshot()
    assert snapshot["visits"] == {} and snapshot["sessions"] == {}
    assert len(snapshot["stays"]) == len(seeded) == 1


def test_jump_validates_its_arguments(desk: Desk) -> None:
    stay = desk.admit()
    with pytest.raises(Refusal, match="not a stage of the inpatient machine"):
        desk.province.jump(stay, "charged")
    with pytest.raises(Refusal, match="aaz218"):
        desk.province.jump("nope", "settled")
    desk.add_fees(stay, [DRUG])
    desk.province.jump(stay, "settled")
    assert desk.call("bizh120206", aaz218=stay)["bka979"] == "12.50"
    assert desk.province.stage_of("nope") is None


# ============================================================================ seeds


def test_default_seed_is_synthetic_and_covers_every_status() -> None:
    seed = default_seed()
    assert {p.status for p in seed.persons} == {"valid", "frozen", "not_insured", "in_hospital_elsewhere"}
    assert all(p.aac003.startswith("测试") for p in seed.persons)
    assert {(u.userid, u.akb020) for u in seed.users} == {("ss0028", H1), ("ss0029", H2)}
    assert any(item.self_pay for item in seed.catalogue.values())
    text = seed_as_text(seed)
    assert "测试医院一" in text and "ss0028" in text and "ZF0001" in text and "in_hospital_elsewhere" in text


SEED_YAML = """
institutions: {H44000000009: 测试医院九}
users:
  - {userid: u9, password: p9, akb020: H44000000009}
persons:
  - {aac001: 900001, aac002: "44000019800101009X", aac003: 测试九, aac004: "1", aac006: 19800101,
     status: valid, bka042: "900001"}
catalogue:
  ZF0009: {name: 测试自费九, price: 9.5, self_pay: true}
"""


def test_custom_seed_file_yaml_and_json(tmp_path: Path) -> None:
    yaml_path = tmp_path / "seed.yaml"
    yaml_path.write_text(SEED_YAML, encoding="utf-8")
    seed = load_seed(yaml_path)
    assert seed.persons[0].aac001 == "900001" and seed.persons[0].aac006 == "19800101"
    assert seed.catalogue["ZF0009"].price == Decimal("9.5")
    json_path = tmp_path / "seed.json"
    json_path.write_text(json.dumps({
        "institutions": seed.institutions,
        "users": [{"userid": "u9", "password": "p9", "akb020": "H44000000009"}],
        "persons": [{"aac001": "900001", "aac002": "44000019800101009X", "aac003": "测试九", "aac004": "1",
                     "aac006": "19800101", "status": "valid"}],
    }, ensure_ascii=False), encoding="utf-8")
    assert load_seed(json_path).persons[0].aac003 == "测试九"
    desk = Desk(MockProvince(seed), "u9", "p9")
    stay = desk.admit(aac001="900001")
    desk.add_fees(stay, [fee("ZF0009", "9.5000", "2.00")])
    assert desk.call("bizh120003", aaz218=stay, bka438="1")["bka831"] == "19.00"


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["persons"][0].update(status="dead"), "persons[0].status"),
    (lambda d: d["persons"][0].pop("aac003"), "persons[0]: missing aac003"),
    (lambda d: d["persons"][0].update(colour="red"), "unknown key(s) colour"),
    (lambda d: d["users"][0].update(akb020="H1"), "users[0].akb020"),
    (lambda d: d["persons"][0].update(status="in_hospital_elsewhere"), "persons[0].admitted_at"),
    (lambda d: d["persons"].append(dict(d["persons"][0])), "aac001 900001 appears twice"),
    (lambda d: d["catalogue"]["ZF0009"].update(price="abc"), "catalogue.ZF0009.price"),
    (lambda d: d.update(users="none"), "users: expected a list"),
])
def test_seed_file_errors_name_the_entry(tmp_path: Path, change: Any, message: str) -> None:
    import yaml

    data = yaml.safe_load(SEED_YAML)
    change(data)
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SeedError) as caught:
        load_seed(path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_seed_file_that_is_missing_or_broken(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read"):
        load_seed(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(SeedError, match="not valid json"):
        load_seed(broken)


def test_snapshot_is_a_copy(desk: Desk) -> None:
    snapshot = desk.province.snapshot()
    mutated = copy.deepcopy(snapshot)
    mutated["stays"].clear()
    assert desk.province.snapshot() == snapshot
    json.dumps(snapshot)
    assert datetime.fromisoformat(next(iter(snapshot["sessions"].values()))["expires_at"]) - \
        datetime(2019, 5, 9, tzinfo=timezone(timedelta(hours=8))) == timedelta(0)
