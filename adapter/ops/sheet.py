"""The inpatient settlement sheet (结算单): bizh120206 + bizh120113 -> a printable A4 HTML page.

The page prints the province's figures as the province sent them and computes nothing it cannot
check. Every sum the sheet implies is checked here, in code, and a failed check is printed on
the page in red (and makes `gdwi sheet` exit 1):
  - each row of the fee-category x payer matrix: 个人现金 + ... + 其他补助 = 合计 (bka801_7);
  - each column: the categories add up to the province's 合计 row (when it sends one);
  - the matrix total is the header's 总费用 bka979;
  - 总费用 bka979 = 工伤保险支付金额 bka811 + 个人支付金额 bka812 (akc264 = bka832 + bka831);
    the row and header identities are spec/'s invariants, checked by adapter/wire/invariants.py;
  - the fee list (bizh120113) adds up to 总费用.
Which matrix columns make up bka811 and which bka812 is not firm in the reference, so the page
does not claim it (a false alarm on a sheet handed to a patient is worse than no check).

The answers are the generated typed models (generated/functions/bizh120206.py and bizh120113.py:
Decimal amounts, dates, whole numbers), asked on the client's typed path; the page shows their
values, and the checks add them up.

The sheet shows the patient's name (it is printed for the patient); nothing here logs it.
PDF and PNG come from headless Chromium, when it is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from adapter.errors import ChromiumError
from adapter.ops.codes import CodeTables
from adapter.wire.invariants import evaluate, invariant
from adapter.wire.typed import WireCaller, rows_of, send_typed, value_of
from generated._types import InvariantMeta
from generated.functions import bizh120113 as fee_list
from generated.functions import bizh120206 as sheet_query
from generated.registry import FIELDS

__all__ = [
    "FEE_GROUPINGS",
    "Check",
    "ChromiumError",
    "Sheet",
    "build_sheet",
    "fetch_sheet",
    "find_chromium",
    "print_pdf",
    "render_html",
    "screenshot",
]

TEMPLATES = Path(__file__).resolve().parent / "templates"
ZERO = Decimal("0.00")
TOTAL_ROW_LABEL = "合计"
# The spec's identities the sheet shows (spec.yaml invariants): a matrix row's 合计 is the sum of
# 个人现金 .. 其他补助; the header's 总费用 is 工伤保险支付金额 + 个人支付金额.
ROW_IDENTITY = invariant("sheet_row_total")
TOTAL_IDENTITY = invariant("sheet_total")
PARTS = ROW_IDENTITY.parts  # bka801_1 个人现金 .. bka801_6 其他补助
ROW_TOTAL = ROW_IDENTITY.total  # bka801_7 合计
MATRIX_COLUMNS = (*PARTS, ROW_TOTAL)
# bizh120113 operate: how the fee list is grouped (04 §2.1, medium confidence).
FEE_GROUPINGS = {"by-name": "1", "all": "2", "by-category": "0"}
FEE_GROUPING_TITLES = {"by-name": "按名称汇总", "all": "全部明细", "by-category": "按费用类别汇总"}
# secfalg 业务完成标志 1 = 已完成: the sheet is for settled stays (low confidence, 04 §2.1).
SETTLED_FLAG = "1"

# The sheet's layout: (wire code, label on the page). Labels follow the printed sheet, which
# reads some codes more narrowly than the field dictionary (bka017 is the admission date here).
HOSPITAL = (("akb021", "医疗机构"), ("bkc110", "医院等级"), ("bkc119", "政府办基层医疗机构"))
PATIENT = (("aac003", "姓名"), ("aac004", "性别"), ("aac001", "电脑号"), ("bka100", "社保卡号"),
           ("bka004", "人员类别"))
STAY = (("aaz218", "就医登记号"), ("bka025", "住院号"), ("bka020", "科别"), ("aka130", "业务类型"),
        ("bka006", "待遇类别"), ("bka017", "入院日期"), ("bka032", "出院日期"), ("bka030", "住院天数"),
        ("bka045", "结算日期"), ("bka989", "先行支付"))
TOTALS = (("bka979", "总费用"), ("bka811", "工伤保险支付金额"), ("bka812", "个人支付金额"))
ACCUMULATED = (("bka814", "基本工伤保险统筹已支付"), ("bka815", "补充保险自付累计"),
               ("bka816", "补充保险已支付"))
# Coded header fields: printed by label (synced code table, else spec list, else the code).
CODED = frozenset({"aac004", "bka004", "aka130", "bka006", "bkc110", "bkc119", "bka989"})
DATES = frozenset({"bka017", "bka032", "bka045"})
FEE_COLUMNS = ("aka063", "ake006", "ake002", "bka052", "bka054", "bka056", "dosage", "money")

Model = Any  # a generated typed answer or answer row (bizh120206 / bizh120113)


@dataclass(frozen=True)
class Check:
    """One sum the sheet implies: the province's figure against the sum of its parts."""

    what: str
    stated: Decimal | None  # the province's figure (None: it did not send it)
    summed: Decimal | None  # the sum of the parts the province sent
    column: str | None = None  # the matrix column a column check is about (to mark the cell)

    @property
    def ok(self) -> bool:
        return self.stated is not None and self.summed is not None and self.stated == self.summed


