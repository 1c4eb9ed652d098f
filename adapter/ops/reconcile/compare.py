"""Comparing one business on the three sides: presence, outpatient batches, the money of the day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from adapter.ops.reconcile.amounts import Amounts, total_of
from adapter.ops.reconcile.his_export import HisBusiness
from adapter.ops.reconcile.journal_side import JournalBusiness
from adapter.ops.reconcile.province import ProvinceBusiness

# Finding categories.
UNKNOWN_OUTCOME = "unknown_outcome"
MISSING = "missing"
MISMATCH = "amount_mismatch"
INCONSISTENT = "inconsistent"
UNVERIFIABLE = "unverifiable"  # the province knows the business but its figure cannot be read
AGREES = "agrees"  # not a finding: a business where the three sides agree (listed with --all)


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
        his_amounts = total_of(r.amounts for r in rows) if rows else None
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
