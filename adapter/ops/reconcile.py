"""Reconciliation (对账) of one day: our journal, the province and the HIS, business by business.

The users' loudest complaint is books that do not match (差账): registrations the province never
received, refunds on one side only, totals 61.0 apart, "mysteriously fine again". This module
puts the three sides next to each other for one day and lists every difference; `gdwi reconcile`
exits 0 only when there is none. The three sides (details in docs/reconciliation.md):

  journal   `ok` state-changing entries of the day: registrations/admissions (bizh110104 /
            bizh120103), cancellations (bizh110106 / bizh120109), outpatient charges and refunds
            (bizh110105 with bka893=1: payinfo akc264 / bka831 / bka832 per batch bka001),
            inpatient settlements (bizh120106) and their cancellations (bizh120107, which
            reverse the stay's journalled settlement). Entries still `unknown` or `pending` are
            differences of their own: nobody knows yet what the province did.
  province  asked per business, because the interface has no "list the day" transaction:
            outpatient bizh110102 (is the registration live, bka891 charged?) and bizh110103
            with bka001=0 (the rows of every charge not refunded: the visit's open balance);
            inpatient bizh120102 (live? bka891 settled, bka045 on which day?) and bizh120206
            (bka979 总费用 / bka812 个人 / bka811 工伤保险 of the settlement).
  HIS       the HIS's export of the day, a CSV file (read_his_csv, docs/reconciliation.md).

The businesses compared are those the journal or the HIS names for the day. The journal writes
every request down before sending it, so a business the province holds but neither knows about
can only come from another system using our institution code; the reconciliation cannot see it.
bizh410004 (累计查询) is not used: it gives one person's year-to-date totals, not a day's.

Both the journalled answers and the province's are read as the generated typed models (Decimal
amounts, whole-number batches); the queries go out on the client's typed path.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from adapter.errors import BusinessError, ContractError, HisExportError, XmlRefusedError
from adapter.wire.client import converters
from adapter.wire.codec import decode
from adapter.wire.invariants import evaluate, invariant
from adapter.wire.journal import Entry, Journal, Status
from adapter.wire.masking import scrub
from adapter.wire.typed import WireCaller, request_by_codes, rows_of, send_typed, value_of
from generated.registry import FUNCTIONS, OPENERS

__all__ = [
    "Amounts",
    "Finding",
    "HisExport",
    "HisExportError",
    "HisRow",
    "Report",
    "csv_rows",
    "read_his_csv",
    "read_journal",
    "reconcile",
    "render_html",
    "write_csv",
]

ZERO = Decimal("0.00")
KINDS = ("outpatient", "inpatient")
# What each state-changing function means for the books (function_id -> role).
OPENS = frozenset(OPENERS.values())  # registration / admission
CANCELS = frozenset(FUNCTIONS[f].compensation for f in OPENS)  # cancel registration / admission
OUTPATIENT_CHARGE = "bizh110105"  # a charge, or a refund with negative rows; bka893=1 commits
SETTLEMENT = "bizh120106"
SETTLEMENT_CANCEL = FUNCTIONS[SETTLEMENT].compensation


def _confirming(function_id: str, role: str) -> str:
    """A read-only query spec/ names to read back a state change (its `confirm`), by role."""
    confirm = FUNCTIONS[function_id].confirm
    assert confirm is not None, function_id  # every state-changing function declares one
    return confirm.query(role)


# The province side asks the queries spec/ declares for reading back outcomes.
VISIT_LISTING = _confirming(OPENERS["outpatient"], "listing")  # bizh110102
STAY_LISTING = _confirming(OPENERS["inpatient"], "listing")  # bizh120102
CHARGED_BATCHES = _confirming(OUTPATIENT_CHARGE, "batches")  # bizh110103
SETTLEMENT_SHEET = _confirming(SETTLEMENT, "sheet")  # bizh120206
COMMIT = "1"  # bka893 结算收费 (0 is a trial that saves nothing)
OPEN_STATUSES = (Status.UNKNOWN, Status.PENDING)
EVERYTHING = 1_000_000  # Journal.list needs a limit; a hospital's day is far below it

# Finding categories.
UNKNOWN_OUTCOME = "unknown_outcome"
MISSING = "missing"
MISMATCH = "amount_mismatch"
INCONSISTENT = "inconsistent"
UNVERIFIABLE = "unverifiable"  # the province knows the business but its figure cannot be read
AGREES = "agrees"  # not a finding: a business where the three sides agree (listed with --all)

TEMPLATES = Path(__file__).resolve().parent / "templates"


# ---------------------------------------------------------------------------- amounts


@dataclass(frozen=True)
class Amounts:
    """Total (akc264), personal (bka831) and fund (bka832); None where a side cannot tell."""

    total: Decimal
    personal: Decimal | None = None
    fund: Decimal | None = None

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.total + other.total, _plus(self.personal, other.personal),
                       _plus(self.fund, other.fund))

    def negated(self) -> Amounts:
        return Amounts(-self.total, None if self.personal is None else -self.personal,
                       None if self.fund is None else -self.fund)

    def differences(self, other: Amounts) -> dict[str, Decimal]:
        """self - other per part, where both sides know the part and it is not zero."""
        pairs = {"total": (self.total, other.total), "personal": (self.personal, other.personal),
                 "fund": (self.fund, other.fund)}
        return {name: a - b for name, (a, b) in pairs.items() if a is not None and b is not None and a != b}

    def text(self) -> str:
        """'1392.50 (60.00 / 1332.50)': total (personal / fund), parts only where known."""
        parts = [f"{self.total:.2f}"]
        if self.personal is not None or self.fund is not None:
            parts.append(f"({_shown(self.personal)} / {_shown(self.fund)})")  # (个人 / 基金)
        return " ".join(parts)


NOTHING = Amounts(ZERO, ZERO, ZERO)


def _plus(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a + b


def _shown(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _sum(amounts: Iterable[Amounts]) -> Amounts:
    total = NOTHING
    for item in amounts:
        total = total + item
    return total


# ---------------------------------------------------------------------------- the journal


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


def _kind_of(function_id: str) -> str | None:
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


def _amounts(model: Any, total: str, personal: str, fund: str) -> Amounts | None:
    """Amounts of a typed answer or row; None without a readable total."""
    stated = _decimal(value_of(model, total)) if model is not None else None
    if stated is None:
        return None
    return Amounts(stated, _decimal(value_of(model, personal)), _decimal(value_of(model, fund)))


def _decimal(value: object) -> Decimal | None:
    return value if isinstance(value, Decimal) else None


def read_journal(journal: Journal, day: date) -> JournalDay:
    """The day's state-changing entries, per business (entries in the order they were written)."""
    result = JournalDay()
    for entry in sorted(journal.list(day=day, limit=EVERYTHING), key=lambda e: e.id):
        kind = _kind_of(entry.function_id)
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
        business.add_money("", _noted(day, entry, _amounts(response, "akc264", "bka831", "bka832")))
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
                       _noted(day, entry, _amounts(pay, "akc264", "bka831", "bka832")))


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
            return _amounts(_journalled(entry, "response"), "akc264", "bka831", "bka832")
    return None