@dataclass(frozen=True)
class Sheet:
    header: sheet_query.Answer
    categories: list[Model]  # fundList rows without the 合计 row
    total_row: Model | None  # the province's own 合计 row, if it sent one
    fees: list[Model]  # bizh120113 list rows (empty when not fetched)
    fee_grouping: str | None  # operate sent, None: fee list not fetched
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]


# ---------------------------------------------------------------------------- fetching


def fetch_sheet(client: WireCaller, aaz218: str, *, fee_grouping: str | None = "by-name") -> Sheet:
    """bizh120206 (and bizh120113 unless fee_grouping is None) for one settled stay."""
    sheet = send_typed(client, sheet_query.FUNCTION_ID,
                       sheet_query.Request(visit_registration_no=aaz218)).answer
    fees = None
    if fee_grouping is not None:
        request = fee_list.Request(visit_registration_no=aaz218, business_completed_flag=SETTLED_FLAG,
                                   fee_list_grouping=FEE_GROUPINGS[fee_grouping])
        fees = send_typed(client, fee_list.FUNCTION_ID, request).answer
    return build_sheet(sheet, fees, fee_grouping=fee_grouping)


def build_sheet(
    sheet: sheet_query.Answer | Mapping[str, Any], fees: fee_list.Answer | Mapping[str, Any] | None, *,
    fee_grouping: str | None = None,
) -> Sheet:
    """The sheet from the typed answers, with every check run.

    Decoded answers (wire codes as keys) are read by the generated parsers first.
    """
    header = sheet_query.parse_answer(sheet) if isinstance(sheet, Mapping) else sheet
    fee_answer = fee_list.parse_answer(fees) if isinstance(fees, Mapping) else fees
    rows = list(rows_of(header, "fundList"))
    totals = [row for row in rows if _label_text(row) == TOTAL_ROW_LABEL]
    categories = [row for row in rows if not any(row is total for total in totals)]
    total_row = totals[-1] if totals else None
    fee_rows = list(rows_of(fee_answer, "list")) if fee_answer is not None else []
    checks = _checks(header, categories, total_row, fee_rows if fee_answer is not None else None)
    return Sheet(header, categories, total_row, fee_rows, fee_grouping, checks)


def _label_text(row: Model) -> str:
    """A row label without any spacing ('合 计' and '合　计' are 合计 too)."""
    return "".join((value_of(row, "bka800") or "").split())


# ---------------------------------------------------------------------------- checks


def _amount(model: Model, code: str) -> Decimal | None:
    """A typed amount; None when absent or unreadable (a check then fails)."""
    value = value_of(model, code)
    return value if isinstance(value, Decimal) else None


def _cell(row: Model, code: str) -> Decimal:
    """A matrix cell. An empty element means absent on this wire; absent here means 0.00."""
    return _amount(row, code) or ZERO


