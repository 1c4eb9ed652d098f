"""Recovery of unknown outcomes (adapter/ops/recovery.py) over a real loopback MockServer.

For every state-changing function: drive the visit or stay to the stage the call needs, send
the call through the real Client under a fault, run recover(), and check that the journal
entry is settled the way the province really went, that recovery itself sent no state change,
and that once the HIS has resent what recovery marked failed the province holds the effect
exactly once: zero lost, zero duplicated.

Faults (adapter/mock/faults.py): commit_then_drop (the province commits, the connection closes
unanswered) and latency past the client's read timeout (it commits after the client gave up)
both commit; http500 answers instead of processing, so nothing is committed.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from seed_login import AKB020, PASSWORD, USERID
from typer.testing import CliRunner

from adapter.cli import app as cli_app
from adapter.errors import OutcomeUnknownError
from adapter.mock.app import RequestRecord
from adapter.mock.server import MockServer
from adapter.ops.recovery import RecoveryResult, recover
from adapter.wire.client import Client
from adapter.wire.codec import encode
from adapter.wire.config import Settings
from adapter.wire.journal import Journal, JournalError, Status
from generated.registry import FUNCTIONS

OUT_PERSON, IN_PERSON = "1000000001", "1000000002"  # seeded, valid injury recognition
HASTY_READ_TIMEOUT = 0.15  # seconds: the client under test gives up after this...
LATENCY_MS = 300  # ...while the province answers (and commits) after this (19 such scenarios)
FAULTS = ("commit_then_drop", "latency", "http500")
MEDICAL_RECORDS = tuple(f"bizh20010{n}" for n in range(1, 7))

EXAMPLES: dict[str, Any] = json.loads(resources.files("generated").joinpath("examples.json").read_text("utf-8"))


def example(function_id: str, **changes: Any) -> dict[str, Any]:
    values = {**EXAMPLES[function_id][0]["request"], **changes}
    return {code: value for code, value in values.items() if value is not None}


REGISTRATION = example("bizh110104", aac001=OUT_PERSON, bka893=None, aaz267=None, bka042=None)
ADMISSION = example("bizh120103", aac001=IN_PERSON)
OUT_FEES = [
    {"ake005": "XY0001", "ake006": "测试药品甲片", "bka056": "3.1250", "bka057": "4.00", "bka058": "12.50",
     "bka051": "20190508"},
    {"ake005": "HY0001", "ake006": "测试血常规", "bka056": "25.0000", "bka057": "1.00", "bka058": "25.00",
     "bka051": "20190508"},
]
IN_FEES = [{**row, "bka063": "T001", "bka064": "测试操作员"} for row in OUT_FEES]
MORE_FEES = [IN_FEES[0], {"ake005": "CW0001", "ake006": "测试床位费", "bka056": "45.0000", "bka057": "1.00",
                          "bka058": "45.00", "bka051": "20190509", "bka063": "T001", "bka064": "测试操作员"}]


# --------------------------------------------------------------------------- harness


@dataclass
class Run:
    """One scenario's world: the shared mock server, a fresh journal, two clients on it."""

    server: MockServer
    journal: Journal
    his: Client  # ordinary timeouts: the steps before the fault, recovery, the HIS's resend
    hasty: Client  # short read timeout: the call under test

    def call(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        return self.his.call_wire(function_id, values)

    def mark(self) -> int:
        return len(self.server.requests.records())

    def since(self, mark: int, function_id: str | None = None) -> list[RequestRecord]:
        return [r for r in self.server.requests.records()[mark:]
                if function_id is None or r.function_id == function_id]

    def state(self) -> dict[str, Any]:
        return self.server.province.snapshot()

    def stay(self, aaz218: str) -> dict[str, Any]:
        stay: dict[str, Any] = self.state()["stays"][aaz218]
        return stay

    def visit(self, aaz218: str) -> dict[str, Any]:
        visit: dict[str, Any] = self.state()["visits"][aaz218]
        return visit


def settings(server: MockServer, journal: Journal, read_timeout: float = 5.0) -> Settings:
    return Settings(base_url=server.url, userid=USERID, password=PASSWORD, akb020=AKB020,
                    journal_path=str(journal.path), read_timeout=read_timeout, retry_backoff=0.01)


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer() as running:
        yield running


def fresh(server: MockServer) -> MockServer:
    server.province.reset()
    server.faults.clear()
    server.requests.clear()
    return server


@pytest.fixture
def run(server: MockServer, tmp_path: Path) -> Iterator[Run]:
    with opened_run(fresh(server), tmp_path / "journal.sqlite") as world:
        yield world


@contextmanager
def opened_run(server: MockServer, path: Path) -> Iterator[Run]:
    with Journal(path) as journal, Client(settings(server, journal), journal=journal) as his, \
            Client(settings(server, journal, HASTY_READ_TIMEOUT), journal=journal) as hasty:
        # Log in now, not under the fault, and with ordinary timeouts: a busy machine may take
        # longer than the hasty read timeout to answer sys0001.
        hasty.session.store(his.session.get())
        yield Run(server, journal, his, hasty)


def around_the_guard(run: Run, send: Callable[[Run], Any]) -> int | None:
    """What a HIS could do before the client refused a state-changing call on a business with an
    unresolved entry: `send` runs against a twin of `run` on a scratch journal (so the guard there
    sees nothing unresolved), then the entries it wrote are copied into the run's journal, in
    order and as they ended. Returns the copy of the entry id `send` returns."""
    scratch_path = run.journal.path.with_name(f"scratch-{time.monotonic_ns()}.sqlite")
    with opened_run(run.server, scratch_path) as twin:
        sent = send(twin)
        copies = {entry.id: copy_entry(entry, run.journal)
                  for entry in sorted(twin.journal.list(limit=10_000), key=lambda e: e.id)
                  if entry.function_id != "sys0001"}
    return copies[sent] if isinstance(sent, int) else None


def copy_entry(entry: Any, journal: Journal) -> int:
    copied = journal.begin(entry.function_id, entry.kind, entry.request_xml, akb020=entry.akb020,
                           aaz218=entry.aaz218, aac001=entry.aac001,
                           answer_window_s=entry.answer_window_s)
    if entry.status != Status.PENDING:
        journal.finish(copied, entry.status, response_xml=entry.response_xml, return_code=entry.return_code,
                       message=entry.message, duration_ms=entry.duration_ms)
    return copied


def lose_answer(run: Run, function_id: str, values: dict[str, Any], fault: str) -> int:
    """Send the call under `fault`; returns its journal id once the province has dealt with it."""
    mark = run.mark()
    if fault == "latency":
        run.server.faults.add("latency", function_id=function_id, times=1, ms=LATENCY_MS)
    else:
        run.server.faults.add(fault, function_id=function_id, times=1)
    with pytest.raises(OutcomeUnknownError) as raised:
        run.hasty.call_wire(function_id, values)
    deadline = time.monotonic() + 5
    while not run.since(mark, function_id):  # latency: the province commits after the timeout
        assert time.monotonic() < deadline, "the province never processed the call"
        time.sleep(0.01)
    entry_id = raised.value.journal_id
    assert entry_id is not None
    entry = run.journal.get(entry_id)
    assert entry is not None and entry.status == Status.UNKNOWN
    return entry_id


def result_for(results: list[RecoveryResult], entry_id: int) -> RecoveryResult:
    [result] = [r for r in results if r.entry_id == entry_id]
    return result


def state_changes(records: list[RequestRecord]) -> list[RequestRecord]:
    return [r for r in records if r.function_id and FUNCTIONS[r.function_id].kind == "state_changing"]


# --------------------------------------------------------------------------- driving to a stage

Check = Callable[[Run], list[str]]
Setup = Callable[[Run], tuple[dict[str, Any], Check]]


def register(run: Run) -> str:
    return str(run.call("bizh110104", REGISTRATION)["aaz218"])


def charge(aaz218: str, rows: list[dict[str, str]]) -> dict[str, Any]:
    return {"aaz218": aaz218, "bka014": "T001", "bka015": "测试乙", "bka893": "1", "feeinfo": rows}


def admitted(run: Run, fees: bool = True) -> str:
    aaz218 = str(run.call("bizh120103", ADMISSION)["aaz218"])
    if fees:
        run.call("bizh120002", {"aaz218": aaz218, "feeinfo": IN_FEES})
    return aaz218


def discharged(run: Run) -> str:
    aaz218 = admitted(run)
    run.call("bizh120105", example("bizh120105", aaz218=aaz218))
    return aaz218


def settled(run: Run) -> str:
    aaz218 = discharged(run)
    run.call("bizh120106", example("bizh120106", aaz218=aaz218))
    return aaz218


def live_visits(run: Run) -> list[dict[str, Any]]:
    return [v for v in run.state()["visits"].values()
            if v["aac001"] == OUT_PERSON and v["stage"] in ("registered", "charged")]


def expect(condition: bool, problem: str) -> list[str]:
    return [] if condition else [problem]


def fee_rows(rows: list[dict[str, str]]) -> Counter[tuple[str, str, str]]:
    return Counter((r["ake005"], r["bka057"], r["bka058"]) for r in rows)


def setup_registration(run: Run) -> tuple[dict[str, Any], Check]:
    return REGISTRATION, lambda r: expect(len(live_visits(r)) == 1, f"{len(live_visits(r))} live visits")


def setup_charge(run: Run) -> tuple[dict[str, Any], Check]:
    aaz218 = register(run)
    run.call("bizh110105", charge(aaz218, OUT_FEES))  # batch 1; the lost call repeats its rows

    def check(r: Run) -> list[str]:
        batches = r.visit(aaz218)["batches"]
        return expect([b["bka001"] for b in batches] == [1, 2], f"batches {[b['bka001'] for b in batches]}")

    return charge(aaz218, OUT_FEES), check


def setup_refund(run: Run) -> tuple[dict[str, Any], Check]:
    aaz218 = register(run)
    run.call("bizh110105", charge(aaz218, OUT_FEES))
    lookup = {"bka895": "aaz218", "bka896": aaz218, "bka006": "410", "bka001": "1"}
    rows = run.call("bizh110103", lookup)["feeinfo"]

    def check(r: Run) -> list[str]:
        batches = r.visit(aaz218)["batches"]
        shape = [(b["bka001"], b["refund_of"], b["refunded_by"]) for b in batches]
        return expect(shape == [(1, [], 2), (2, [1], None)], f"batches {shape}")

    return charge(aaz218, rows), check


def setup_cancel_registration(run: Run) -> tuple[dict[str, Any], Check]:
    aaz218 = register(run)
    return (example("bizh110106", aaz218=aaz218),
            lambda r: expect(r.visit(aaz218)["stage"] == "cancelled", r.visit(aaz218)["stage"]))


def setup_admission(run: Run) -> tuple[dict[str, Any], Check]:
    def check(r: Run) -> list[str]:
        stays = [s for s in r.state()["stays"].values() if s["aac001"] == IN_PERSON and s["stage"] != "cancelled"]
        return expect(len(stays) == 1, f"{len(stays)} open stays")

    return ADMISSION, check


def setup_modification(run: Run) -> tuple[dict[str, Any], Check]:
    aaz218 = admitted(run, fees=False)
    values = example("bizh120104", aaz218=aaz218)  # ward W03 -> W05, bed 12 -> 07, same 住院号

    def check(r: Run) -> list[str]:
        admission = r.stay(aaz218)["admission"]
        shown = {code: admission.get(code) for code in ("bka021", "bka023", "bka025")}
        return expect(shown == {"bka021": "W05", "bka023": "07", "bka025": "ZY20190001"}, str(shown))

    return values, check


def setup_fee_upload(run: Run) -> tuple[dict[str, Any], Check]:
    aaz218 = admitted(run)  # IN_FEES uploaded; the lost chunk repeats one of its rows

    def check(r: Run) -> list[str]:
        fees = fee_rows(r.stay(aaz218)["fees"])
        return expect(fees == fee_rows(IN_FEES + MORE_FEES), f"fee rows {dict(fees)}")

    return {"aaz218": aaz218, "feeinfo": MORE_FEES}, check


def setup_fee_deletion(run: Run) -> tuple[dict[str, Any], Check]:
    aaz218 = admitted(run)
    return ({"aaz218": aaz218},
            lambda r: expect(r.stay(aaz218)["fees"] == [], f"{len(r.stay(aaz218)['fees'])} fee rows left"))


def stage_setup(function_id: str, prepare: Callable[[Run], str], stage: str) -> Setup:
    def setup(run: Run) -> tuple[dict[str, Any], Check]:
        aaz218 = prepare(run)

        def check(r: Run) -> list[str]:
            stay = r.stay(aaz218)
            problems = expect(stay["stage"] == stage, f"stage {stay['stage']}, expected {stage}")
            if stage == "settled":  # settled once, on the uploaded fees
                total = sum(Decimal(row["bka058"]) for row in IN_FEES)
                problems += expect(Decimal(stay["settlement"]["akc264"]) == total, "settled amount")
            return problems

        return example(function_id, aaz218=aaz218), check

    return setup


def record_setup(function_id: str) -> Setup:
    def setup(run: Run) -> tuple[dict[str, Any], Check]:
        aaz218 = discharged(run)
        return (example(function_id, aaz218=aaz218),
                lambda r: expect(function_id in r.stay(aaz218)["records"], "medical record missing"))

    return setup


SETUPS: dict[str, tuple[str, Setup]] = {  # label -> (function_id, setup)
    "bizh110104": ("bizh110104", setup_registration),
    "bizh110105 charge": ("bizh110105", setup_charge),
    "bizh110105 refund": ("bizh110105", setup_refund),
    "bizh110106": ("bizh110106", setup_cancel_registration),
    "bizh120103": ("bizh120103", setup_admission),
    "bizh120104": ("bizh120104", setup_modification),
    "bizh120002": ("bizh120002", setup_fee_upload),
    "bizh120004": ("bizh120004", setup_fee_deletion),
    "bizh120105": ("bizh120105", stage_setup("bizh120105", admitted, "discharge_registered")),
    "bizh120106": ("bizh120106", stage_setup("bizh120106", discharged, "settled")),
    "bizh120107": ("bizh120107", stage_setup("bizh120107", settled, "discharge_registered")),
    "bizh120108": ("bizh120108", stage_setup("bizh120108", discharged, "admitted")),
    "bizh120109": ("bizh120109", stage_setup("bizh120109", admitted, "cancelled")),
    **{fid: (fid, record_setup(fid)) for fid in MEDICAL_RECORDS},
}


def test_every_state_changing_function_has_a_scenario() -> None:
    changing = {fid for fid, meta in FUNCTIONS.items() if meta.kind == "state_changing"}
    assert changing == {fid for fid, _ in SETUPS.values()}


# --------------------------------------------------------------------------- the matrix


@dataclass
class Outcome:
    label: str
    fault: str
    committed: bool = False  # what the province really did with the call under test
    after: Status | None = None
    how: str = ""
    recovery_state_changes: int = 0  # state-changing requests recovery sent: must be 0
    resent: bool = False  # the HIS resent because recovery said failed
    commits: int = 0  # province commits of the call, the resend included
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def idempotent(self) -> bool:
        """2001xx uploads are resent without asking (D17): a second commit overwrites."""
        return self.label in MEDICAL_RECORDS

    @property
    def expected(self) -> Status:
        return Status.FAILED if self.idempotent or not self.committed else Status.OK

    @property
    def lost(self) -> bool:
        return self.commits == 0 or bool(self.problems)

    @property
    def duplicated(self) -> bool:
        return self.commits > 1 and not self.idempotent


def play(server: MockServer, path: Path, label: str, fault: str) -> Outcome:
    function_id, setup = SETUPS[label]
    outcome = Outcome(label, fault)
    try:
        with opened_run(fresh(server), path) as run:
            values, check = setup(run)
            mark = run.mark()
            entry_id = lose_answer(run, function_id, values, fault)
            outcome.committed = run.since(mark, function_id)[0].return_code == "1"
            before_recovery = run.mark()
            result = result_for(recover(run.his), entry_id)
            outcome.after, outcome.how = result.after, result.how
            outcome.recovery_state_changes = len(state_changes(run.since(before_recovery)))
            if result.after == Status.FAILED:  # the HIS may resend; it does
                run.call(function_id, values)
                outcome.resent = True
            outcome.commits = sum(r.return_code == "1" for r in run.since(mark, function_id))
            outcome.problems = check(run)
    except Exception as exc:  # reported by the scenario's own test
        outcome.error = f"{type(exc).__name__}: {exc}"
    return outcome


# Each scenario plays on its own (no module-wide matrix fixture): parallel workers share the
# scenarios, and the waits of the latency ones overlap other tests.
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("label", list(SETUPS))
def test_recovery_settles_the_lost_answer(server: MockServer, tmp_path: Path, label: str, fault: str) -> None:
    outcome = play(server, tmp_path / "journal.sqlite", label, fault)
    assert outcome.error is None, outcome.error
    assert outcome.committed == (fault != "http500")  # the faults do what faults.py says
    assert outcome.after == outcome.expected, outcome.how  # never left unknown
    assert outcome.recovery_state_changes == 0
    assert not outcome.lost, outcome.problems or "never committed"
    assert not outcome.duplicated, f"{outcome.commits} commits"
    if outcome.idempotent:
        assert outcome.commits == 1 + outcome.committed  # resent over a committed upload: overwritten
    else:
        assert outcome.commits == 1, f"{outcome.commits} commits"


def test_lost_registrations_are_told_from_an_ok_one(run: Run) -> None:
    """An ok registration, then the same one twice more with lost answers: one committed, one not."""
    known = register(run)
    committed = lose_answer(run, "bizh110104", REGISTRATION, "commit_then_drop")
    not_committed = around_the_guard(run, lambda twin: lose_answer(twin, "bizh110104", REGISTRATION, "http500"))
    assert not_committed is not None
    results = recover(run.his)
    found = [v["aaz218"] for v in live_visits(run) if v["aaz218"] != known]
    assert len(found) == 1
    assert result_for(results, committed).after == Status.OK and found[0] in result_for(results, committed).how
    assert result_for(results, not_committed).after == Status.FAILED
    entry = run.journal.get(committed)
    assert entry is not None and entry.aaz218 == found[0]  # the lost answer's key, now journaled
    ok_entries = run.journal.list(function_id="bizh110104", status=Status.OK)
    assert {e.aaz218 for e in ok_entries} == {known, found[0]}  # the client journals answered keys too


@pytest.mark.parametrize("fault", ["commit_then_drop", "http500"])
def test_a_repeated_fee_chunk_is_counted_not_just_matched(run: Run, fault: str) -> None:
    aaz218 = admitted(run)  # IN_FEES uploaded once, ok
    entry_id = lose_answer(run, "bizh120002", {"aaz218": aaz218, "feeinfo": IN_FEES}, fault)
    result = result_for(recover(run.his), entry_id)
    assert result.after == (Status.OK if fault == "commit_then_drop" else Status.FAILED), result.how


def test_a_later_accepted_call_decides_a_stage_change(run: Run) -> None:
    first = admitted(run)
    lost_discharge = lose_answer(run, "bizh120105", example("bizh120105", aaz218=first), "commit_then_drop")
    # only possible if discharged
    around_the_guard(run, lambda twin: twin.call("bizh120106", example("bizh120106", aaz218=first)))
    results = recover(run.his)
    assert result_for(results, lost_discharge).after == Status.OK
    assert "accepted later" in result_for(results, lost_discharge).how


def test_a_later_upload_shows_a_discharge_did_not_happen(run: Run) -> None:
    aaz218 = admitted(run)
    lost = lose_answer(run, "bizh120105", example("bizh120105", aaz218=aaz218), "http500")
    # only possible while admitted
    around_the_guard(run, lambda twin: twin.call("bizh120002", {"aaz218": aaz218, "feeinfo": MORE_FEES}))
    result = result_for(recover(run.his), lost)
    assert result.after == Status.FAILED and "accepted later" in result.how


def test_an_upload_followed_by_a_delete_stays_unknown(run: Run) -> None:
    """The fee list cannot tell any more, and a resend would bring deleted fees back."""
    aaz218 = admitted(run)
    lost = lose_answer(run, "bizh120002", {"aaz218": aaz218, "feeinfo": MORE_FEES}, "http500")
    around_the_guard(run, lambda twin: twin.call("bizh120004", {"aaz218": aaz218}))
    result = result_for(recover(run.his), lost)
    assert result.after == Status.UNKNOWN and "delete-all" in result.how
    entry = run.journal.get(lost)
    assert entry is not None and entry.status == Status.UNKNOWN


def test_a_trial_charge_has_nothing_to_recover(run: Run) -> None:
    aaz218 = register(run)
    lost = lose_answer(run, "bizh110105", {**charge(aaz218, OUT_FEES), "bka893": "0"}, "commit_then_drop")
    result = result_for(recover(run.his), lost)
    assert result.after == Status.FAILED and "trial" in result.how
    assert run.visit(aaz218)["batches"] == []


def test_unknown_queries_and_logins_are_failed(run: Run, server: MockServer) -> None:
    server.faults.add("http500", function_id="bizh120001", times=3)  # 1 try + 2 retries
    with pytest.raises(OutcomeUnknownError):
        run.his.call_wire("bizh120001", {"bka895": "aac001", "bka896": IN_PERSON, "aka130": "42",
                                         "bka006": "420"})
    with Client(settings(server, run.journal), journal=run.journal) as newcomer:
        server.faults.add("http500", function_id="sys0001", times=1)
        with pytest.raises(OutcomeUnknownError):
            newcomer.session.get()
    results = recover(run.his)
    assert Counter((r.function_id, r.after) for r in results) == {
        ("bizh120001", Status.FAILED): 3, ("sys0001", Status.FAILED): 1}
    assert run.journal.unknown_entries() == []


def test_stale_pending_entries_are_recovered_and_fresh_ones_left_alone(run: Run, server: MockServer) -> None:
    """A process died after writing `pending`: once after sending the admission, once before."""
    def body(function_id: str, values: dict[str, Any]) -> str:
        return encode(function_id, "request", values, session_id="gone").decode()

    other_person = {**ADMISSION, "aac001": "1000000006"}
    long_ago = datetime.now(UTC) - timedelta(minutes=30)
    with Journal(run.journal.path, clock=lambda: long_ago) as dead_process:
        sent = dead_process.begin("bizh120103", "state_changing", body("bizh120103", ADMISSION), akb020=AKB020)
        never_sent = dead_process.begin("bizh120103", "state_changing", body("bizh120103", other_person),
                                        akb020=AKB020)
        no_such_stay = example("bizh120104")
        unanswerable = dead_process.begin("bizh120104", "state_changing", body("bizh120104", no_such_stay),
                                          akb020=AKB020, aaz218=no_such_stay["aaz218"])
    in_flight = run.journal.begin("bizh120103", "state_changing", body("bizh120103", ADMISSION), akb020=AKB020)
    with Journal(run.journal.path.with_name("other.sqlite")) as other, \
            Client(settings(server, other), journal=other) as elsewhere:
        elsewhere.call_wire("bizh120103", ADMISSION)  # what the dead process had sent
    results = recover(run.his)
    assert result_for(results, sent).before == Status.PENDING
    assert result_for(results, sent).after == Status.OK
    assert result_for(results, never_sent).after == Status.FAILED
    assert result_for(results, unanswerable).after == Status.UNKNOWN  # the province knows no such stay
    assert "refused" in result_for(results, unanswerable).how
    assert all(r.entry_id != in_flight for r in results)
    entry = run.journal.get(in_flight)
    assert entry is not None and entry.status == Status.PENDING


def test_resolve_keeps_the_exchange_and_only_settles_unknown_entries(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        entry_id = journal.begin("bizh110104", "state_changing", "<program/>")
        journal.finish(entry_id, Status.UNKNOWN, response_xml="<program><trunc", message="no answer",
                       duration_ms=12.0)
        journal.resolve(entry_id, Status.OK, "committed: found", aaz218="90000001202600000001")
        entry = journal.get(entry_id)
        assert entry is not None
        assert (entry.status, entry.response_xml, entry.duration_ms) == (Status.OK, "<program><trunc", 12.0)
        assert entry.message == "committed: found | before: no answer"
        assert entry.aaz218 == "90000001202600000001"
        with pytest.raises(JournalError, match="only an unknown entry"):
            journal.resolve(entry_id, Status.FAILED, "again")


def test_cli_recover_prints_the_table(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    lost = lose_answer(run, "bizh120103", ADMISSION, "commit_then_drop")
    for name, value in {"GDWI_BASE_URL": run.server.url, "GDWI_USERID": USERID, "GDWI_PASSWORD": PASSWORD,
                        "GDWI_AKB020": AKB020}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli_app, ["journal", "recover", "--db", str(run.journal.path)])
    assert result.exit_code == 0, result.output
    assert "bizh120103" in result.output and "committed" in result.output
    entry = run.journal.get(lost)
    assert entry is not None and entry.status == Status.OK


def test_cli_recover_without_settings_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GDWI_BASE_URL", "GDWI_USERID", "GDWI_PASSWORD", "GDWI_AKB020", "GDWI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli_app, ["journal", "recover", "--db", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 3 and "GDWI_BASE_URL" in result.output
