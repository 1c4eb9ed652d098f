"""The settlement sheet (adapter/ops/sheet.py, `gdwi sheet`): a settled stay from the mock, printed.

The Chromium tests are skipped only when no Chromium is installed (.ci/run installs it).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hospital_day import INPATIENT_PERSONS, Hospital
from seed_login import AKB020, PASSWORD
from seed_login import USERID as USER
from typer.testing import CliRunner

from adapter.cli import app
from adapter.mock.app import create_app
from adapter.mock.inprocess import InProcessTransport
from adapter.mock.province import MockProvince
from adapter.mock.server import MockServer
from adapter.ops.sheet import (
    A4_WINDOW,
    Sheet,
    build_sheet,
    fetch_sheet,
    find_chromium,
    render_html,
    screenshot,
)
from adapter.wire.client import Client
from adapter.wire.config import Settings

runner = CliRunner()
needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="Chromium is not installed")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    settings = Settings(base_url="http://127.0.0.1:9", userid=USER, password=PASSWORD, akb020=AKB020,
                        journal_path=str(tmp_path / "journal.sqlite"))
    app_ = create_app(MockProvince(clock=datetime.now))
    with Client(settings, http_transport=InProcessTransport(app_)) as live:
        yield live


@pytest.fixture
def settled(client: Client) -> tuple[Sheet, str]:
    aaz218 = Hospital(client, date.today()).settled_stay(INPATIENT_PERSONS[0], rows=12)
    return fetch_sheet(client, aaz218), aaz218


class Cells(HTMLParser):
    """Text of every <td>, per table class (enough to re-add the printed figures)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("class") or ""
        elif tag == "tr":
            self.tables.setdefault(self._table, []).append([])
        elif tag == "td":
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None


def parse(html: str) -> dict[str, list[list[str]]]:
    cells = Cells()
    cells.feed(html)
    return cells.tables


def test_sheet_of_a_settled_stay_adds_up(settled: tuple[Sheet, str]) -> None:
    sheet, aaz218 = settled
    assert sheet.ok, [c for c in sheet.failed]
    html = render_html(sheet)
    tables = parse(html)
    matrix = [row for row in tables["matrix"] if row]
    *categories, total = matrix
    assert total[0] == "合计" and len(categories) >= 3
    for column in range(1, 8):  # every printed column re-adds to the printed 合计 row
        assert sum(Decimal(row[column]) for row in categories) == Decimal(total[column])
    for row in matrix:  # every printed row: 个人现金 + ... + 其他补助 = 合计
        assert sum(Decimal(cell) for cell in row[1:7]) == Decimal(row[7])
    printed_total = re.search(r'data-code="bka979">([^<]+)<', html)
    assert printed_total and Decimal(printed_total.group(1)) == Decimal(total[7]) == sheet.header.sheet_total_cost
    fees = [row for row in tables["fees"] if row]
    assert sum(Decimal(row[-1]) for row in fees) == Decimal(total[7])
    assert 'id="mismatch"' not in html and "不符" not in html.split("<h2>合计核对</h2>")[0]
    assert aaz218 in html and "测试乙" in html  # the patient's own sheet shows the name
    assert "<link" not in html and "<script" not in html and "@page { size: A4" in html


def test_a_sum_that_does_not_add_up_is_flagged_on_the_page(settled: tuple[Sheet, str]) -> None:
    sheet, _ = settled
    first, *others = sheet.categories
    off = replace(first, matrix_basic_fund=first.matrix_basic_fund + Decimal("61.00"))  # one cell 61.00 off
    label = first.fee_category_label
    broken = build_sheet(replace(sheet.header, fund_list_rows=(off, *others, sheet.total_row)), None)
    assert not broken.ok
    failed = {check.what for check in broken.failed}
    assert any(what.endswith("= 合计") and what.startswith(label) for what in failed)
    assert "合计行 基本医疗保障 = 各类别之和" in failed
    html = render_html(broken)
    assert 'id="mismatch"' in html and "金额核对不符" in html
    assert re.search(r'<tr class="mismatch">\s*<td class="label">' + re.escape(label), html)
    total_cells = re.search(r'<tr class="total ">(.*?)</tr>', html, re.S)
    assert total_cells and total_cells.group(1).count('class="num mismatch"') == 1  # 基本医疗保障 only