def _checks(header: Model, categories: list[Model], total_row: Model | None,
            fees: list[Model] | None) -> list[Check]:
    checks = [_row_check(row) for row in [*categories, *([total_row] if total_row else [])]]
    column_sums = {code: sum((_cell(row, code) for row in categories), ZERO) for code in MATRIX_COLUMNS}
    if total_row is not None:
        checks += [Check(f"{TOTAL_ROW_LABEL}行 {FIELDS[code].name} = 各类别之和", _cell(total_row, code),
                         column_sums[code], code) for code in MATRIX_COLUMNS]
    matrix_total = _cell(total_row, ROW_TOTAL) if total_row is not None else column_sums[ROW_TOTAL]
    stated_total = _amount(header, "bka979")
    checks.append(Check("总费用 bka979 = 费用类别合计", stated_total, matrix_total))
    header_values = {code: value_of(header, code) for code in (TOTAL_IDENTITY.total, *TOTAL_IDENTITY.parts)}
    checks.append(_identity_check(TOTAL_IDENTITY, header_values, _identity_text(TOTAL_IDENTITY)))
    if fees is not None:
        listed = sum((_amount(row, "money") or ZERO for row in fees), ZERO)
        checks.append(Check("总费用 bka979 = 费用清单金额合计", stated_total, listed))
    return checks


def _row_check(row: Model) -> Check:
    # A matrix cell left out is 0.00 (see _cell); the row's own 合计 must be there.
    values: dict[str, object] = {code: _cell(row, code) for code in PARTS}
    values[ROW_TOTAL] = value_of(row, ROW_TOTAL)
    label = value_of(row, "bka800") or "?"
    return _identity_check(ROW_IDENTITY, values, f"{label}: 个人现金 + … + 其他补助 = 合计")


def _identity_check(meta: InvariantMeta, values: Mapping[str, object], what: str) -> Check:
    """One identity of spec/ on the sheet, by the one evaluator; a missing figure fails it."""
    result = evaluate(meta, values)
    if result is not None:
        return Check(what, *result)
    stated = values.get(meta.total)
    return Check(what, stated if isinstance(stated, Decimal) else None, None)


def _identity_text(meta: InvariantMeta) -> str:
    """'总费用 bka979 = 工伤保险支付金额 bka811 + 个人支付金额 bka812'."""
    def named(code: str) -> str:
        return f"{FIELDS[code].name} {code}"
    return f"{named(meta.total)} = {' + '.join(named(code) for code in meta.parts)}"


# ---------------------------------------------------------------------------- HTML


def _shown_date(value: str) -> str:
    """'20190520' -> '2019-05-20'; anything else as sent."""
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if re.fullmatch(r"\d{8}", value) else value


def _text(model: Model, code: str) -> str:
    """A typed value as the page prints it: amounts as the province sent them (a Decimal keeps
    its places), dates as 2019-05-20, nothing for an absent value."""
    value = value_of(model, code)
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _shown(code: str, header: Model, tables: CodeTables) -> str:
    value = _text(header, code)
    if not value:
        return ""
    if code in CODED:
        return tables.display_name(code, value)
    return _shown_date(value) if code in DATES else value


def _pairs(layout: Sequence[tuple[str, str]], header: Model, tables: CodeTables) -> list[tuple[str, str]]:
    return [(label, _shown(code, header, tables)) for code, label in layout]


def _matrix_row(row: Model, failed_columns: frozenset[str] = frozenset()) -> dict[str, Any]:
    return {"label": _text(row, "bka800"), "ok": _row_check(row).ok,
            "cells": [(_text(row, code), code not in failed_columns) for code in MATRIX_COLUMNS]}


def _fee_row(row: Model, tables: CodeTables) -> list[str]:
    return [tables.display_name("aka063", _text(row, c)) if c == "aka063" and _text(row, c) else _text(row, c)
            for c in FEE_COLUMNS]


def render_html(sheet: Sheet, *, tables: CodeTables | None = None, printed_at: datetime | None = None) -> str:
    """The sheet as one self-contained HTML page (embedded CSS, no external assets)."""
    tables = tables or CodeTables()
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["j2"]),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    header = sheet.header
    return environment.get_template("sheet.html.j2").render(
        title=f"广东省工伤保险住院结算单 {_text(header, 'aaz218')}",
        hospital=_pairs(HOSPITAL, header, tables),
        patient=_pairs(PATIENT, header, tables),
        stay=_pairs(STAY, header, tables),
        totals=[(label, _text(header, code), code) for code, label in TOTALS],
        accumulated=_pairs(ACCUMULATED, header, tables),
        columns=[FIELDS[code].name for code in MATRIX_COLUMNS],
        categories=[_matrix_row(row) for row in sheet.categories],
        total_row=_matrix_row(sheet.total_row, frozenset(c.column for c in sheet.failed if c.column))
        if sheet.total_row else None,
        fee_columns=[FIELDS[code].name for code in FEE_COLUMNS],
        fees=[_fee_row(row, tables) for row in sheet.fees],
        fee_grouping=FEE_GROUPING_TITLES.get(sheet.fee_grouping or "", ""),
        fee_list_fetched=sheet.fee_grouping is not None,
        checks=sheet.checks,
        failed=sheet.failed,
        operator=_text(header, "aae011"),
        print_date=_text(header, "bka890") or (printed_at or datetime.now()).strftime("%Y 年%m 月%d 日"),
    )


