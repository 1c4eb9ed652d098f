"""The mock province's books: sessions, outpatient visits, inpatient stays, and lookups over them.

Plain data (dataclasses of text and dicts) so that a snapshot is JSON and a restart can load it.
No locking here: `MockProvince` holds the one lock around every use of the books.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from adapter.mock.refusal import Refusal, label
from adapter.mock.seed import Person, Seed
from adapter.wire.session import BEIJING
from generated.cities import CITIES, CityMeta
from generated.registry import FUNCTIONS, STAGE_MACHINES

# Sessions end at 24:00 Asia/Shanghai; China has no daylight saving, so a fixed offset is exact.
SHANGHAI = BEIJING  # the province's clock: UTC+8, no daylight saving
SNAPSHOT_FORMAT = 1
# Inpatient stages in which the person counts as "in hospital" (业务互斥 across institutions):
# until settlement ends the business, the stay is open.
IN_HOSPITAL = ("admitted", "discharge_registered")

Row = dict[str, str]


@dataclass
class Session:
    session_id: str
    userid: str
    akb020: str
    expires_at: str  # ISO 8601 with offset


@dataclass
class Batch:
    """One committed outpatient charge (or refund) under a visit: 费用批次 bka001."""

    bka001: int
    rows: list[Row]
    amounts: Row
    date: str  # yyyyMMdd
    operator_code: str
    operator_name: str
    refund_of: list[int] = field(default_factory=list)  # a refund names the batches it reverses
    refunded_by: int | None = None  # a charge names the refund that reversed it

    @property
    def is_refund(self) -> bool:
        return bool(self.refund_of)


@dataclass
class Visit:
    """An outpatient visit (machine `outpatient`), keyed by aaz218."""

    aaz218: str
    akb020: str
    aac001: str
    stage: str
    registered_on: str  # bka013 yyyyMMdd
    registration: Row
    batches: list[Batch] = field(default_factory=list)

    machine = "outpatient"

    @property
    def opening(self) -> Row:
        """The request that opened the business (the registration)."""
        return self.registration

    def open_charges(self) -> list[Batch]:
        return [b for b in self.batches if not b.is_refund and b.refunded_by is None]


@dataclass
class Stay:
    """An inpatient stay (machine `inpatient`), keyed by aaz218."""

    aaz218: str
    akb020: str
    aac001: str
    stage: str
    registered_on: str
    admission: Row
    fees: list[Row] = field(default_factory=list)
    discharge: Row = field(default_factory=dict)
    settlement: Row = field(default_factory=dict)  # amounts + bka045/bka046/bka047 once settled
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # medical-record uploads by fid

    machine = "inpatient"

    @property
    def opening(self) -> Row:
        """The request that opened the business (the admission)."""
        return self.admission


Business = Visit | Stay


@dataclass
class State:
    sessions: dict[str, Session] = field(default_factory=dict)
    visits: dict[str, Visit] = field(default_factory=dict)
    stays: dict[str, Stay] = field(default_factory=dict)
    next_serial: int = 1  # aaz218 serial, shared by visits and stays (one key space)
    next_fee_serial: int = 1  # aaz213 费用序号

    def to_json(self) -> dict[str, Any]:
        return {"format": SNAPSHOT_FORMAT, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"mock state snapshot has format {data.get('format')!r}, "
                             f"expected {SNAPSHOT_FORMAT}")
        visits = {}
        for key, raw in data["visits"].items():
            fields = {k: v for k, v in raw.items() if k != "batches"}
            visits[key] = Visit(**fields, batches=[Batch(**b) for b in raw["batches"]])
        return cls(
            sessions={k: Session(**v) for k, v in data["sessions"].items()},
            visits=visits,
            stays={k: Stay(**v) for k, v in data["stays"].items()},
            next_serial=int(data["next_serial"]),
            next_fee_serial=int(data["next_fee_serial"]),
        )


def stage_text(machine: str, stage: str) -> str:
    """'admitted' -> 'admitted 已入院登记'."""
    names = dict(STAGE_MACHINES[machine].stages)
    return f"{stage} {names.get(stage, '')}".strip()


class Ledger:
    """The books plus what every rule needs: the seed, the city profile, the clock, lookups, new keys."""

    def __init__(self, seed: Seed, clock: Callable[[], datetime], state: State | None = None,
                 city: CityMeta | None = None) -> None:
        self.seed = seed
        self.city = city if city is not None else CITIES[seed.city]
        self._clock = clock
        self.persons_by_id = {p.aac001: p for p in seed.persons}
        self.state = state if state is not None else self._fresh_state()

    # -- time

    def now(self) -> datetime:
        moment = self._clock()
        # A naive clock is read as Shanghai wall time (tests inject simple datetimes).
        return moment.replace(tzinfo=SHANGHAI) if moment.tzinfo is None else moment.astimezone(SHANGHAI)

    def today(self) -> str:
        return self.now().strftime("%Y%m%d")

    # -- state

    def _fresh_state(self) -> State:
        """Empty books, plus the seeded stays of persons already in hospital elsewhere."""
        self.state = State()
        for person in self.seed.persons:
            if person.status == "in_hospital_elsewhere" and person.admitted_at:
                self._seed_stay(person, person.admitted_at)
        return self.state

    def _seed_stay(self, person: Person, akb020: str) -> None:
        admission = {"aka130": "42", "bka006": "420", "aac001": person.aac001, "bka017": self.today(),
                     "bka014": "SEED", "bka015": "种子数据", "bka026": person.bka026 or "S62.001",
                     "bka025": f"ZY{person.aac001}"}
        stay = Stay(aaz218=self.new_aaz218(akb020), akb020=akb020, aac001=person.aac001,
                    stage="admitted", registered_on=self.today(), admission=admission)
        self.state.stays[stay.aaz218] = stay

    def new_aaz218(self, akb020: str) -> str:
        """A new 20-character 就医登记号: 8 institution digits + year + 8-digit serial."""
        digits = "".join(ch for ch in akb020 if ch.isdigit())[-8:].rjust(8, "0")
        serial = self.state.next_serial
        self.state.next_serial += 1
        return f"{digits}{self.now():%Y}{serial:08d}"

    def new_aaz213(self) -> str:
        serial = self.state.next_fee_serial
        self.state.next_fee_serial += 1
        return str(5000000 + serial)

    # -- lookups

    def institution_name(self, akb020: str) -> str:
        return self.seed.institutions.get(akb020, akb020)

    def person(self, aac001: str) -> Person:
        person = self.persons_by_id.get(aac001)
        if person is None:
            raise Refusal("-1", f"{label('aac001')}: no insured person with this number (查无此参保人)")
        return person

    def person_by(self, kind: str, value: str) -> Person | None:
        """A person by 电脑号 / 社会保障号码 / 社保卡号 (bka895 = aac001 / aac002 / bka100)."""
        for person in self.seed.persons:
            if getattr(person, kind, None) == value:
                return person
        return None

    def business(self, aaz218: str, akb020: str, machine: str) -> Business:
        """The visit or stay with this key, at this institution; a Refusal otherwise."""
        books: dict[str, Visit] | dict[str, Stay] = (
            self.state.visits if machine == "outpatient" else self.state.stays)
        record = books.get(aaz218)
        what = "outpatient visit 门诊业务" if machine == "outpatient" else "inpatient stay 住院业务"
        if record is None or record.akb020 != akb020:
            raise Refusal("-1", f"{label('aaz218')}: no such {what} at {akb020} (无此就医登记号)")
        return record

    def visit(self, aaz218: str, akb020: str) -> Visit:
        record = self.business(aaz218, akb020, "outpatient")
        assert isinstance(record, Visit)
        return record

    def stay(self, aaz218: str, akb020: str) -> Stay:
        record = self.business(aaz218, akb020, "inpatient")
        assert isinstance(record, Stay)
        return record

    def any_business(self, aaz218: str) -> Business | None:
        return self.state.visits.get(aaz218) or self.state.stays.get(aaz218)

    def records_of(self, machine: str) -> Iterator[Business]:
        yield from (self.state.visits if machine == "outpatient" else self.state.stays).values()

    def open_stay_of(self, aac001: str) -> Stay | None:
        """The person's stay that is still open anywhere (the 业务互斥 rule), if any."""
        for stay in self.state.stays.values():
            if stay.aac001 == aac001 and stay.stage in IN_HOSPITAL:
                return stay
        return None

    def advance(self, record: Business, function_id: str) -> None:
        """Move a visit or stay to the stage the registry says this function leads to."""
        rule = FUNCTIONS[function_id].stage
        if rule is not None and rule.leads_to is not None:
            record.stage = rule.leads_to
