"""The inpatient and outpatient lifecycles as a hypothesis state machine, through the real Client.

Each run gets a fresh mock (create_app(), reached through InProcessTransport: the XML wire, no
socket; its clock fixed, so no session expires and every date is the same day) and a journal in
its own temporary directory. The machine keeps its own model of every
stay and visit — the stage it should be in, the fee rows it holds, its settlement, its charge
and refund batches — and applies every state-changing function (admission to its cancellation,
fees, discharge, settlement and their reversals, admission changes, medical-record uploads;
registration, charges, trials, refunds, cancellation) to ANY stay or visit, so illegal
transitions are attempted as often as legal ones:

- a call the model says is legal must succeed;
- a call the model says is illegal must raise BusinessError and leave the mock's books unchanged;
- at the end of a run the journal holds every exchange: answered ones ok, refused ones rejected.

The model's transition table is written here from the spec's prose (02 §A.2), not read from the
registry, so the mock (which does read the registry) is checked against an independent oracle;
one test checks that the two tables agree.

Invariants after every step: every stay and visit is in the stage the model expects; nobody is
in hospital twice; a stay is settled at most once (until its settlement is cancelled); for the
stay or visit the step changed, the amounts the province reports (120003, 120206, 120113,
110102, 410004) equal the model's sums of the uploaded rows, with akc264 = bka831 + bka832.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from seed_login import AKB020, FEE_ROWS_PER_CALL, PASSWORD
from seed_login import USERID as USER

from adapter.errors import BusinessError
from adapter.his import mapping
from adapter.mock.app import context_of, create_app
from adapter.mock.inprocess import InProcessTransport
from adapter.mock.province import MockProvince
from adapter.mock.seed import default_seed
from adapter.mock.style import AnswerStyle
from adapter.wire.client import Client
from adapter.wire.config import Settings
from adapter.wire.invariants import breaches, unmet
from generated.registry import FUNCTIONS, LOGIN

NOW = datetime(2026, 6, 15, 10, 0)  # the mock's clock (Beijing wall time), fixed
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
EXAMPLES: dict[str, Any] = json.loads(
    resources.files("generated").joinpath("examples.json").read_text(encoding="utf-8")
)
SEED = default_seed()
STATUS = {person.aac001: person.status for person in SEED.persons}
# Mostly persons with a valid injury recognition; now and then one the province must refuse:
# 03 fund frozen, 04 not insured, 05 already in hospital at another institution.
VALID = ["1000000001", "1000000002", "1000000006", "1000000007"]
REFUSED = ["1000000003", "1000000004", "1000000005"]
# Weighted towards the first two, so one person's stays meet often (业务互斥 gets exercised).
PERSONS = st.sampled_from([*VALID[:1] * 4, *VALID[1:2] * 3, *VALID[2:] * 2, *REFUSED])
# Catalogue items (self-pay or not, from the seed) and one item the catalogue does not know.
ITEMS = [(code, entry.name, entry.self_pay) for code, entry in SEED.catalogue.items()]
ITEMS.append(("QT9999", "目录外测试项目", False))

# The stage machines as the spec describes them (02 §A.2 and the function files), written out
# here: function -> (allowed in, leads to).
INPATIENT: dict[str, tuple[frozenset[str], str | None]] = {
    "bizh120002": (frozenset({"admitted"}), None),
    "bizh120004": (frozenset({"admitted"}), None),
    "bizh120105": (frozenset({"admitted"}), "discharge_registered"),
    "bizh120106": (frozenset({"discharge_registered"}), "settled"),
    "bizh120107": (frozenset({"settled"}), "discharge_registered"),
    "bizh120108": (frozenset({"discharge_registered"}), "admitted"),
    "bizh120109": (frozenset({"admitted"}), "cancelled"),
    "bizh120104": (frozenset({"admitted"}), None),
    # medical records: any time after admission (no source ties them to discharge, D31)
    **{f"bizh20010{n}": (frozenset({"admitted", "discharge_registered", "settled"}), None) for n in range(1, 7)},
}
OUTPATIENT: dict[str, tuple[frozenset[str], str | None]] = {
    "bizh110105": (frozenset({"registered", "charged"}), "charged"),
    "bizh110106": (frozenset({"registered"}), "cancelled"),
}
IN_HOSPITAL = frozenset({"admitted", "discharge_registered"})


# --------------------------------------------------------------------------- fee rows


@dataclass(frozen=True)
class Fee:
    item: str
    name: str
    self_pay: bool
    price: Decimal  # bka056, 4 places
    quantity: Decimal  # bka057, 2 places

    @property
    def amount(self) -> Decimal:  # bka058 = price x quantity, to the cent
        return (self.price * self.quantity).quantize(CENT, rounding=ROUND_HALF_UP)

    def row(self, *, inpatient: bool) -> dict[str, str]:
        row = {"ake005": self.item, "ake006": self.name, "bka056": f"{self.price:.4f}",
               "bka057": f"{self.quantity:.2f}", "bka058": f"{self.amount:.2f}", "bka051": "20190508"}
        if inpatient:
            row.update(bka063="T001", bka064="测试操作员")
        return row


@st.composite
def fees(draw: st.DrawFn) -> Fee:
    item, name, self_pay = draw(st.sampled_from(ITEMS))
    price = draw(st.decimals(min_value=0, max_value=Decimal("99999.9999"), places=4))
    quantity = draw(st.decimals(min_value=CENT, max_value=Decimal("999.99"), places=2))
    return Fee(item, name, self_pay, price, quantity)


FEE_ROWS = st.lists(fees(), min_size=1, max_size=FEE_ROWS_PER_CALL)


@dataclass
class Sums:
    total: Decimal = ZERO  # akc264
    self_pay: Decimal = ZERO  # bka825 = bka831 under the mock's rule

    @classmethod
    def of(cls, rows: list[Fee]) -> Sums:
        return cls(sum((f.amount for f in rows), ZERO), sum((f.amount for f in rows if f.self_pay), ZERO))


# --------------------------------------------------------------------------- the model


@dataclass
class StayModel:
    aaz218: str
    person: str
    stage: str = "admitted"
    fees: list[Fee] = field(default_factory=list)
    settled: Sums | None = None  # the settlement in force
    settlements: int = 0  # 120106 successes minus 120107 successes

    @property
    def sums(self) -> Sums:
        return Sums.of(self.fees)


@dataclass
class BatchModel:
    bka001: int
    sums: Sums
    refund: bool
    refunded: bool = False
    refund_rows: list[dict[str, str]] = field(default_factory=list)  # what reversed it (110103 rows)


@dataclass
class VisitModel:
    aaz218: str
    person: str
    stage: str = "registered"
    batches: list[BatchModel] = field(default_factory=list)

    def open_charges(self) -> list[BatchModel]:
        return [b for b in self.batches if not b.refund and not b.refunded]

    @property
    def net(self) -> Decimal:
        return sum((b.sums.total if not b.refund else -b.sums.total for b in self.batches), ZERO)


def example(function_id: str, **changes: Any) -> dict[str, Any]:
    values = dict(EXAMPLES[function_id][0]["request"])
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def money(value: object) -> Decimal:
    return Decimal(str(value))


def check_amounts(answer: dict[str, Any], expected: Sums, what: str) -> None:
    total = money(answer["akc264"])
    assert total == expected.total, f"{what}: akc264 {total} != uploaded {expected.total}"
    assert not unmet(answer), f"{what}: {unmet(answer)}"  # spec/'s identities, one evaluator
    assert money(answer["bka825"]) == expected.self_pay, f"{what}: bka825 != self-pay {expected.self_pay}"


# --------------------------------------------------------------------------- the machine


class Lifecycles(RuleBasedStateMachine):
    STYLE = AnswerStyle()  # how the mock writes its answers; RealShapedLifecycles: the real style

    def __init__(self) -> None:
        super().__init__()
        self.scratch = Path(tempfile.mkdtemp(prefix="gdwi-stateful-"))
        self.app = create_app(MockProvince(clock=lambda: NOW), style=self.STYLE)
        self.province = context_of(self.app).province
        settings_ = Settings(base_url="http://mock.invalid", userid=USER, password=PASSWORD, akb020=AKB020,
                             journal_path=str(self.scratch / "journal.sqlite"))
        self.client = Client(settings_, http_transport=InProcessTransport(self.app))
        self.client.session.get()
        self.stay_models: dict[str, StayModel] = {}
        self.visit_models: dict[str, VisitModel] = {}
        self.touched: StayModel | VisitModel | None = None
        self.answered = self.rejected = 0

    def teardown(self) -> None:
        try:
            # The journal holds every exchange, settled: answered ones ok, refused ones rejected.
            entries = self.client.journal.list(limit=1_000_000)
            statuses = Counter(e.status.value for e in entries if e.function_id != LOGIN)
            assert statuses == Counter({"ok": self.answered, "rejected": self.rejected}), statuses
            assert all(e.status.value == "ok" for e in entries if e.function_id == LOGIN)
        finally:
            self.client.close()
            self.client.journal.close()
            shutil.rmtree(self.scratch, ignore_errors=True)

    # ----------------------------------------------------------------------- calling

    def legal(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """A call the model says is allowed: it must succeed."""
        try:
            answer = self.client.call_wire(function_id, values)
        except BusinessError as exc:
            raise AssertionError(f"{function_id} should have been accepted: {exc}") from None
        self.answered += 1
        return answer

    def refused(self, function_id: str, values: dict[str, Any]) -> None:
        """A call the model says is not allowed: BusinessError, and the books are unchanged."""
        before = self.books()
        with pytest.raises(BusinessError):
            self.client.call_wire(function_id, values)
        self.rejected += 1
        assert self.books() == before, f"refused {function_id} changed the mock's books"
        self.touched = None  # nothing changed: no amounts to check again

    def pick_stay(self, data: st.DataObject) -> str:
        return self._pick(data, self.stay_models, frozenset({*IN_HOSPITAL, "settled"}))

    def pick_visit(self, data: st.DataObject) -> str:
        return self._pick(data, self.visit_models, frozenset({"registered", "charged"}))

    @staticmethod
    def _pick(data: st.DataObject, records: dict[str, Any], live: frozenset[str]) -> str:
        """Any stay or visit, cancelled ones too; those still in play three times as likely."""
        keys = list(records)
        weighted = [k for k in keys if records[k].stage in live] * 2 + keys
        return data.draw(st.sampled_from(weighted), label="aaz218")

    def books(self) -> dict[str, Any]:
        """The mock's business state: visits, stays, serial numbers (sessions are not business)."""
        return {k: v for k, v in self.province.snapshot().items() if k != "sessions"}

    def call(self, function_id: str, values: dict[str, Any], allowed: bool) -> dict[str, Any] | None:
        if allowed:
            return self.legal(function_id, values)
        self.refused(function_id, values)
        return None

    # ----------------------------------------------------------------------- inpatient

    @rule(person=PERSONS)
    def admit(self, person: str) -> None:
        in_hospital = any(s.person == person and s.stage in IN_HOSPITAL for s in self.stay_models.values())
        allowed = STATUS[person] == "valid" and not in_hospital
        answer = self.call("bizh120103", example("bizh120103", aac001=person), allowed)
        if answer is None:
            return
        stay = StayModel(str(answer["aaz218"]), person)
        assert stay.aaz218 not in self.stay_models, "a new stay reuses an aaz218"
        self.stay_models[stay.aaz218] = stay
        self.touched = stay

    @precondition(lambda self: any(s.stage in ("settled", "cancelled") for s in self.stay_models.values()))
    @rule(data=st.data())
    def readmit(self, data: st.DataObject) -> None:
        """A person whose stay was settled or cancelled comes back (and is refused while still in)."""
        people = sorted({s.person for s in self.stay_models.values() if s.stage in ("settled", "cancelled")})
        self.admit(data.draw(st.sampled_from(people), label="aac001"))

    def _stay_step(self, function_id: str, aaz218: str, values: dict[str, Any],
                   extra_rule: bool = True) -> tuple[StayModel, dict[str, Any] | None]:
        stay = self.stay_models[aaz218]
        self.touched = stay
        allowed_in, leads_to = INPATIENT[function_id]
        answer = self.call(function_id, values, stay.stage in allowed_in and extra_rule)
        if answer is not None and leads_to is not None:
            stay.stage = leads_to
        return stay, answer

    @precondition(lambda self: bool(self.stay_models))
    @rule(data=st.data(), rows=FEE_ROWS)
    def add_fees(self, data: st.DataObject, rows: list[Fee]) -> None:
        aaz218 = self.pick_stay(data)
        values = {"aaz218": aaz218, "feeinfo": [f.row(inpatient=True) for f in rows]}
        stay, answer = self._stay_step("bizh120002", aaz218, values)
        if answer is not None:
            stay.fees.extend(rows)

    @precondition(lambda self: bool(self.stay_models))
    @rule(data=st.data())
    def delete_fees(self, data: st.DataObject) -> None:
        aaz218 = self.pick_stay(data)
        stay, answer = self._stay_step("bizh120004", aaz218, example("bizh120004", aaz218=aaz218))
        if answer is not None:
            stay.fees.clear()

    @precondition(lambda self: bool(self.stay_models))
    @rule(data=st.data())
    def discharge(self, data: st.DataObject) -> None:
        aaz218 = self.pick_stay(data)
        stay, answer = self._stay_step("bizh120105", aaz218, example("bizh120105", aaz218=aaz218))
        if answer is not None:
            check_amounts(answer, stay.sums, "bizh120105 discharge")

    @precondition(lambda self: bool(self.stay_models))
    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        aaz218 = self.pick_stay(data)
        stay, answer = self._stay_step("bizh120106", aaz218, example("bizh120106", aaz218=aaz218))
        if answer is not None:
            check_amounts(answer, stay.sums, "bizh120106 settlement")
            stay.settled = stay.sums
            stay.settlements += 1

    @precondition(lambda self: bool(self.stay_models))
    @rule(data=st.data())
    def cancel_settlement(self, data: st.DataObject) -> None:
        aaz218 = self.pick_stay(data)
        # Undoing a settlement puts the person back in hospital: not while another stay is open.
        stay = self.stay_models[aaz218]
        elsewhere = any(s.person == stay.person and s.stage in IN_HOSPITAL and s is not stay
                        for s in self.stay_models.values())
        stay, answer = self._stay_step("bizh120107", aaz218, example("bizh120107", aaz218=aaz218),
                                       extra_rule=not elsewhere)
        if answer is not None:
            stay.settled = None
            stay.settlements -= 1

    @precondition(lambda self: bool(self.stay_models))
    @rule(data=st.data())
    def cancel_discharge(self, data: st.DataObject) -> None:
        aaz218 = self.pick_stay(data)
        self._stay_step("bizh120108", aaz218, example("bizh120108", aaz218=aaz218))

    @precondition(lambda self: bool(self.stay_models))
    @rule(data=st.data())
    def cancel_admission(self, data: st.DataObject) -> None:
        aaz218 = self.pick_stay(data)
        self._stay_step("bizh120109", aaz218, example("bizh120109", aaz218=aaz218))

    @precondition(lambda self: bool(self.stay_models))
    @rule(data=st.data(), bed=st.integers(min_value=1, max_value=99))
    def modify_admission(self, data: st.DataObject, bed: int) -> None:
        aaz218 = self.pick_stay(data)
        values = example("bizh120104", aaz218=aaz218, bka023=str(bed))
        self._stay_step("bizh120104", aaz218, values)

    @precondition(lambda self: bool(self.stay_models))
    @rule(data=st.data(), part=st.integers(min_value=1, max_value=6))
    def upload_medical_record(self, data: st.DataObject, part: int) -> None:
        aaz218 = self.pick_stay(data)
        function_id = f"bizh20010{part}"
        self._stay_step(function_id, aaz218, example(function_id, aaz218=aaz218))

    # ----------------------------------------------------------------------- outpatient

    @rule(person=PERSONS)
    def register(self, person: str) -> None:
        allowed = STATUS[person] in ("valid", "in_hospital_elsewhere")  # no mutual exclusion here
        values = example("bizh110104", aac001=person, bka893=None, aaz267=None, bka042=None)
        answer = self.call("bizh110104", values, allowed)
        if answer is None:
            return
        visit = VisitModel(str(answer["aaz218"]), person)
        assert visit.aaz218 not in self.visit_models, "a new visit reuses an aaz218"
        self.visit_models[visit.aaz218] = visit
        self.touched = visit

    @precondition(lambda self: bool(self.visit_models))
    @rule(data=st.data(), rows=FEE_ROWS, commit=st.booleans())
    def charge(self, data: st.DataObject, rows: list[Fee], commit: bool) -> None:
        """110105 with bka893=1 commits a new batch; bka893=0 is a trial that changes nothing."""
        aaz218 = self.pick_visit(data)
        visit = self.visit_models[aaz218]
        self.touched = visit
        allowed_in, leads_to = OUTPATIENT["bizh110105"]
        values = example("bizh110105", aaz218=aaz218, bka893="1" if commit else "0",
                         feeinfo=[f.row(inpatient=False) for f in rows])
        before = self.books()
        answer = self.call("bizh110105", values, visit.stage in allowed_in)
        if answer is None:
            return
        pay = answer["payinfo"][0]
        check_amounts(pay, Sums.of(rows), "bizh110105 charge")
        if not commit:
            assert self.books() == before, "a trial charge (bka893=0) changed the mock's books"
            return
        batch = BatchModel(len(visit.batches) + 1, Sums.of(rows), refund=False)
        assert pay["bka001"] == str(batch.bka001)
        visit.batches.append(batch)
        assert leads_to is not None
        visit.stage = leads_to

    @precondition(lambda self: bool(self.visit_models))
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        """110103 fetches batch `number` (0: every open charge) negated; 110105 sends it back.

        Any batch of the visit: an open charge, a refunded one, a refund, or one that does not exist.
        """
        aaz218 = self.pick_visit(data)
        visit = self.visit_models[aaz218]
        self.touched = visit
        number = data.draw(st.sampled_from([0, *(b.bka001 for b in visit.batches), len(visit.batches) + 1]))
        if number == 0:
            targets = visit.open_charges()
        else:
            targets = [b for b in visit.batches if b.bka001 == number and not b.refund and not b.refunded]
        lookup = example("bizh110103", bka895="aaz218", bka896=aaz218, bka001=str(number))
        found = self.call("bizh110103", lookup, bool(targets))
        if found is None:
            return
        # Sent back as the HIS layer does: the province's rows, at the spec's decimal places.
        rows = mapping.at_spec_scale(found["feeinfo"])
        expected = sum((b.sums.total for b in targets), ZERO)
        assert sum((money(r["bka058"]) for r in rows), ZERO) == -expected
        allowed_in, _ = OUTPATIENT["bizh110105"]
        assert visit.stage in allowed_in
        values = example("bizh110105", aaz218=aaz218, bka893="1", feeinfo=rows)
        pay = self.legal("bizh110105", values)["payinfo"][0]
        refund = BatchModel(len(visit.batches) + 1, Sums(expected, sum((b.sums.self_pay for b in targets), ZERO)),
                            refund=True)
        check_amounts(pay, Sums(-refund.sums.total, -refund.sums.self_pay), "bizh110105 refund")
        assert pay["bka001"] == str(refund.bka001)
        for batch in targets:
            batch.refunded = True
            batch.refund_rows = rows
        visit.batches.append(refund)
        visit.stage = "charged" if visit.open_charges() else "registered"

    @precondition(lambda self: bool(self.visit_models))
    @rule(data=st.data())
    def refund_again(self, data: st.DataObject) -> None:
        """Sending a batch's refund rows a second time: a batch is refunded at most once."""
        aaz218 = self.pick_visit(data)
        visit = self.visit_models[aaz218]
        done = [b for b in visit.batches if b.refunded]
        if not done:
            return
        self.touched = visit
        values = example("bizh110105", aaz218=aaz218, bka893="1", feeinfo=done[-1].refund_rows)
        self.refused("bizh110105", values)

    @precondition(lambda self: bool(self.visit_models))
    @rule(data=st.data())
    def cancel_registration(self, data: st.DataObject) -> None:
        aaz218 = self.pick_visit(data)
        visit = self.visit_models[aaz218]
        self.touched = visit
        allowed_in, leads_to = OUTPATIENT["bizh110106"]
        if self.call("bizh110106", example("bizh110106", aaz218=aaz218), visit.stage in allowed_in):
            assert leads_to is not None
            visit.stage = leads_to

    # ----------------------------------------------------------------------- invariants

    @invariant()
    def stages_agree(self) -> None:
        for record in [*self.stay_models.values(), *self.visit_models.values()]:
            assert self.province.stage_of(record.aaz218) == record.stage, record

    @invariant()
    def nobody_is_in_hospital_twice(self) -> None:
        # The mock's own stages (a refused call creating a stay would already have failed `refused`).
        open_stays = Counter(s.person for s in self.stay_models.values()
                             if self.province.stage_of(s.aaz218) in IN_HOSPITAL)
        assert all(count == 1 for count in open_stays.values()), open_stays

    @invariant()
    def settled_at_most_once(self) -> None:
        for stay in self.stay_models.values():
            assert stay.settlements == (1 if stay.stage == "settled" else 0), stay

    @invariant()
    def amounts_match_the_uploaded_rows(self) -> None:
        """For the stay or visit this step changed: what the province reports equals the model."""
        record, self.touched = self.touched, None
        if isinstance(record, StayModel):
            self._check_stay(record)
        elif isinstance(record, VisitModel):
            self._check_visit(record)
        if record is not None:
            self._check_year_totals(record.person)

    def _check_stay(self, stay: StayModel) -> None:
        presettle = example("bizh120003", aaz218=stay.aaz218)
        if stay.stage == "cancelled":
            self.refused("bizh120003", presettle)
            return
        check_amounts(self.legal("bizh120003", presettle), stay.settled or stay.sums, "bizh120003")
        listed = self.legal("bizh120113", example("bizh120113", aaz218=stay.aaz218, operate="2"))
        rows = listed.get("list", [])
        assert len(rows) == len(stay.fees)
        assert sum((money(r["money"]) for r in rows), ZERO) == stay.sums.total, "bizh120113 fee list"
        sheet = example("bizh120206", aaz218=stay.aaz218)
        if stay.stage != "settled":
            self.refused("bizh120206", sheet)
            return
        assert stay.settled is not None
        answer = self.legal("bizh120206", sheet)
        total = money(answer["bka979"])
        assert total == stay.settled.total, f"bizh120206: bka979 {total} != {stay.settled.total}"
        assert not breaches("bizh120206", answer), breaches("bizh120206", answer)
        closing = answer["fundList"][-1]
        assert closing["bka800"] == "合计" and money(closing["bka801_7"]) == total

    def _check_visit(self, visit: VisitModel) -> None:
        answer = self.legal("bizh110102", example("bizh110102", bka895="aaz218", bka896=visit.aaz218))
        rows = answer.get("bizinfo", [])
        if visit.stage == "cancelled":
            assert rows == [], "a cancelled visit is still listed by bizh110102"
            return
        assert [r["aaz218"] for r in rows] == [visit.aaz218]
        assert rows[0]["bka891"] == ("1" if visit.open_charges() else "0")

    def _check_year_totals(self, person: str) -> None:
        """410004: this year's settled stays plus outpatient batches (net of refunds)."""
        answer = self.legal("bizh410004", example("bizh410004", aac001=person, aae001=None))
        totals = {row["aka036"]: money(row["ake053"]) for row in answer["totalinfo"]}
        settled = sum((s.settled.total for s in self.stay_models.values()
                       if s.person == person and s.settled is not None), ZERO)
        outpatient = sum((v.net for v in self.visit_models.values() if v.person == person), ZERO)
        assert totals["医疗总费用累计"] == settled + outpatient, (person, totals)