# ---------------------------------------------------------------------------- Chromium

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Chromium renders a page we wrote, but the helper must stay safe for any page (issue 11): no
# script runs, nothing is fetched from the network, no file beyond the page is read.
# - CONTAINMENT_POLICY (a CSP meta tag put into the page Chromium gets): no scripts, frames,
#   fonts, images or connections except inline styles and data: images;
# - every host name and proxy pointed at nothing, in case a CSP is bypassed (not
#   --blink-settings=scriptEnabled=false: headless Chromium then writes no screenshot or PDF);
# - the page is copied into a private temporary directory and rendered from there;
# - Chromium's sandbox is on, except as root, where Chromium refuses to start with it (CI and
#   many print servers run as root): there the three points above are the containment.
CHROMIUM_FLAGS = (
    "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-dev-shm-usage",  # containers have a tiny /dev/shm
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=socks5://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>", "--disable-extensions", "--disable-plugins",
)
CONTAINMENT_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
                      "script-src 'none'; frame-src 'none'; connect-src 'none'; form-action 'none'")
A4_WINDOW = (794, 1123)  # A4 at 96 dpi
CHROMIUM_TIMEOUT = 90.0


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable on PATH, if any."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def chromium_flags() -> tuple[str, ...]:
    """CHROMIUM_FLAGS, plus --no-sandbox only as root (see above)."""
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    return (*CHROMIUM_FLAGS, "--no-sandbox") if as_root else CHROMIUM_FLAGS


def contained_page(html: str) -> str:
    """`html` with the containment policy as the first element of its head."""
    meta = f'<meta http-equiv="Content-Security-Policy" content="{CONTAINMENT_POLICY}">'
    head = re.search(r"<head(\s[^>]*)?>", html, re.IGNORECASE)
    if head is None:
        return meta + html
    return html[:head.end()] + meta + html[head.end():]


def _run_chromium(html: Path, target: Path, extra: Sequence[str]) -> None:
    binary = find_chromium()
    if binary is None:
        raise ChromiumError(f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)}); "
                            "install it, e.g. apt-get install chromium")
    target = target.resolve()
    target.unlink(missing_ok=True)  # an old file must not pass for a new one
    with tempfile.TemporaryDirectory(prefix="gdwi-chromium-") as work:
        page = Path(work) / "page" / "sheet.html"
        page.parent.mkdir()
        page.write_text(contained_page(html.read_text(encoding="utf-8")), encoding="utf-8")
        command = [binary, *chromium_flags(), f"--user-data-dir={Path(work) / 'profile'}", *extra,
                   page.as_uri()]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT,
                                    check=False)
        except subprocess.TimeoutExpired:
            raise ChromiumError(f"Chromium took longer than {CHROMIUM_TIMEOUT:.0f} s") from None
    if not target.is_file() or target.stat().st_size == 0:
        tail = (result.stderr or "").strip().splitlines()[-3:]
        raise ChromiumError(f"Chromium exited {result.returncode} without writing {target.name}: "
                            + " | ".join(tail))


def print_pdf(html: Path, pdf: Path) -> None:
    """Print the page to PDF; the page's own @page rule sets A4 and the margins."""
    # Both spellings of "no header/footer": the flag was renamed in Chromium 111.
    _run_chromium(html, pdf, [f"--print-to-pdf={pdf.resolve()}", "--no-pdf-header-footer",
                              "--print-to-pdf-no-header"])


def screenshot(html: Path, png: Path, window: tuple[int, int] = A4_WINDOW) -> None:
    """A PNG of the page's first screen at A4 size (for eyes and tests)."""
    _run_chromium(html, png, [f"--screenshot={png.resolve()}", f"--window-size={window[0]},{window[1]}",
                              "--hide-scrollbars"])