# ---------------------------------------------------------------------------- the HIS export

HIS_COLUMNS = ("date", "kind", "aaz218", "bka001", "total", "personal", "fund", "his_ref")


@dataclass(frozen=True)
class HisRow:
    line: int
    day: date
    kind: str
    aaz218: str
    bka001: str
    amounts: Amounts
    his_ref: str

    @property
    def is_open_row(self) -> bool:
        """A registration/admission line: no batch, no money."""
        return not self.bka001 and self.amounts == NOTHING


@dataclass(frozen=True)
class HisExport:
    rows: list[HisRow]  # the reconciled day's rows only
    other_days: int  # rows of other days, left out
    encoding: str = "utf-8"  # as read (detected or forced)


# Excel on a Chinese Windows saves "CSV" as GBK; GB18030 reads every GBK file and more.
ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb18030")


def decode_export(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """(text, encoding): a BOM means UTF-8; else UTF-8 if the bytes are UTF-8, else GB18030.
    A forced `encoding` is used as is. UnicodeDecodeError when the bytes do not fit it."""
    if encoding is not None:
        return data.decode(encoding), encoding
    if data.startswith(b"\xef\xbb\xbf"):
        return data.decode("utf-8-sig"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("gb18030"), "gb18030"


def read_his_csv(path: Path, day: date, encoding: str | None = None) -> HisExport:
    """The HIS export (UTF-8 with or without BOM, or GBK/GB18030, detected unless `encoding` is
    given; header row; format in docs/reconciliation.md)."""
    try:
        text, used = decode_export(path.read_bytes(), encoding)
    except OSError as exc:
        raise HisExportError(path, [f"cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise HisExportError(path, [f"not {exc.encoding} at byte {exc.start}: try another --encoding "
                                    f"({', '.join(ENCODINGS)})"]) from None
    except LookupError:
        raise HisExportError(path, [f"unknown encoding {encoding!r} (try {', '.join(ENCODINGS)})"]) from None
    text = text.removeprefix("\ufeff")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in HIS_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise HisExportError(path, [f"header: missing column(s) {', '.join(missing)}"])
    rows: list[HisRow] = []
    problems: list[str] = []
    for number, raw in enumerate(reader, start=2):  # line 1 is the header
        row = _his_row(number, raw, problems)
        if row is not None:
            rows.append(row)
    if problems:
        raise HisExportError(path, problems)
    ours = [row for row in rows if row.day == day]
    return HisExport(ours, len(rows) - len(ours), used)


def _his_row(line: int, raw: Mapping[str, str | None], problems: list[str]) -> HisRow | None:
    values = {k: (raw.get(k) or "").strip() for k in HIS_COLUMNS}
    found = len(problems)
    day = _his_date(values["date"], line, problems)
    if values["kind"] not in KINDS:
        problems.append(f"line {line} kind: {values['kind']!r} is not outpatient or inpatient")
    if not values["aaz218"] or len(values["aaz218"]) > 20:
        problems.append(f"line {line} aaz218: must be 1-20 characters")
    if values["bka001"] and not values["bka001"].isdigit():
        problems.append(f"line {line} bka001: {values['bka001']!r} is not a batch number")
    if values["kind"] == "inpatient" and values["bka001"]:
        problems.append(f"line {line} bka001: inpatient rows have no batch number")
    money = [_his_amount(values[c], c, line, problems) for c in ("total", "personal", "fund")]
    if len(problems) > found or day is None or None in money:
        return None
    total, personal, fund = money
    assert total is not None  # checked just above
    return HisRow(line, day, values["kind"], values["aaz218"], values["bka001"],
                  Amounts(total, personal, fund), values["his_ref"])


def _his_date(text: str, line: int, problems: list[str]) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(f"line {line} date: {text!r} is not YYYY-MM-DD")
        return None


def _his_amount(text: str, column: str, line: int, problems: list[str]) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        problems.append(f"line {line} {column}: {text!r} is not an amount")
        return None
    exponent = value.as_tuple().exponent
    if not value.is_finite() or (isinstance(exponent, int) and exponent < -2):
        problems.append(f"line {line} {column}: {text!r} has more than 2 decimal places")
        return None
    return value


@dataclass
class HisBusiness:
    kind: str
    aaz218: str
    rows: list[HisRow] = field(default_factory=list)

    @property
    def net(self) -> Amounts:
        return _sum(row.amounts for row in self.rows)

    @property
    def has_open_row(self) -> bool:
        return any(row.is_open_row for row in self.rows)

    def batches(self) -> dict[str, list[HisRow]]:
        grouped: dict[str, list[HisRow]] = {}
        for row in self.rows:
            if row.bka001:
                grouped.setdefault(row.bka001, []).append(row)
        return grouped


def _his_businesses(export: HisExport) -> dict[tuple[str, str], HisBusiness]:
    businesses: dict[tuple[str, str], HisBusiness] = {}
    for row in export.rows:
        key = (row.kind, row.aaz218)
        businesses.setdefault(key, HisBusiness(*key)).rows.append(row)
    return businesses


# ---------------------------------------------------------------------------- the province

OUTPATIENT_TREATMENT = "410"  # bka006 工伤门诊 (Zhongshan sends 410 with these queries)
INPATIENT_BUSINESS = "42"  # aka130 工伤住院
ALL_BATCHES = "0"  # bizh110103 bka001=0: every batch (Zhongshan comment)


@dataclass(frozen=True)
class ProvinceBusiness:
    """What the province shows for one business, asked after the fact."""

    known: bool  # the province has this aaz218 at our institution
    live: bool  # and it is not cancelled
    net: Amounts | None  # the money of the day as the province shows it; None: cannot tell
    state: str  # in words, for the report


def look_up(client: WireCaller, kind: str, aaz218: str, day: date) -> ProvinceBusiness:
    """Ask the province about one visit or stay (read-only queries; the client retries them)."""
    try:
        if kind == "outpatient":
            return _outpatient(client, aaz218)
        return _inpatient(client, aaz218, day)
    except BusinessError as exc:
        return ProvinceBusiness(False, False, None, f"unknown to the province: {scrub(exc.message)}")
    except ContractError as exc:
        return ProvinceBusiness(True, True, None, f"unreadable answer: {scrub(str(exc))}")


def _ask(client: WireCaller, query: str, values: Mapping[str, Any]) -> Any:
    """A read-only query named by its role (spec/ `confirm`), filled by wire code, answered typed."""
    return send_typed(client, query, request_by_codes(query, values)).answer


def _by_aaz218(aaz218: str) -> dict[str, str]:
    return {"bka895": "aaz218", "bka896": aaz218}


def _outpatient(client: WireCaller, aaz218: str) -> ProvinceBusiness:
    found = _ask(client, VISIT_LISTING, {**_by_aaz218(aaz218), "bka006": OUTPATIENT_TREATMENT})
    rows = rows_of(found, "bizinfo")
    if not rows:
        # A visit can only be cancelled with every charge refunded: no money left.
        return ProvinceBusiness(True, False, Amounts(ZERO), "no live registration (cancelled)")
    if value_of(rows[0], "bka891") != "1":
        return ProvinceBusiness(True, True, Amounts(ZERO), "registered, nothing charged")
    try:
        open_fees = _ask(client, CHARGED_BATCHES, {**_by_aaz218(aaz218), "bka006": OUTPATIENT_TREATMENT,
                                                   "bka001": ALL_BATCHES})
    except BusinessError as exc:  # the visit is known (bizh110102): only its amount is not
        return ProvinceBusiness(True, True, None, f"charged; bizh110103 refused: {scrub(exc.message)}")
    # The rows come negated, ready to be sent back as a refund; abs() keeps us right whichever
    # sign the province uses. Personal and fund shares are not in these rows.
    amounts = [_decimal(value_of(row, "bka058")) for row in rows_of(open_fees, "feeinfo")]
    if None in amounts:
        return ProvinceBusiness(True, True, None, "charged; a bizh110103 row has no amount bka058")
    balance = abs(sum((a for a in amounts if a is not None), ZERO))
    return ProvinceBusiness(True, True, Amounts(balance), f"charged, {balance:.2f} not refunded")


def _inpatient(client: WireCaller, aaz218: str, day: date) -> ProvinceBusiness:
    found = _ask(client, STAY_LISTING, {**_by_aaz218(aaz218), "aka130": INPATIENT_BUSINESS})
    rows = rows_of(found, "bizinfo")
    if not rows:
        return ProvinceBusiness(True, False, NOTHING, "no live admission (cancelled)")
    row = rows[0]
    if value_of(row, "bka891") != "1":
        stage = "discharge registered" if value_of(row, "bka039") == "1" else "in hospital"
        return ProvinceBusiness(True, True, NOTHING, f"{stage}, not settled")
    settled_on = _day_of(str(value_of(row, "bka045") or ""))
    if settled_on != day:
        return ProvinceBusiness(True, True, NOTHING, f"settled on {settled_on or 'an unknown day'}")
    try:
        sheet = _ask(client, SETTLEMENT_SHEET, {"aaz218": aaz218})
    except BusinessError as exc:  # the stay is known (bizh120102): only its amount is not
        return ProvinceBusiness(True, True, None, f"settled; bizh120206 refused: {scrub(exc.message)}")
    amounts = _amounts(sheet, "bka979", "bka812", "bka811")
    return ProvinceBusiness(True, True, amounts, "settled (bizh120206)")


def _day_of(text: str) -> date | None:
    """bka045 结算日期: its first 8 digits as a date (the format is not firm in the reference)."""
    digits = "".join(ch for ch in text if ch.isdigit())[:8]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


# ---------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Finding:
    """One difference. Amounts are the business's (or batch's) money of the day per side."""

    category: str
    kind: str
    aaz218: str
    bka001: str
    journal: Amounts | None
    province: Amounts | None
    his: Amounts | None
    detail: str


@dataclass(frozen=True)
class Sides:
    """One business on the three sides (None: that side has nothing for it)."""

    kind: str
    aaz218: str
    journal: JournalBusiness | None
    province: ProvinceBusiness
    his: HisBusiness | None

    def finding(self, category: str, detail: str) -> Finding:
        """A finding about the business, with each side's net of the day."""
        journal = self.journal.net if self.journal else None
        his = self.his.net if self.his else None
        province = self.province.net if self.province.known else None
        return Finding(category, self.kind, self.aaz218, "", journal, province, his, detail)

    def batch_finding(self, category: str, detail: str, bka001: str, journal: Amounts | None,
                      his: Amounts | None) -> Finding:
        """A finding about one outpatient batch (the province shows no batches)."""
        return Finding(category, self.kind, self.aaz218, bka001, journal, None, his, detail)


def compare(sides: Sides) -> list[Finding]:
    """Every difference for one business: presence first, then batches, then the day's money."""
    findings = _presence(sides)
    batch_findings = _batches(sides)
    return findings + batch_findings + _money(sides, explained=bool(batch_findings))


def _presence(sides: Sides) -> list[Finding]:
    journal, province, his = sides.journal, sides.province, sides.his
    found: list[Finding] = []
    if not province.known:
        found.append(sides.finding(MISSING, f"not at the province: {province.state}"))
    elif province.net is None:
        found.append(sides.finding(UNVERIFIABLE, f"the province's amount cannot be read: {province.state}"))
    province_money = province.known and province.net is not None and province.net.total != 0
    if his is None and ((journal is not None and journal.must_be_in_his) or province_money):
        found.append(sides.finding(MISSING, "not in the HIS export: " + _journal_words(journal)
                                   + f"; province: {province.state}"))
    if his is not None and journal is None:
        found.append(sides.finding(MISSING, "in the HIS export, but no exchange with the province is "
                                   f"journalled for it this day; province: {province.state}"))
    still_open = (journal is not None and journal.opened and not journal.cancelled) or (
        his is not None and his.has_open_row)
    if province.known and not province.live and still_open:
        found.append(sides.finding(MISSING, f"open in the journal/HIS, but the province shows "
                                   f"{province.state}"))
    return found


def _journal_words(journal: JournalBusiness | None) -> str:
    if journal is None:
        return "not journalled"
    done = [word for flag, word in ((journal.opened, "registered"), (journal.has_money, "money moved"),
                                    (journal.cancelled, "cancelled")) if flag]
    return f"journal entries {', '.join(map(str, journal.entries))} ({', '.join(done) or 'touched'})"


def _batches(sides: Sides) -> list[Finding]:
    """Outpatient batches, journal against HIS (the province shows no batches after the fact)."""
    if sides.kind != "outpatient" or sides.journal is None or sides.his is None:
        return []
    if sides.journal.net is None:  # a journalled charge without amounts: its batch is unknown too
        return []
    ours, theirs = sides.journal.batches, sides.his.batches()
    found: list[Finding] = []
    for batch in sorted(set(ours) | set(theirs), key=_batch_order):
        rows = theirs.get(batch, [])
        his_amounts = _sum(r.amounts for r in rows) if rows else None
        found += _batch_findings(sides, batch, ours.get(batch), his_amounts, len(rows))
    return found


def _batch_findings(sides: Sides, batch: str, ours: Amounts | None, his: Amounts | None,
                    rows: int) -> list[Finding]:
    def make(category: str, detail: str) -> Finding:
        return sides.batch_finding(category, detail, batch, ours, his)

    what = _batch_words(ours or his)
    if his is None:
        return [make(MISSING, f"{what} batch {batch} journalled, not in the HIS export")]
    if ours is None:
        return [make(MISSING, f"{what} batch {batch} in the HIS export, not journalled")]
    found = []
    if rows > 1:
        found.append(make(INCONSISTENT, f"batch {batch} is listed {rows} times in the HIS export"))
    gaps = his.differences(ours)
    if gaps:
        found.append(make(MISMATCH, f"{what} batch {batch}: HIS − journal: {_gap_words(gaps)}"))
    return found


def _batch_words(amounts: Amounts | None) -> str:
    return "refund" if amounts is not None and amounts.total < 0 else "charge"


def _batch_order(batch: str) -> tuple[int, str]:
    return (int(batch), "") if batch.isdigit() else (1 << 30, batch)


def _gap_words(gaps: Mapping[str, Decimal]) -> str:
    return ", ".join(f"{name} {value:+.2f}" for name, value in gaps.items())


def _money(sides: Sides, *, explained: bool) -> list[Finding]:
    """The day's net per business on every side that has it; one finding lists all gaps."""
    nets = {"journal": sides.journal.net if sides.journal else None,
            "province": sides.province.net if sides.province.known else None,
            "HIS": sides.his.net if sides.his else None}
    gaps = []
    for left, right in (("HIS", "province"), ("journal", "province"), ("HIS", "journal")):
        a, b = nets[left], nets[right]
        if a is None or b is None:
            continue
        difference = a.differences(b)
        # HIS vs journal by batch is already reported batch by batch.
        if difference and not (explained and right == "journal"):
            gaps.append(f"{left} − {right}: {_gap_words(difference)}")
    return [sides.finding(MISMATCH, "; ".join(gaps))] if gaps else []


# ---------------------------------------------------------------------------- the report

SIDES = ("journal", "province", "HIS")


@dataclass(frozen=True)
class Report:
    day: date
    findings: list[Finding]
    totals: dict[str, dict[str, Amounts | None]]  # side -> outpatient / inpatient / all -> net
    businesses: int
    his_rows: int
    his_other_days: int
    notes: list[str]
    agreed: list[Finding] = field(default_factory=list)  # one per business where all sides agree

    @property
    def ok(self) -> bool:
        return not self.findings


def reconcile(
    journal: Journal, client: WireCaller, his: HisExport, day: date,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Compare the three sides for `day`; ask the province once per business. `progress(done,
    total)` is called after each business's queries."""
    ours = read_journal(journal, day)
    theirs = _his_businesses(his)
    findings = [_unknown_finding(entry) for entry in ours.unknown]
    findings += [_inconsistent_row(row) for row in his.rows if not _adds_up(row.amounts)]
    all_sides = []
    agreed: list[Finding] = []
    keys = sorted(set(ours.businesses) | set(theirs))
    for done, (kind, aaz218) in enumerate(keys, start=1):
        province = look_up(client, kind, aaz218, day)
        sides = Sides(kind, aaz218, ours.businesses.get((kind, aaz218)), province, theirs.get((kind, aaz218)))
        all_sides.append(sides)
        found = compare(sides)
        findings += found
        if not found:
            agreed.append(sides.finding(AGREES, "the three sides agree"))
        if progress is not None:
            progress(done, len(keys))
    return Report(day, findings, _totals(all_sides), len(all_sides), len(his.rows), his.other_days,
                  ours.notes, agreed)


# An HIS export row holds the same three amounts as the answers: spec/'s identity for them.
_TOTAL_IDENTITY = invariant("total_is_personal_plus_fund")  # akc264 = bka831 + bka832


def _adds_up(amounts: Amounts) -> bool:
    """The spec's identity on a row's amounts (a row without personal/fund shows nothing)."""
    total, (personal, fund) = _TOTAL_IDENTITY.total, _TOTAL_IDENTITY.parts
    result = evaluate(_TOTAL_IDENTITY, {total: amounts.total, personal: amounts.personal, fund: amounts.fund})
    return result is None or result[0] == result[1]


def _inconsistent_row(row: HisRow) -> Finding:
    a = row.amounts
    return Finding(INCONSISTENT, row.kind, row.aaz218, row.bka001, None, None, a,
                   f"HIS export line {row.line} ({row.his_ref}): total {a.total:.2f} is not "
                   f"personal {_shown(a.personal)} + fund {_shown(a.fund)}")


def _unknown_finding(entry: Entry) -> Finding:
    kind = _kind_of(entry.function_id) or ""
    query = VISIT_LISTING if kind == "outpatient" else f"{STAY_LISTING} / {SETTLEMENT_SHEET}"
    name = FUNCTIONS[entry.function_id].name
    detail = (f"journal entry {entry.id} {entry.function_id} {name} is {entry.status.value}: sent, no "
              f"answer recorded. Resolve it first (query {query}), never resend blindly")
    return Finding(UNKNOWN_OUTCOME, kind, entry.aaz218 or "", "", None, None, None, detail)


def _totals(all_sides: list[Sides]) -> dict[str, dict[str, Amounts | None]]:
    per_side: dict[str, dict[str, Amounts | None]] = {}
    for side in SIDES:
        per_kind = {kind: _side_total([s for s in all_sides if s.kind == kind], side) for kind in KINDS}
        values = list(per_kind.values())
        per_kind["all"] = None if None in values else _sum(v for v in values if v is not None)
        per_side[side] = per_kind
    return per_side


def _side_total(all_sides: list[Sides], side: str) -> Amounts | None:
    """A side's net over the businesses it has; None when one of its amounts is unknown."""
    nets: list[Amounts | None] = []
    for sides in all_sides:
        if side == "journal" and sides.journal is not None:
            nets.append(sides.journal.net)
        elif side == "HIS" and sides.his is not None:
            nets.append(sides.his.net)
        elif side == "province" and sides.province.known:
            nets.append(sides.province.net)
    return None if None in nets else _sum(n for n in nets if n is not None)


# ---------------------------------------------------------------------------- output

CSV_COLUMNS = ("finding", "kind", "aaz218", "bka001",
               *(f"{side.lower()}_{part}" for side in SIDES for part in ("total", "personal", "fund")),
               "detail")


def _parts(amounts: Amounts | None) -> list[str]:
    if amounts is None:
        return ["", "", ""]
    return [f"{v:.2f}" if v is not None else "" for v in (amounts.total, amounts.personal, amounts.fund)]


def csv_rows(report: Report) -> list[list[str]]:
    """Findings, then one `day_total` row per kind and for all (the sides' nets of the day)."""
    # Every cell scrubbed: a detail may quote a province message or a HIS reference holding a
    # citizen ID number (15/18-digit runs are masked; money and serial numbers are not such runs).
    rows = [[scrub(str(cell)) for cell in (f.category, f.kind, f.aaz218, f.bka001, *_parts(f.journal),
                                           *_parts(f.province), *_parts(f.his), f.detail)]
            for f in report.findings]
    for scope in (*KINDS, "all"):
        sides = [report.totals[side][scope] for side in SIDES]
        summary = f"{report.day.isoformat()}: {report.businesses} business(es), {report.his_rows} HIS row(s)"
        rows.append(["day_total", scope, "", "", *(c for s in sides for c in _parts(s)), summary])
    return rows


def write_csv(report: Report, path: Path) -> None:
    """UTF-8 with a BOM, so that a spreadsheet opens the Chinese text correctly."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(csv_rows(report))


def render_html(report: Report) -> str:
    # finalize: every value the template prints is scrubbed of citizen-ID-like runs first.
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2"]),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              finalize=_scrubbed)
    return environment.get_template("reconcile.html.j2").render(
        report=report, sides=SIDES, scopes=(*KINDS, "all"), shown=_shown_amounts)


def _scrubbed(value: object) -> object:
    return scrub(value) if isinstance(value, str) else value


def _shown_amounts(amounts: Amounts | None) -> str:
    return "" if amounts is None else amounts.text()
