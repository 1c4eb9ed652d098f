"""`gdwi spec drift`: the journal's deviations summarised per function, field and kind, with the
spec edit each suggests (issue 10 item 6).

Deviations are recorded into a real journal file, the way the client records them, with a clock the
test sets; the command runs through the CLI (text and --json) against that file.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapter.cli import app
from adapter.ops.drift import summarise
from adapter.wire.deviations import Deviation, DeviationKind, collapse_rows
from adapter.wire.journal import Journal, Status

runner = CliRunner()
START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _answer(journal: Journal, clock: Clock, when: datetime, function_id: str, *found: Deviation) -> int:
    clock.now = when
    entry = journal.begin(function_id, "query", "<program/>")
    journal.finish(entry, Status.OK, response_xml="<program/>", return_code="1")
    journal.record_deviations(entry, list(found))
    return entry


def _unlisted(value: str) -> Deviation:
    return Deviation("bizh120001", "personinfo[0].bka888", "bka888", DeviationKind.UNLISTED_CODE, value,
                     "not in the closed list 0, 1, 9")


def _places(path: str, sample: str) -> Deviation:
    return Deviation("bizh120003", path, path.split(".")[-1], DeviationKind.EXTRA_PLACES, sample, "scale 2")


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    """A journal with twelve bka888 = 3 answers over twelve days, 4-decimal amounts, and others."""
    path = tmp_path / "journal.sqlite"
    clock = Clock()
    journal = Journal(path, clock=clock)
    for day in range(12):
        _answer(journal, clock, START + timedelta(days=day), "bizh120001", _unlisted("3"),
                Deviation("bizh120001", "aab034", "aab034", DeviationKind.UNKNOWN_ELEMENT, "441900"))
    _answer(journal, clock, START + timedelta(days=3), "bizh120001", _unlisted("4"))
    _answer(journal, clock, START + timedelta(days=5), "bizh120003",
            _places("akc264", "174.6800"), _places("bka831", "0.0000"))
    _answer(journal, clock, START + timedelta(days=6), "bizh120003", _places("akc264", "174.6850"))
    _answer(journal, clock, START + timedelta(days=7), "bizh120102",
            Deviation("bizh120102", "bizinfo[0].bka042", "bka042", DeviationKind.EMPTY_ELEMENT, ""),
            Deviation("bizh120102", "bizinfo[0].aac002", "aac002", DeviationKind.BAD_VALUE,
                      "441900********004X", "longer than 18"))
    journal.close()
    return path


def _drift(*args: str) -> Any:
    return runner.invoke(app, ["spec", "drift", *args])


def test_json_groups_by_function_field_and_kind(journal_file: Path) -> None:
    result = _drift("--db", str(journal_file), "--json")
    assert result.exit_code == 0, result.output
    items = json.loads(result.output)
    by_key = {(i["function_id"], i["code"], i["kind"]): i for i in items}
    fund = by_key[("bizh120001", "bka888", "unlisted_code")]
    assert (fund["count"], fund["answers"], fund["name"]) == (13, 13, "个人基金状态")
    assert fund["samples"] == {"3": 12, "4": 1}
    assert fund["first_seen"] == START.isoformat()
    assert fund["last_seen"] == (START + timedelta(days=11)).isoformat()
    assert fund["proposal"].startswith("bka888: value 3 seen 12 times; value 4 seen once, not in the closed "
                                       "list — add it to spec/codes/bka888.yaml?")
    assert items[0] is not None and items[0]["code"] == "bka888"  # the most frequent first
    extra = by_key[("bizh120001", "aab034", "unknown_element")]
    assert "add it as an optional answer field in spec/functions/bizh120001.yaml (new in" in extra["proposal"]
    amounts = by_key[("bizh120003", "akc264", "extra_places")]
    assert amounts["count"] == 2 and "set scale: 4 in spec/fields.yaml" in amounts["proposal"]
    assert "e.g. 174.6850" in amounts["proposal"]
    zeros = by_key[("bizh120003", "bka831", "extra_places")]
    assert "only trailing zeros" in zeros["proposal"] and "no spec change needed" in zeros["proposal"]
    empty = by_key[("bizh120102", "bka042", "empty_element")]
    assert "optional and sent empty once" in empty["proposal"]
    assert "check its type" in by_key[("bizh120102", "aac002", "bad_value")]["proposal"]


def test_since_keeps_the_later_deviations_only(journal_file: Path) -> None:
    result = _drift("--db", str(journal_file), "--json", "--since", "2026-11-10")
    items = json.loads(result.output)
    fund = next(i for i in items if i["code"] == "bka888")
    # Local days: from 2026-11-10 00:00 local on. The fixture's days are 02:00 UTC, so at least the
    # last two (11-12, 11-13 UTC) are in whatever the machine's zone; never the first nine.
    assert 2 <= fund["count"] <= 4
    assert {i["function_id"] for i in items} == {"bizh120001"}


def test_text_report_names_fields_and_proposals(journal_file: Path) -> None:
    result = _drift("--db", str(journal_file))
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "spec drift: 30 deviation(s) in 6 group(s)" in flat
    assert "个人基金状态" in result.output
    for kind in ("unlisted_code", "unknown_element", "extra_places", "empty_element", "bad_value"):
        assert kind in flat
    assert "bka888: value 3 seen 12 times; value 4 seen once, not in the closed list" in flat


def test_empty_and_missing_journals(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    Journal(empty).close()
    result = _drift("--db", str(empty))
    assert result.exit_code == 0 and "no deviations recorded: the answers match spec/" in result.output
    assert json.loads(_drift("--db", str(empty), "--json").output) == []
    missing = _drift("--db", str(tmp_path / "nope.sqlite"))
    assert missing.exit_code == 3 and "no journal at" in missing.output  # a configuration problem
    assert not (tmp_path / "nope.sqlite").exists()


def test_summarise_counts_each_deviation_once() -> None:
    seen = [(START, 1, _unlisted("3")), (START, 1, _unlisted("3")), (START + timedelta(hours=1), 2, _unlisted("3"))]
    [item] = summarise(seen)
    assert (item.count, len(item.entries), item.samples["3"]) == (3, 2, 3)
    assert item.paths == {"personinfo[0].bka888": 3}


# --------------------------------------------------------------------------- a real-shaped run


def test_drift_of_a_real_shaped_run(tmp_path: Path) -> None:
    """A hospital's lookups and a stay through the HIS layer against the mock in real style (every
    substitutable code substituted): the journal's deviations, summarised, name what differs."""
    from test_his_workflows import A_DISCHARGE, OPERATOR, a_stay, fees

    from adapter.his import InpatientService, OutpatientService
    from adapter.his.model import IdentifierKind, Patient
    from adapter.mock.app import create_app
    from adapter.mock.inprocess import InProcessTransport
    from adapter.mock.style import AnswerStyle
    from adapter.wire.client import Client
    from adapter.wire.config import Settings

    journal = tmp_path / "journal.sqlite"
    app = create_app(style=AnswerStyle("real", seed=5, unlisted_rate=1.0))
    settings = Settings(base_url="http://127.0.0.1:9", userid="ss0028", password="mock-pass-1",
                        akb020="H44190000001", journal=str(journal))
    with Client(settings, http_transport=InProcessTransport(app)) as client:
        OutpatientService(client).lookup(Patient(IdentifierKind.PERSON_NO, "1000000004"))  # not insured
        inpatient = InpatientService(client)
        visit_no = inpatient.admit(a_stay(), OPERATOR).visit_no
        inpatient.upload_fees(visit_no, fees(5))
        inpatient.discharge(visit_no, A_DISCHARGE, OPERATOR)
        settled = inpatient.settle(visit_no, OPERATOR)
        assert settled.total == sum(f.amount for f in fees(5))
    items = json.loads(_drift("--db", str(journal), "--json").output)
    by_key = {(i["function_id"], i["code"], i["kind"]): i for i in items}
    fund = by_key[("bizh110001", "bka888", "unlisted_code")]
    assert fund["samples"] == {"3": 1}
    assert fund["proposal"].startswith("bka888: value 3 seen once, not in the closed list — add it")
    assert ("bizh120106", "aab034", "unknown_element") in by_key
    empties = [i for i in items if i["kind"] == "empty_element"]
    assert empties and all("no spec change needed" in i["proposal"] for i in empties)


