"""Per-city policy (spec/cities.yaml), both ways, end to end: the HIS layer and the mock province
follow the same profile.

huizhou (the default) offers bizh120004 and later-month cancellation; refund_only offers neither, so
fees are taken back with refund rows (冲减) and a settlement is cancelled in its own month only.
Each test runs a fresh mock in process (the XML wire through the real Client) with a clock the test
moves, so "a later month" is a real date change on both sides.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from test_his_workflows import A_DISCHARGE, OPERATOR, a_stay, fees, total_of
from typer.testing import CliRunner

from adapter.cli import app as cli_app
from adapter.errors import BusinessError
from adapter.his import InpatientService
from adapter.his.errors import FeeUploadFailed, HisWorkflowError
from adapter.his.offsets import refund_rows
from adapter.mock.app import RequestLog, context_of, create_app
from adapter.mock.faults import FaultPlan
from adapter.mock.inprocess import InProcessTransport
from adapter.mock.province import MockProvince
from adapter.mock.seed import SeedError, load_seed
from adapter.wire.client import Client
from adapter.wire.config import ConfigError, Settings
from adapter.wire.session import BEIJING
from codegen.load import SpecError, load_spec
from generated.cities import CITIES, DEFAULT_CITY

USERID, PASSWORD, AKB020 = "ss0028", "mock-pass-1", "H44190000001"
ROOT = Path(__file__).resolve().parent.parent
BOTH = pytest.mark.parametrize("city", ["huizhou", "refund_only"])


class Clock:
    """Beijing wall time shared by the mock and the HIS layer; tests move it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 6, 29, 10, 0, tzinfo=BEIJING)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Hospital:
    client: Client
    province: MockProvince
    faults: FaultPlan
    requests: RequestLog
    clock: Clock

    @property
    def inpatient(self) -> InpatientService:
        return InpatientService(self.client, clock=self.clock)  # the city comes from the settings

    def sent(self, *function_ids: str) -> list[str]:
        return [str(r.function_id) for r in self.requests.records() if r.function_id in function_ids]

    def fees_held(self, visit_no: str) -> Decimal:
        """What the province's books hold for the stay, net (its own state, not an answer)."""
        stay = self.province.snapshot()["stays"][visit_no]
        return sum((Decimal(row["bka058"]) for row in stay["fees"]), Decimal(0))


@contextmanager
def open_hospital(city: str, tmp_path: Path) -> Iterator[Hospital]:
    """A fresh mock province following `city`, and a client whose settings name the same city."""
    clock = Clock()
    app = create_app(MockProvince(clock=clock, city=city))
    context = context_of(app)
    assert isinstance(context.province, MockProvince)
    settings = Settings(base_url="http://127.0.0.1:9", userid=USERID, password=PASSWORD, akb020=AKB020,
                        journal_path=str(tmp_path / "journal.sqlite"), city=city)
    with Client(settings, http_transport=InProcessTransport(app)) as client:
        yield Hospital(client, context.province, context.faults, context.requests, clock)


@pytest.fixture
def hospital(city: str, tmp_path: Path) -> Iterator[Hospital]:
    with open_hospital(city, tmp_path) as opened:
        yield opened


def _admitted(hospital: Hospital) -> str:
    stay = a_stay()
    return hospital.inpatient.admit(stay, OPERATOR).visit_no


# --------------------------------------------------------------------------- the profiles


def test_the_default_is_the_seed_hospitals_city_and_settings_refuse_an_unknown_one() -> None:
    assert DEFAULT_CITY == "huizhou" and CITIES["huizhou"].fee_deletion
    assert not CITIES["refund_only"].fee_deletion and not CITIES["refund_only"].cross_month_cancel
    settings = Settings(base_url="http://x", userid="u", password="p", akb020="H1")
    assert settings.city == "huizhou"
    with pytest.raises(ConfigError, match="GDWI_CITY: 'atlantis' is not a city profile"):
        Settings.from_env({"GDWI_BASE_URL": "http://x", "GDWI_USERID": "u", "GDWI_PASSWORD": "p",
                           "GDWI_AKB020": "H1", "GDWI_CITY": "atlantis"})


