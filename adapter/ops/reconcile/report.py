"""The day's report: every business compared, the sides' totals, and the CSV and HTML output.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from adapter.ops.reconcile.amounts import Amounts, shown, total_of
from adapter.ops.reconcile.compare import AGREES, INCONSISTENT, UNKNOWN_OUTCOME, Finding, Sides, compare
from adapter.ops.reconcile.his_export import KINDS, HisExport, HisRow, his_businesses
from adapter.ops.reconcile.journal_side import kind_of, read_journal
from adapter.ops.reconcile.province import SETTLEMENT_SHEET, STAY_LISTING, VISIT_LISTING, look_up
from adapter.wire.invariants import evaluate, invariant
from adapter.wire.journal import Entry, Journal
from adapter.wire.masking import scrub
from adapter.wire.typed import WireCaller
from generated.registry import FUNCTIONS

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"  # adapter/ops/templates
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
    progress: Callable[[int, int], None] | None = None, institution: str | None = None,
) -> Report:
    """Compare the three sides for `day`; ask the province once per business. `progress(done,
    total)` is called after each business's queries."""
    ours = read_journal(journal, day, institution)
    theirs = his_businesses(his)
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
                   f"personal {shown(a.personal)} + fund {shown(a.fund)}")


def _unknown_finding(entry: Entry) -> Finding:
    kind = kind_of(entry.function_id) or ""
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
        per_kind["all"] = None if None in values else total_of(v for v in values if v is not None)
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
    return None if None in nets else total_of(n for n in nets if n is not None)


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
