"""What every rule module shares: the request as handlers see it, and answers shaped by the registry.

Answers are built from "pools" (everything the mock knows about a person or a business, by wire
code) and then cut to the fields and datasets the function's response model declares. So an
answer never carries a field its model forbids, and a spec change that adds a response field
only needs the pool to know it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from adapter.mock.books import Business, Ledger, Stay, Visit
from adapter.mock.money import ZERO, money
from adapter.mock.refusal import Refusal, label
from adapter.mock.seed import CENTRE_CODE, FUND_STATUS, Person
from generated.registry import FUNCTIONS, SPEC

Row = dict[str, str]
Answer = dict[str, Any]
ENVELOPE = frozenset(SPEC.request_envelope) | frozenset(SPEC.response_envelope)


@dataclass(frozen=True)
class Call:
    """One validated request: wire values (code -> text, dataset -> rows) and the caller's akb020."""

    function_id: str
    values: Mapping[str, Any]
    akb020: str

    def text(self, code: str) -> str:
        value = self.values.get(code)
        return value.strip() if isinstance(value, str) else ""

    def rows(self, dataset: str) -> list[Row]:
        """The dataset's rows, empty elements dropped (an empty element means absent)."""
        rows = self.values.get(dataset) or []
        return [{k: v.strip() for k, v in row.items() if isinstance(v, str) and v.strip()} for row in rows]

    def scalars(self) -> Row:
        """The scalar request fields, without the envelope and without empty values."""
        return {k: v.strip() for k, v in self.values.items()
                if isinstance(v, str) and v.strip() and k not in ENVELOPE}


Handler = Callable[[Ledger, Call], Answer]


# ---------------------------------------------------------------------------- shaping


def respond(function_id: str, scalars: Mapping[str, str], **datasets: list[Row]) -> Answer:
    """Cut pools to the response model: declared scalars and datasets only, empty values dropped.

    A dataset without rows is left out (on the wire an empty element means absent).
    """
    response = FUNCTIONS[function_id].response
    answer: Answer = _pick(scalars, {u.code for u in response.fields} - ENVELOPE)
    for meta in response.datasets:
        if datasets.get(meta.name):
            allowed = {u.code for u in meta.fields}
            answer[meta.name] = [_pick(row, allowed) for row in datasets[meta.name]]
    return answer


def _pick(pool: Mapping[str, str], allowed: set[str]) -> Row:
    return {code: value for code, value in pool.items() if code in allowed and value}


# ---------------------------------------------------------------------------- pools


def person_pool(person: Person) -> Row:
    """Everything the mock knows about a person, by wire code (personinfo and friends)."""
    return {
        "aac001": person.aac001, "aac002": person.aac002, "aac003": person.aac003,
        "aac004": person.aac004, "aac006": person.aac006, "bka100": person.bka100,
        "aae005": person.aae005, "baa027": person.baa027, "aab001": person.aab001,
        "bka008": person.bka008, "bka004": person.bka004, "aae140": "410",
        "bka888": FUND_STATUS[person.status], "aaa027": CENTRE_CODE, "aaz267": person.aaz267,
        "bka026": person.bka026, "bka042": person.bka042, "aae030": person.aae030,
        "aae031": person.aae031,
    }


def business_pool(ledger: Ledger, record: Business) -> Row:
    """A visit's or stay's bizinfo: person, institution, the opening request, and derived flags."""
    pool = person_pool(ledger.person(record.aac001))
    pool.update(record.opening)
    pool.update(akb020=record.akb020, akb021=ledger.institution_name(record.akb020),
                aaz218=record.aaz218, bka013=record.registered_on)
    pool.update(_visit_flags(record) if isinstance(record, Visit) else _stay_flags(record))
    return pool


def _visit_flags(visit: Visit) -> Row:
    charges = visit.open_charges()
    flags = {"bka891": "1" if charges else "0"}
    if charges:
        last = charges[-1]
        flags.update(bka045=last.date, bka046=last.operator_code, bka047=last.operator_name)
    return flags


def _stay_flags(stay: Stay) -> Row:
    flags = dict(stay.discharge)
    flags.update(stay.settlement)
    flags["bka891"] = "1" if stay.stage == "settled" else "0"
    flags["bka039"] = "1" if stay.discharge else "0"  # 0 还在院, 1 已出院
    if stay.discharge.get("bka032"):
        flags["bka030"] = str(stay_days(stay))
    return flags


def stay_days(stay: Stay) -> int:
    """住院天数: discharge date minus admission date, at least 1."""
    start = datetime.strptime(stay.admission["bka017"], "%Y%m%d")
    end = datetime.strptime(stay.discharge.get("bka032", stay.admission["bka017"]), "%Y%m%d")
    return max((end - start).days, 1)


# ---------------------------------------------------------------------------- shared rules


def require_insured(person: Person) -> None:
    """Registration and admission need a fund that is neither frozen nor missing."""
    if person.status == "frozen":
        raise Refusal("-1", f"{label('bka888')}: 1 冻结 — the person's work-injury fund is frozen; no new "
                            "business (个人基金已冻结，不能办理业务)")
    if person.status == "not_insured":
        raise Refusal("-1", f"{label('bka888')}: 9 未参保 — the person is not insured for work injury "
                            "(未参加工伤保险，不能办理业务)")


def find_businesses(ledger: Ledger, call: Call, machine: str) -> list[Business]:
    """Visits or stays at the caller's institution by bka895/bka896 (aaz218, bka025, or a person id).

    An unknown aaz218 or person is a Refusal; a known person without business is an empty list.
    """
    kind, value = call.text("bka895"), call.text("bka896")
    if kind == "aaz218":
        return [ledger.business(value, call.akb020, machine)]
    here = [r for r in ledger.records_of(machine) if r.akb020 == call.akb020]
    if kind == "bka025":
        return [r for r in here if r.opening.get("bka025") == value]
    person = person_by_identifier(ledger, kind, value)
    return [r for r in here if r.aac001 == person.aac001]


def person_by_identifier(ledger: Ledger, kind: str, value: str) -> Person:
    person = ledger.person_by(kind, value)
    if person is None:
        raise Refusal("-1", f"{label('bka896')}: no insured person with this {label(kind)} (查无此参保人)")
    return person


def year_totals(ledger: Ledger, aac001: str, year: str) -> dict[str, Decimal]:
    """A person's settled totals in a year: settled stays and committed outpatient batches (net)."""
    sums = {"akc264": ZERO, "bka832": ZERO, "bka831": ZERO}
    settled = [s.settlement for s in ledger.state.stays.values()
               if s.aac001 == aac001 and s.stage == "settled" and s.settlement.get("bka045", "")[:4] == year]
    batches = [b.amounts for v in ledger.state.visits.values() if v.aac001 == aac001
               for b in v.batches if b.date[:4] == year]
    for amounts in settled + batches:
        for code in sums:
            sums[code] += Decimal(amounts[code])
    return sums


def money_of(sums: Mapping[str, Decimal]) -> Row:
    return {code: money(value) for code, value in sums.items()}
