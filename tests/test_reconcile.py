"""Reconciliation (adapter/ops/reconcile.py, `gdwi reconcile`) against the mock province.

Each test plays one hospital day through the real client (its own journal) on a shared mock
province, writes the HIS export the HIS would write, seeds one difference, and runs the command.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hospital_day import INPATIENT_PERSONS, Hospital, example
from seed_login import AKB020, PASSWORD
from seed_login import USERID as USER
from typer.testing import CliRunner

from adapter.cli import app
from adapter.errors import BusinessError, OutcomeUnknownError
from adapter.mock.province import MockProvince
from adapter.mock.server import MockServer
from adapter.ops.reconcile import (
    HIS_COLUMNS,
    Amounts,
    HisExport,
    HisExportError,
    HisRow,
    read_his_csv,
    reconcile,
)
from adapter.wire.client import Client
from adapter.wire.codec import encode
from adapter.wire.config import Settings
from adapter.wire.journal import Journal, Status

runner = CliRunner()
TODAY = date.today()


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    # The mock's clock in local wall time, so its settlement dates (bka045) are the journal's days.
    with MockServer(MockProvince(clock=datetime.now)) as live:
        yield live


@dataclass
class Day:
    hospital: Hospital
    server: MockServer
    journal: Path
    tmp: Path
    keys: dict[str, str]

    def run(self) -> tuple[int, list[dict[str, str]], str]:
        """`gdwi reconcile` on the day; exit code, report CSV rows, terminal output."""
        his = self.hospital.export(self.tmp / "his-export.csv")
        out, html = self.tmp / "report.csv", self.tmp / "report.html"
        result = runner.invoke(app, ["reconcile", "--date", TODAY.isoformat(), "--his", str(his),
                                     "--out", str(out), "--html", str(html)])
        assert result.exit_code in (0, 7), result.output
        with out.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert html.read_text(encoding="utf-8").count('id="verdict"') == 1
        return result.exit_code, rows, result.output


@pytest.fixture
def day(server: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Day]:
    """An ordinary day on which all three sides agree, before any difference is seeded."""
    journal = tmp_path / "journal.sqlite"
    for name, value in (("BASE_URL", server.url), ("USERID", USER), ("PASSWORD", PASSWORD),
                        ("AKB020", AKB020), ("JOURNAL", str(journal))):
        monkeypatch.setenv(f"GDWI_{name}", value)
    settings = Settings(base_url=server.url, userid=USER, password=PASSWORD, akb020=AKB020,
                        journal_path=str(journal))
    with Client(settings) as client:
        hospital = Hospital(client, TODAY)
        charged = hospital.register()
        hospital.charge(charged)
        refunded = hospital.register()
        hospital.refund(refunded, str(hospital.charge(refunded)["bka001"]))
        keys = {"charged": charged, "refunded": refunded, "registered": hospital.register(),
                "stay": hospital.settled_stay(INPATIENT_PERSONS[0]),
                "undone": hospital.settled_and_undone(INPATIENT_PERSONS[2])}
        yield Day(hospital, server, journal, tmp_path, keys)


def findings(rows: list[dict[str, str]]) -> set[tuple[str, str, str]]:
    return {(r["finding"], r["aaz218"], r["bka001"]) for r in rows if r["finding"] != "day_total"}


def totals(rows: list[dict[str, str]], scope: str = "all") -> dict[str, str]:
    return next(r for r in rows if r["finding"] == "day_total" and r["kind"] == scope)


def detail(rows: list[dict[str, str]], category: str, aaz218: str) -> str:
    return next(r["detail"] for r in rows if r["finding"] == category and r["aaz218"] == aaz218)


def test_all_three_sides_agree_exit_0(day: Day) -> None:
    code, rows, output = day.run()
    assert code == 0, output
    assert findings(rows) == set()
    assert "all three sides agree" in output
    day_totals = totals(rows)
    assert day_totals["journal_total"] == day_totals["province_total"] == day_totals["his_total"]
    inpatient = totals(rows, "inpatient")
    assert inpatient["journal_fund"] == inpatient["province_fund"] == inpatient["his_fund"] != "0.00"


# --- seeded differences: each reported, exit 1 ---------------------------------------------


def lost_registration(day: Day) -> set[tuple[str, str, str]]:
    """Registered at the province; the HIS crashed before writing it down."""
    lost = day.hospital.register()
    del day.hospital.open_registrations[lost]
    day.keys["lost"] = lost
    return {("missing", lost, "")}


def refund_only_at_province(day: Day) -> set[tuple[str, str, str]]:
    """The province refunded batch 2; the HIS never booked the refund."""
    key = day.keys["refunded"]
    day.hospital.rows.remove(day.hospital.row_of(key, "2"))
    return {("missing", key, "2"), ("amount_mismatch", key, "")}


def refund_only_in_his(day: Day) -> set[tuple[str, str, str]]:
    """The HIS booked a refund of batch 1 that never reached the province."""
    key = day.keys["charged"]
    charge = day.hospital.row_of(key, "1")
    negated = [f"{Decimal(0) - Decimal(value):.2f}" for value in charge[4:7]]
    day.hospital.rows.append([*charge[:3], "2", *negated, "HIS9999"])
    return {("missing", key, "2"), ("amount_mismatch", key, "")}


def his_61_more(day: Day) -> set[tuple[str, str, str]]:
    """The HIS's settlement of the stay is 61.00 above the province's (the peers' 差账)."""
    row = day.hospital.row_of(day.keys["stay"])
    for column in (4, 6):  # total and fund
        row[column] = f"{Decimal(row[column]) + Decimal('61.0'):.2f}"
    return {("amount_mismatch", day.keys["stay"], "")}


def unknown_entry(day: Day) -> set[tuple[str, str, str]]:
    """The province commits a charge and the answer is lost: the journal entry stays unknown."""
    key = day.hospital.register()
    day.server.faults.add("commit_then_drop", function_id="bizh110105", aaz218=key, times=1)
    with pytest.raises(OutcomeUnknownError):
        day.hospital.charge(key)
    day.keys["unknown"] = key
    return {("unknown_outcome", key, ""), ("amount_mismatch", key, "")}


def his_row_does_not_add_up(day: Day) -> set[tuple[str, str, str]]:
    row = day.hospital.row_of(day.keys["charged"], "1")
    row[5] = f"{Decimal(row[5]) + 1:.2f}"  # personal 1.00 too high: total != personal + fund
    return {("inconsistent", day.keys["charged"], "1"), ("amount_mismatch", day.keys["charged"], "1")}


SEEDED: list[Callable[[Day], set[tuple[str, str, str]]]] = [
    lost_registration, refund_only_at_province, refund_only_in_his, his_61_more, unknown_entry,
    his_row_does_not_add_up,
]


def test_json_lists_differences_and_with_all_the_agreeing_businesses(day: Day) -> None:
    his = day.hospital.export(day.tmp / "his-export.csv")
    args = ["reconcile", "--date", TODAY.isoformat(), "--his", str(his), "--json"]
    plain = json.loads(runner.invoke(app, args).stdout)
    every = json.loads(runner.invoke(app, [*args, "--all"]).stdout)
    assert plain["ok"] and plain["differences"] == [] and "agreed" not in plain
    assert {row["aaz218"] for row in every["agreed"]} >= {day.keys["charged"], day.keys["stay"]}
    assert len(every["agreed"]) == every["businesses"] and every["his_encoding"] == "utf-8"


@pytest.mark.parametrize("seed", SEEDED, ids=[s.__name__ for s in SEEDED])
def test_each_seeded_difference_is_reported_and_exits_1(
        day: Day, seed: Callable[[Day], set[tuple[str, str, str]]]) -> None:
    expected = seed(day)
    code, rows, output = day.run()
    assert code == 7, output
    assert findings(rows) == expected
    assert "difference(s)" in output


def test_what_the_report_says_about_each(day: Day) -> None:
    """All the seeded differences on one day: each named, and the day totals show the gap."""
    for seed in (lost_registration, refund_only_at_province, his_61_more, unknown_entry):
        seed(day)
    code, rows, _ = day.run()
    assert code == 7
    assert "not in the HIS export" in detail(rows, "missing", day.keys["lost"])
    refund = next(r for r in rows if r["aaz218"] == day.keys["refunded"] and r["bka001"] == "2")
    assert refund["detail"] == "refund batch 2 journalled, not in the HIS export"
    assert Decimal(refund["journal_total"]) < 0 and refund["his_total"] == ""
    stay = detail(rows, "amount_mismatch", day.keys["stay"])
    assert "HIS − province: total +61.00, fund +61.00" in stay
    assert "is unknown" in detail(rows, "unknown_outcome", day.keys["unknown"])
    inpatient = totals(rows, "inpatient")
    assert Decimal(inpatient["his_total"]) - Decimal(inpatient["province_total"]) == Decimal("61.00")


# --- the HIS export format --------------------------------------------------------------------


def _export(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "his.csv"
    path.write_text("\ufeff" + ",".join(HIS_COLUMNS) + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_his_export_rows_of_other_days_are_left_out(tmp_path: Path) -> None:
    path = _export(tmp_path, "2026-11-25,outpatient,A1,1,10.00,0.00,10.00,R1",
                   f"{TODAY.isoformat()},inpatient,B1,,-5.50,0.00,-5.50,R2")
    export = read_his_csv(path, TODAY)
    assert export.other_days == 1 and [r.aaz218 for r in export.rows] == ["B1"]
    assert export.rows[0].amounts.total == Decimal("-5.50")


def test_his_export_problems_name_line_and_column(tmp_path: Path) -> None:
    path = _export(tmp_path, "2026-13-01,outpatient,A1,1,10.00,0.00,10.00,R1",
                   "2026-11-26,clinic,A2,x,10.001,0,10,R2", "2026-11-26,inpatient,A3,2,1,0,1,R3")
    with pytest.raises(HisExportError) as caught:
        read_his_csv(path, TODAY)
    problems = [str(p) for p in caught.value.problems]
    assert "line 2 date: '2026-13-01' is not YYYY-MM-DD" in problems
    assert "line 3 kind: 'clinic' is not outpatient or inpatient" in problems
    assert "line 3 bka001: 'x' is not a batch number" in problems
    assert "line 3 total: '10.001' has more than 2 decimal places" in problems
    assert "line 4 bka001: inpatient rows have no batch number" in problems


def test_unreadable_export_exits_2(day: Day) -> None:
    bad = day.tmp / "bad.csv"
    bad.write_text("date,kind\n2026-11-26,outpatient\n", encoding="utf-8")
    result = runner.invoke(app, ["reconcile", "--date", TODAY.isoformat(), "--his", str(bad)])
    assert result.exit_code == 2
    assert "missing column(s) aaz218, bka001, total, personal, fund, his_ref" in result.output


# --- sides that cannot tell ---------------------------------------------------------------------


class Province:
    """A stand-in province answering each function_id with a fixed answer or refusal."""

    def __init__(self, answers: dict[str, dict[str, Any] | BusinessError]) -> None:
        self.answers = answers

    def call_wire(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        answer = self.answers[function_id]
        if isinstance(answer, BusinessError):
            raise answer
        return answer


def _his(rows: list[list[str]]) -> HisExport:
    return HisExport([HisRow(n, TODAY, kind, aaz218, bka001, Amounts(*map(Decimal, money)), "R")
                      for n, (kind, aaz218, bka001, *money) in enumerate(rows, start=2)], 0)


def test_a_province_figure_that_cannot_be_read_is_a_finding(tmp_path: Path) -> None:
    stay = "44190000012026000777"
    province = Province({
        "bizh120102": {"bizinfo": [{"aaz218": stay, "bka891": "1", "bka045": TODAY.strftime("%Y%m%d")}]},
        "bizh120206": BusinessError("bizh120206", "-1", "服务暂不可用"),
    })
    with Journal(tmp_path / "journal.sqlite") as journal:
        report = reconcile(journal, province, _his([["inpatient", stay, "", "10.00", "0.00", "10.00"]]), TODAY)
    assert {(f.category, f.aaz218) for f in report.findings} == {("missing", stay), ("unverifiable", stay)}
    assert report.totals["province"]["inpatient"] is None  # a side that cannot tell has no total


def test_an_ok_entry_without_amounts_is_a_note_not_a_difference(tmp_path: Path) -> None:
    """A charge whose answer was lost and whose outcome was resolved afterwards (D17)."""
    visit = "44190000012026000888"
    request = example("bizh110105", aaz218=visit, bka893="1")
    with Journal(tmp_path / "journal.sqlite") as journal:
        entry = journal.begin("bizh110105", "state_changing",
                              encode("bizh110105", "request", request, session_id="s").decode(), aaz218=visit)
        journal.finish(entry, Status.OK)  # no response recorded
        province = Province({"bizh110102": {"bizinfo": [{"aaz218": visit, "bka891": "1"}]},
                             "bizh110103": {"feeinfo": [{"bka058": "-12.50"}, {"bka058": "-20.00"}]}})
        his = _his([["outpatient", visit, "1", "32.50", "0.00", "32.50"]])
        report = reconcile(journal, province, his, TODAY)
    assert report.ok, report.findings
    assert len(report.notes) == 1 and "holds no amounts" in report.notes[0]
    assert report.totals["province"]["outpatient"] == Amounts(Decimal("32.50"))
