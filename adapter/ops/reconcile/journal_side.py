"""The journal's side: what our ok state-changing entries of the day did, per business.

The journalled requests and answers are read as the generated typed models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from adapter.errors import XmlRefusedError
from adapter.ops.reconcile.amounts import NOTHING, Amounts, amounts_of
from adapter.wire.client import converters
from adapter.wire.codec import decode
from adapter.wire.journal import Entry, Journal, Status
from adapter.wire.typed import rows_of, value_of
from generated.registry import FUNCTIONS, OPENERS

# What each state-changing function means for the books (function_id -> role).
OPENS = frozenset(OPENERS.values())  # registration / admission
CANCELS = frozenset(FUNCTIONS[f].compensation for f in OPENS)  # cancel registration / admission
OUTPATIENT_CHARGE = "bizh110105"  # a charge, or a refund with negative rows; bka893=1 commits
SETTLEMENT = "bizh120106"
SETTLEMENT_CANCEL = FUNCTIONS[SETTLEMENT].compensation
COMMIT = "1"  # bka893 结算收费 (0 is a trial that saves nothing)
OPEN_STATUSES = (Status.UNKNOWN, Status.PENDING)
EVERYTHING = 1_000_000  # Journal.list needs a limit; a hospital's day is far below it


@dataclass
class JournalBusiness:
    """What our journal says one visit or stay did on the day."""

    kind: str
    aaz218: str
    opened: bool = False
    cancelled: bool = False
    has_money: bool = False
    net: Amounts | None = NOTHING  # None: an ok entry whose amounts were never recorded
    batches: dict[str, Amounts] = field(default_factory=dict)  # outpatient bka001 -> amounts
    entries: list[int] = field(default_factory=list)

    @property
    def must_be_in_his(self) -> bool:
        """Opened that day and still open, or money moved that day (docs: which rows the HIS lists)."""
        return (self.opened and not self.cancelled) or self.has_money

    def add_money(self, batch: str, amounts: Amounts | None) -> None:
        self.has_money = True
        if batch and amounts is not None:
            self.batches[batch] = amounts
        self.net = None if self.net is None or amounts is None else self.net + amounts


@dataclass
class JournalDay:
    businesses: dict[tuple[str, str], JournalBusiness] = field(default_factory=dict)
    unknown: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def business(self, kind: str, aaz218: str) -> JournalBusiness:
        return self.businesses.setdefault((kind, aaz218), JournalBusiness(kind, aaz218))


def kind_of(function_id: str) -> str | None:
    """outpatient / inpatient for a state-changing function (its stage machine), else None."""
    meta = FUNCTIONS.get(function_id)
    if meta is None or meta.kind != "state_changing" or meta.stage is None:
        return None
    return meta.stage.machine


def _journalled(entry: Entry, part: str) -> Any:
    """The entry's request or answer as the generated typed model; None when there is none."""
    text = entry.request_xml if part == "request" else entry.response_xml
    if not text:
        return None
    try:
        values = decode(text.encode("utf-8"), entry.function_id, part).values  # type: ignore[arg-type]
    except XmlRefusedError:
        return None
    module = converters(entry.function_id)
    return module.parse_request(values) if part == "request" else module.parse_answer(values)


def read_journal(journal: Journal, day: date, institution: str | None = None) -> JournalDay:
    """The day's state-changing entries, per business (entries in the order they were written);
    only `institution`'s in a journal several institutions share."""
    result = JournalDay()
    for entry in sorted(journal.list(day=day, institution=institution, limit=EVERYTHING), key=lambda e: e.id):
        kind = kind_of(entry.function_id)
        if kind is None:
            continue
        if entry.status in OPEN_STATUSES:
            result.unknown.append(entry)
            if entry.aaz218:
                result.business(kind, entry.aaz218).entries.append(entry.id)
        elif entry.status == Status.OK:
            _apply(journal, result, kind, entry)
    return result


def _apply(journal: Journal, day: JournalDay, kind: str, entry: Entry) -> None:
    """One ok entry's effect on its business (rejected and failed entries changed nothing)."""
    response = _journalled(entry, "response")
    aaz218 = entry.aaz218 or str((value_of(response, "aaz218") if response is not None else None) or "")
    if not aaz218:
        return
    business = day.business(kind, aaz218)
    business.entries.append(entry.id)
    function_id = entry.function_id
    if function_id in OPENS:
        business.opened = True
    elif function_id in CANCELS:
        business.cancelled = True
    elif function_id == OUTPATIENT_CHARGE:
        _apply_charge(day, business, entry, response)
    elif function_id == SETTLEMENT:
        business.add_money("", _noted(day, entry, amounts_of(response, "akc264", "bka831", "bka832")))
    elif function_id == SETTLEMENT_CANCEL:
        settled = _settlement_before(journal, entry)
        business.add_money("", _noted(day, entry, settled.negated() if settled else None))


def _apply_charge(day: JournalDay, business: JournalBusiness, entry: Entry, response: Any) -> None:
    request = _journalled(entry, "request")
    if request is None or value_of(request, "bka893") != COMMIT:
        return  # a trial: nothing saved at the province
    rows = rows_of(response, "payinfo") if response is not None else ()
    pay = rows[0] if rows else None
    batch = value_of(pay, "bka001") if pay is not None else None
    business.add_money(str(batch if batch is not None else f"entry {entry.id}"),
                       _noted(day, entry, amounts_of(pay, "akc264", "bka831", "bka832")))


def _noted(day: JournalDay, entry: Entry, amounts: Amounts | None) -> Amounts | None:
    """Amounts as journalled; a note when an ok entry has none (e.g. resolved after a lost answer)."""
    if amounts is None:
        key = entry.aaz218 or "no aaz218"
        day.notes.append(f"journal entry {entry.id} {entry.function_id} ({key}) is ok but holds no amounts"
                         " (its answer was lost and the outcome resolved later); "
                         "the other sides are compared without it")
    return amounts


def _settlement_before(journal: Journal, cancel: Entry) -> Amounts | None:
    """The amounts of the stay's last ok settlement journalled before `cancel` (any day)."""
    settlements = journal.list(aaz218=cancel.aaz218, function_id=SETTLEMENT, status=Status.OK,
                               limit=EVERYTHING)
    for entry in settlements:  # newest first
        if entry.id < cancel.id:
            return amounts_of(_journalled(entry, "response"), "akc264", "bka831", "bka832")
    return None