def test_the_spec_loader_refuses_a_default_that_is_not_listed(tmp_path: Path) -> None:
    import shutil

    spec = tmp_path / "spec"
    shutil.copytree(ROOT / "spec", spec)
    text = (spec / "cities.yaml").read_text(encoding="utf-8")
    (spec / "cities.yaml").write_text(text.replace("default: huizhou", "default: atlantis"), encoding="utf-8")
    with pytest.raises(SpecError, match="default: 'atlantis' is not one of the cities"):
        load_spec(spec)


def test_refund_rows_negate_quantity_and_amount_only() -> None:
    saved = [{"ake005": "XY0001", "bka056": "3.1250", "bka057": "4.00", "bka058": "12.50"},
             {"ake005": "ZF0001", "bka056": "0.0000", "bka057": "1.00", "bka058": "0.00"}]
    assert refund_rows(saved) == [
        {"ake005": "XY0001", "bka056": "3.1250", "bka057": "-4.00", "bka058": "-12.50"},
        {"ake005": "ZF0001", "bka056": "0.0000", "bka057": "-1.00", "bka058": "0.00"},
    ]


def test_seed_file_and_cli_choose_the_city(tmp_path: Path) -> None:
    path = tmp_path / "seed.yaml"
    base = ("institutions: {H44190000001: 测试医院一}\n"
            "users: [{userid: ss0028, password: mock-pass-1, akb020: H44190000001}]\npersons: []\n")
    path.write_text(base + "city: refund_only\n", encoding="utf-8")
    assert MockProvince(load_seed(path)).city.key == "refund_only"
    assert MockProvince(load_seed(path), city="zhongshan").city.key == "zhongshan"
    path.write_text(base + "city: atlantis\n", encoding="utf-8")
    with pytest.raises(SeedError, match="city: 'atlantis' is not a city profile"):
        load_seed(path)
    result = CliRunner().invoke(cli_app, ["mock", "serve", "--city", "atlantis"])
    assert result.exit_code == 2 and "--city: 'atlantis' is not one of" in result.output


# --------------------------------------------------------------------------- the mock enforces the profile


@BOTH
def test_fee_deletion_is_offered_only_where_the_city_offers_it(hospital: Hospital, city: str) -> None:
    visit_no = _admitted(hospital)
    hospital.inpatient.upload_fees(visit_no, fees(3))
    if city == "huizhou":
        hospital.inpatient.delete_fees(visit_no)
        assert hospital.fees_held(visit_no) == 0
        return
    with pytest.raises(BusinessError) as refused:
        hospital.inpatient.delete_fees(visit_no)
    assert "bizh120004: not offered in 只允许退费冲减的地市" in refused.value.message
    assert hospital.fees_held(visit_no) == total_of(fees(3))  # nothing deleted


@BOTH
def test_refund_rows_net_into_every_total(hospital: Hospital, city: str) -> None:
    """Upload 7 rows, offset 3 of them with refund rows: presettlement, settlement, sheet, fee list
    and the year's totals all show the net, to the cent (refund rows are allowed in every city)."""
    service = hospital.inpatient
    visit_no = _admitted(hospital)
    charged, offset = fees(7), fees(7)[2:5]
    service.upload_fees(visit_no, charged)
    assert service.take_back_fees(visit_no, offset) == ("bizh120002",)
    net = total_of(charged) - total_of(offset)
    assert hospital.fees_held(visit_no) == net
    assert service.presettle(visit_no).total == net
    lines = service.fee_list(visit_no)
    assert len(lines) == 10  # refund rows are rows of their own
    assert sum((line.amount for line in lines), Decimal(0)) == net
    service.discharge(visit_no, A_DISCHARGE, OPERATOR)
    settled = service.settle(visit_no, OPERATOR)
    assert settled.total == net == settled.personal + settled.fund
    sheet = service.settlement_info(visit_no)
    assert sheet.total == net and sheet.lines[-1].total == net
    totals = hospital.client.call_wire("bizh410004", {"aac001": "1000000002", "aae140": "410", "aae001": "2026"})
    assert Decimal(totals["totalinfo"][0]["ake053"]) == net


# --------------------------------------------------------------------------- the HIS layer follows it


