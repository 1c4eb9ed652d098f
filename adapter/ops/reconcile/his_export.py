"""The HIS's side: its export of the day (CSV, UTF-8 or GBK/GB18030), per business.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from adapter.errors import HisExportError
from adapter.ops.reconcile.amounts import NOTHING, Amounts, total_of

KINDS = ("outpatient", "inpatient")
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
        return total_of(row.amounts for row in self.rows)

    @property
    def has_open_row(self) -> bool:
        return any(row.is_open_row for row in self.rows)

    def batches(self) -> dict[str, list[HisRow]]:
        grouped: dict[str, list[HisRow]] = {}
        for row in self.rows:
            if row.bka001:
                grouped.setdefault(row.bka001, []).append(row)
        return grouped


def his_businesses(export: HisExport) -> dict[tuple[str, str], HisBusiness]:
    businesses: dict[tuple[str, str], HisBusiness] = {}
    for row in export.rows:
        key = (row.kind, row.aaz218)
        businesses.setdefault(key, HisBusiness(*key)).rows.append(row)
    return businesses