def test_rows_collapse_to_one_deviation_per_field_and_kind() -> None:
    def on_row(i: int, code: str, kind: DeviationKind, sample: str = "") -> Deviation:
        return Deviation("bizh120106", f"feeinfo[{i}].{code}", code, kind, sample)

    rows = ([on_row(i, "bka058", DeviationKind.EMPTY_ELEMENT) for i in range(3)]
            + [on_row(i, "aka065", DeviationKind.UNLISTED_CODE, "9" if i else "8") for i in range(3)]
            + [on_row(i, "aae019", DeviationKind.EXTRA_PLACES, s) for i, s in enumerate(["1.2300", "4.5678", "9.1000"])]
            + [on_row(7, "bka059", DeviationKind.BAD_VALUE, "x")])
    collapsed = {(d.path, d.kind, d.sample): d for d in collapse_rows(rows)}
    assert set(collapsed) == {
        ("feeinfo[*].bka058", DeviationKind.EMPTY_ELEMENT, ""),
        ("feeinfo[0].aka065", DeviationKind.UNLISTED_CODE, "8"),  # a value seen once stays as it was
        ("feeinfo[*].aka065", DeviationKind.UNLISTED_CODE, "9"),  # each unlisted value apart
        ("feeinfo[*].aae019", DeviationKind.EXTRA_PLACES, "4.5678"),  # the sample that needs the scale
        ("feeinfo[7].bka059", DeviationKind.BAD_VALUE, "x"),
    }
    assert collapsed[("feeinfo[*].bka058", DeviationKind.EMPTY_ELEMENT, "")].detail == \
        "in 3 rows, first feeinfo[0].bka058"