@BOTH
def test_a_failed_fee_chunk_is_compensated_by_the_citys_rule(hospital: Hospital, city: str) -> None:
    service = hospital.inpatient
    visit_no = _admitted(hospital)
    service.upload_fees(visit_no, fees(3))  # an earlier upload

    def refuse_the_third_chunk(done: int, total: int) -> None:
        if done == 600:
            hospital.faults.add("fail_then_succeed", function_id="bizh120002", aaz218=visit_no, n=1,
                                answer="return_code", code="-1", message="费用明细校验失败")

    with pytest.raises(FeeUploadFailed) as raised:
        service.upload_fees(visit_no, fees(700), progress=refuse_the_third_chunk)
    if city == "huizhou":  # every fee of the stay deleted, the earlier upload too
        assert raised.value.compensations == ("bizh120004",)
        assert hospital.fees_held(visit_no) == 0
    else:  # the 600 saved rows offset by 600 refund rows in two calls; the earlier upload stays
        assert raised.value.compensations == ("bizh120002", "bizh120002")
        assert hospital.sent("bizh120004") == []
        assert hospital.fees_held(visit_no) == total_of(fees(3))
        assert service.presettle(visit_no).total == total_of(fees(3))


@BOTH
def test_cancel_to_takes_fees_back_by_the_citys_rule(hospital: Hospital, city: str) -> None:
    service = hospital.inpatient
    visit_no = _admitted(hospital)
    service.upload_fees(visit_no, fees(5))
    sent = service.cancel_to(visit_no, "cancelled", fees=fees(5))
    take_back = "bizh120004" if city == "huizhou" else "bizh120002"
    assert sent == (take_back, "bizh120109")
    assert hospital.fees_held(visit_no) == 0
    assert hospital.province.stage_of(visit_no) == "cancelled"


def test_cancel_to_without_the_saved_rows_sends_nothing_where_fees_cannot_be_deleted(tmp_path: Path) -> None:
    with open_hospital("refund_only", tmp_path) as hospital:
        visit_no = _admitted(hospital)
        hospital.inpatient.upload_fees(visit_no, fees(2))
        with pytest.raises(HisWorkflowError, match=r"akc264 .*pass fees="):
            hospital.inpatient.cancel_to(visit_no, "cancelled")
        assert hospital.sent("bizh120109", "bizh120002") == ["bizh120002"]  # only the upload
        assert hospital.province.stage_of(visit_no) == "admitted"


@BOTH
def test_a_settlement_of_an_earlier_month_is_cancelled_only_where_the_city_allows(
    hospital: Hospital, city: str,
) -> None:
    service = hospital.inpatient
    visit_no = _admitted(hospital)
    service.upload_fees(visit_no, fees(4))
    service.discharge(visit_no, A_DISCHARGE, OPERATOR)
    service.settle(visit_no, OPERATOR)
    hospital.clock.now = datetime(2026, 7, 1, 9, 0, tzinfo=BEIJING)  # the next month
    if city == "huizhou":
        assert service.cancel_to(visit_no, "admitted") == ("bizh120107", "bizh120108")
        return
    with pytest.raises(HisWorkflowError, match=r"settled on 20260629 .*跨月取消结算.*nothing was sent"):
        service.cancel_to(visit_no, "admitted")
    assert hospital.sent("bizh120107", "bizh120108") == []
    # The province refuses it too, when a caller sends it anyway.
    with pytest.raises(BusinessError) as refused:
        hospital.client.call_wire("bizh120107", {"aaz218": visit_no})
    assert "不允许跨月取消结算" in refused.value.message
    assert hospital.province.stage_of(visit_no) == "settled"


def test_a_same_month_cancellation_works_in_every_city(tmp_path: Path) -> None:
    with open_hospital("refund_only", tmp_path) as hospital:
        visit_no = _admitted(hospital)
        hospital.inpatient.upload_fees(visit_no, fees(2))
        hospital.inpatient.discharge(visit_no, A_DISCHARGE, OPERATOR)
        hospital.inpatient.settle(visit_no, OPERATOR)
        hospital.clock.now = datetime(2026, 6, 30, 23, 0, tzinfo=BEIJING)
        assert hospital.inpatient.cancel_to(visit_no, "admitted") == ("bizh120107", "bizh120108")