def test_a_missing_total_fails_its_check_and_text_is_escaped() -> None:
    answer = {"aac003": "<script>x</script>", "bka811": "1.00", "bka812": "0.00",
              "fundList": [{"bka800": "西药费", "bka801_2": "1.00", "bka801_7": "1.00"}]}
    sheet = build_sheet(answer, None)
    assert [c.what for c in sheet.failed] == ["总费用 bka979 = 费用类别合计",
                                             "总费用 bka979 = 工伤保险支付金额 bka811 + 个人支付金额 bka812"]
    html = render_html(sheet)
    assert "&lt;script&gt;" in html and "<script>x" not in html


def _png_rows(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and the filtered scanlines of an 8-bit RGB/RGBA PNG (standard library only)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, width, height, channels = 8, b"", 0, 0, 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    assert len(raw) == height * stride
    return width, height, [raw[i * stride + 1:(i + 1) * stride] for i in range(height)]


@needs_chromium
def test_headless_chromium_renders_the_sheet_to_a_png_that_is_not_blank(
        settled: tuple[Sheet, str], tmp_path: Path) -> None:
    html, png = tmp_path / "sheet.html", tmp_path / "sheet.png"
    html.write_text(render_html(settled[0]), encoding="utf-8")
    screenshot(html, png)
    assert png.stat().st_size > 20_000  # a blank A4 screen compresses to a few kB
    width, height, rows = _png_rows(png)
    assert (width, height) == A4_WINDOW
    # A uniform scanline, whatever its PNG filter, holds at most two distinct byte values; a line
    # crossing text or table rules holds many. A rendered sheet has ink on a good share of lines.
    inked = sum(1 for row in rows if len(set(row)) >= 8)
    assert inked > height // 5, f"only {inked} of {height} lines carry anything"


@pytest.fixture(scope="module")
def server() -> Iterator[MockServer]:
    with MockServer(MockProvince(clock=datetime.now)) as live:
        yield live


def _environment(monkeypatch: pytest.MonkeyPatch, server: MockServer, journal: Path) -> None:
    for name, value in (("BASE_URL", server.url), ("USERID", USER), ("PASSWORD", PASSWORD),
                        ("AKB020", AKB020), ("JOURNAL", str(journal))):
        monkeypatch.setenv(f"GDWI_{name}", value)


def _settle_over(server: MockServer, journal: Path) -> str:
    settings = Settings(base_url=server.url, userid=USER, password=PASSWORD, akb020=AKB020,
                        journal_path=str(journal))
    with Client(settings) as client:
        return Hospital(client, date.today()).settled_stay(INPATIENT_PERSONS[1])


@needs_chromium
def test_cli_writes_html_and_pdf(server: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "journal.sqlite"
    _environment(monkeypatch, server, journal)
    aaz218 = _settle_over(server, journal)
    html, pdf = tmp_path / "out.html", tmp_path / "out.pdf"
    result = runner.invoke(app, ["sheet", aaz218, "--html", str(html), "--pdf", str(pdf)])
    assert result.exit_code == 0, result.output
    assert "测试" not in result.output  # the terminal never shows the name
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
    assert "广东省工伤保险住院结算单" in html.read_text(encoding="utf-8")


def test_cli_refusal_exits_4(server: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _environment(monkeypatch, server, tmp_path / "journal.sqlite")
    result = runner.invoke(app, ["sheet", "99999999202600000099", "--html", str(tmp_path / "x.html")])
    assert result.exit_code == 4  # refused by the province
    assert "refused by the province: bizh120206: return_code -1" in result.output and not (tmp_path / "x.html").exists()