TestLifecycles = Lifecycles.TestCase
# 50 steps rather than 20: the deepest bug found so far (cancelling a settlement after the person
# was admitted again, see the test below) needs five particular steps on one person. Measured
# with that bug put back: 20-step runs never reached it (0 of 13), 40-60-step runs about one in
# four. A run of this test takes about 8 s here.
TestLifecycles.settings = settings(
    max_examples=30,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class RealShapedLifecycles(Lifecycles):
    """The same machine against a mock answering as a production platform plausibly does
    (4-decimal amounts, extra and empty elements, unlisted codes): every invariant must hold to the
    cent. Fewer runs than the strict machine (10, not 30): the style changes how answers are
    written, not the rules the machine explores, and the suite has to stay fast."""

    STYLE = AnswerStyle("real", seed=11)


TestRealShapedLifecycles = RealShapedLifecycles.TestCase
TestRealShapedLifecycles.settings = settings(
    max_examples=10,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_the_model_agrees_with_the_registry() -> None:
    """The hand-written transition tables say what the generated registry says."""
    for function_id, (allowed_in, leads_to) in {**INPATIENT, **OUTPATIENT}.items():
        stage = FUNCTIONS[function_id].stage
        assert stage is not None
        assert (set(stage.requires), stage.leads_to) == (set(allowed_in), leads_to), function_id


class _Choose:
    """Stands in for hypothesis's `data` when a test drives the machine's rules itself."""

    def __init__(self, aaz218: str) -> None:
        self.aaz218 = aaz218

    def draw(self, strategy: object, label: object = None) -> str:
        del strategy, label
        return self.aaz218


def test_cancelling_a_settlement_never_puts_a_person_in_hospital_twice() -> None:
    """The sequence the machine found: settle, admit the person again, cancel the first settlement."""
    machine = Lifecycles()
    try:
        machine.admit("1000000001")
        first = _Choose(next(iter(machine.stay_models)))
        machine.discharge(first)
        machine.settle(first)
        machine.admit("1000000001")
        second = [key for key in machine.stay_models if key != first.aaz218]
        machine.cancel_settlement(first)  # the model expects a refusal with nothing changed
        machine.nobody_is_in_hospital_twice()
        machine.stages_agree()
        stages = [machine.stay_models[key].stage for key in (first.aaz218, *second)]
        assert stages == ["settled", "admitted"]
    finally:
        machine.teardown()
