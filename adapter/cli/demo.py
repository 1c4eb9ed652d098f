"""`gdwi demo` / `make demo`: the whole interface, end to end, against the embedded mock.

Starts the mock province on a free loopback port, then walks a hospital's day through the
real client (XML on the wire, journal, session): outpatient registration to refund and
cancel, a 1,000-row inpatient stay to settlement, the medical-record front page, and the
queries. Every step names its function_id and checks its answer; exit 0 only if all hold.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress

from adapter.errors import DemoFailure
from adapter.his import mapping
from adapter.mock.app import create_app
from adapter.mock.inprocess import InProcessTransport
from adapter.mock.server import MockServer
from adapter.mock.style import AnswerStyle
from adapter.wire.client import Client
from adapter.wire.config import Settings
from adapter.wire.invariants import unmet
from adapter.wire.session_table import shown
from generated.registry import FUNCTIONS, SPEC

USER, PASSWORD, AKB020 = "ss0028", "mock-pass-1", "H44190000001"
OUTPATIENT_PERSON = "44190019900101001X"  # seeded 测试甲 (synthetic)
INPATIENT_PERSON = "1000000002"  # seeded 测试乙 (synthetic), by aac001
FEE_ROWS = 1000
CATALOGUE = [  # (item, name, unit price, quantity): seeded mock catalogue entries
    ("XY0001", "测试药品甲片", "3.1250", "4.00"),
    ("HY0001", "测试血常规", "25.0000", "1.00"),
    ("CW0001", "测试床位费", "45.0000", "1.00"),
    ("ZF0001", "测试自费营养品", "60.0000", "1.00"),
]


def _examples() -> dict[str, Any]:
    text = resources.files("generated").joinpath("examples.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _money(value: object) -> Decimal:
    return Decimal(str(value))


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailure(what)


class Demo:
    def __init__(self, client: Client, console: Console) -> None:
        self.client = client
        self.console = console
        self.examples = _examples()
        self.steps = 0

    def _heading(self, title: str) -> None:
        """A section rule on a terminal; piped, the title whole (a rule cuts it to 80 columns)."""
        if self.console.is_terminal:
            self.console.rule(title)
        else:
            self.console.print(f"── {title} ──")

    def step(
        self, function_id: str, values: dict[str, Any], check: Callable[[dict[str, Any]], str]
    ) -> dict[str, Any]:
        answer = self.client.call_wire(function_id, values)
        detail = check(answer)
        self.steps += 1
        self.console.print(f"  [green]✓[/] {function_id} {FUNCTIONS[function_id].name}: {detail}")
        return answer

    def example(self, function_id: str, **changes: Any) -> dict[str, Any]:
        values = dict(self.examples[function_id][0]["request"])
        values.update(changes)
        return {k: v for k, v in values.items() if v is not None}

    # --- outpatient ---------------------------------------------------------------

    def outpatient(self) -> None:
        self._heading("门诊 outpatient: lookup → registration → trial → settlement → refund → cancel")
        person = self.step("bizh110001", self.example("bizh110001", bka896=OUTPATIENT_PERSON),
                           lambda a: f"found {len(a['personinfo'])} person row(s)")
        aac001 = person["personinfo"][0]["aac001"]
        registered = self.step(
            "bizh110104",
            self.example("bizh110104", aac001=aac001, bka893=None, aaz267=None, bka042=None),
            lambda a: f"就医登记号 aaz218 = {a['aaz218']}",
        )
        aaz218 = registered["aaz218"]
        self.step("bizh110102", self.example("bizh110102", bka895="aaz218", bka896=aaz218),
                  lambda a: f"{len(a.get('bizinfo', []))} registered business row(s)")
        fees = [self._fee_row(i, outpatient=True) for i in range(3)]
        expected = sum((_money(r["bka058"]) for r in fees), Decimal(0))
        charge = self.example("bizh110105", aaz218=aaz218, feeinfo=fees)
        self.step("bizh110105", dict(charge, bka893="0"), lambda a: self._check_pay(a, expected, "trial"))
        self.step("bizh110105", dict(charge, bka893="1"), lambda a: self._check_pay(a, expected, "settled"))
        refund_rows = self.step(
            "bizh110103", self.example("bizh110103", bka895="aaz218", bka896=aaz218, bka001="1"),
            lambda a: f"{len(a['feeinfo'])} fee row(s) of batch 1 to refund",
        )["feeinfo"]
        self.step("bizh110105", dict(charge, bka893="1", feeinfo=mapping.at_spec_scale(refund_rows)),
                  lambda a: self._check_pay(a, -expected, "refunded"))
        self.step("bizh110106", self.example("bizh110106", aaz218=aaz218), lambda a: "registration cancelled")

    def _check_pay(self, answer: dict[str, Any], expected: Decimal, label: str) -> str:
        pay = answer["payinfo"][0]
        return self._check_amounts(pay, expected, label)

    @staticmethod
    def _check_amounts(values: dict[str, Any], expected: Decimal, label: str) -> str:
        """The total is what was uploaded, and every spec identity of the amounts holds."""
        total, personal, fund = (_money(values[k]) for k in ("akc264", "bka831", "bka832"))
        _expect(total == expected, f"akc264 {total} != uploaded {expected}")
        _expect(not unmet(values), "; ".join(unmet(values)))
        return f"{label}: akc264 {total} = 个人 {personal} + 工伤 {fund}"

    # --- inpatient ----------------------------------------------------------------

    def inpatient(self) -> str:
        self._heading(f"住院 inpatient: admission → {FEE_ROWS} fee rows → settlement → sheet")
        lookup = self.example("bizh120001", bka895="aac001", bka896=INPATIENT_PERSON)
        self.step("bizh120001", lookup, self._describe_person)
        admission = self.example("bizh120103", aac001=INPATIENT_PERSON)
        admitted = self.step("bizh120103", admission, lambda a: f"admitted, aaz218 = {a['aaz218']}")
        aaz218 = str(admitted["aaz218"])
        total = self._upload_fees(aaz218)
        self.step("bizh120003", self.example("bizh120003", aaz218=aaz218),
                  lambda a: self._check_settlement(a, total, "pre-settled"))
        self.step("bizh120105", self.example("bizh120105", aaz218=aaz218), lambda a: "discharge registered")
        self.step("bizh120106", self.example("bizh120106", aaz218=aaz218),
                  lambda a: self._check_settlement(a, total, "settled"))
        self.step("bizh120206", self.example("bizh120206", aaz218=aaz218),
                  lambda a: self._check_sheet(a, total))
        self.step("bizh120113", self.example("bizh120113", aaz218=aaz218, operate="2"),
                  lambda a: self._check_fee_list(a, total))
        return aaz218

    @staticmethod
    def _describe_person(answer: dict[str, Any]) -> str:
        person = answer["personinfo"][0]
        return f"{person['aac003'][0]}* eligible (bka888={person.get('bka888')})"  # name masked

    def _fee_row(self, index: int, *, outpatient: bool = False) -> dict[str, str]:
        item, name, price, quantity = CATALOGUE[index % len(CATALOGUE)]
        amount = (_money(price) * _money(quantity)).quantize(Decimal("0.01"))
        row = {"ake005": item, "ake006": name, "bka056": price, "bka057": quantity,
               "bka058": str(amount), "bka051": "20190508"}
        if not outpatient:
            row.update(bka063="T001", bka064="测试操作员")
        return row

    def _upload_fees(self, aaz218: str) -> Decimal:
        rows = [self._fee_row(i) for i in range(FEE_ROWS)]
        cap = SPEC.fee_rows_per_call
        with Progress(console=self.console, transient=True) as progress:
            label = f"bizh120002 uploading {FEE_ROWS} rows, ≤{cap} per call"
            task = progress.add_task(label, total=FEE_ROWS)
            for start in range(0, FEE_ROWS, cap):
                chunk = rows[start : start + cap]
                self.client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": chunk})
                progress.advance(task, len(chunk))
        self.steps += 1
        calls = -(-FEE_ROWS // cap)
        total = sum((_money(r["bka058"]) for r in rows), Decimal(0))
        self.console.print(f"  [green]✓[/] bizh120002 {FUNCTIONS['bizh120002'].name}: "
                           f"{FEE_ROWS} rows in {calls} calls, total {total}")
        return total

    def _check_settlement(self, answer: dict[str, Any], expected: Decimal, label: str) -> str:
        return self._check_amounts(answer, expected, label)

    def _check_sheet(self, answer: dict[str, Any], expected: Decimal) -> str:
        _expect(_money(answer["bka979"]) == expected, f"sheet total {answer['bka979']} != {expected}")
        rows = answer.get("fundList", [])
        return f"settlement sheet: total {answer['bka979']}, {len(rows)} fund/fee-category row(s)"

    def _check_fee_list(self, answer: dict[str, Any], expected: Decimal) -> str:
        rows = answer["list"]
        listed = sum((_money(r["money"]) for r in rows), Decimal(0))
        _expect(listed == expected, f"fee list sums to {listed}, uploaded {expected}")
        return f"fee list: {len(rows)} row(s) summing to {listed}"

    def reversals(self) -> None:
        self._heading("交易补偿 reversals: a second stay, modified, settled, then undone step by step")
        person = "1000000006"  # seeded 测试己 (synthetic)
        admitted = self.step("bizh120103", self.example("bizh120103", aac001=person),
                             lambda a: f"admitted, aaz218 = {a['aaz218']}")
        aaz218 = str(admitted["aaz218"])
        self.step("bizh120102", self.example("bizh120102", bka895="aaz218", bka896=aaz218),
                  lambda a: f"{len(a.get('bizinfo', []))} business row(s) for the stay")
        self.step("bizh120104", self.example("bizh120104", aaz218=aaz218, bka023="99"),
                  lambda a: "bed changed to 99")
        rows = [self._fee_row(i) for i in range(4)]
        self.step("bizh120002", {"aaz218": aaz218, "feeinfo": rows}, lambda a: f"{len(rows)} rows")
        self.step("bizh120004", self.example("bizh120004", aaz218=aaz218), lambda a: "all fees deleted")
        self.step("bizh120002", {"aaz218": aaz218, "feeinfo": rows[:2]}, lambda a: "2 rows re-uploaded")
        self.step("bizh120105", self.example("bizh120105", aaz218=aaz218), lambda a: "discharge registered")
        self.step("bizh120106", self.example("bizh120106", aaz218=aaz218), lambda a: "settled")
        for function_id, done in (("bizh120107", "settlement cancelled"),
                                  ("bizh120108", "discharge registration cancelled"),
                                  ("bizh120109", "admission cancelled")):
            self.step(function_id, self.example(function_id, aaz218=aaz218), _saying(done))

    # --- medical record and queries -------------------------------------------------

    def medical_record(self, aaz218: str) -> None:
        self._heading("病案首页 medical-record front page: bizh200101–bizh200106")
        for number in range(1, 7):
            function_id = f"bizh20010{number}"
            self.step(function_id, self.example(function_id, aaz218=aaz218), lambda a: "uploaded")

    def queries(self) -> None:
        self._heading("queries: totals, fund status, code tables")
        self.step("bizh410004", self.example("bizh410004", aac001=INPATIENT_PERSON),
                  lambda a: f"{sum(len(v) for v in a.values() if isinstance(v, list))} accumulated row(s)")
        self.step("bizh410005", self.example("bizh410005", aac001=INPATIENT_PERSON),
                  lambda a: f"{sum(len(v) for v in a.values() if isinstance(v, list))} fund status row(s)")
        self.step("bizh120205", self.example("bizh120205", aaa100="bka006"),
                  lambda a: f"{len(a['codeinfo'])} bka006 code(s)")


def _saying(text: str) -> Callable[[dict[str, Any]], str]:
    """A check that only reports: the call's success is the check."""
    return lambda _answer: text


def run(console: Console, *, in_process: bool = False, style: AnswerStyle | None = None) -> int:
    """The demo over a loopback socket, or (in_process) straight into the mock's ASGI app;
    `style` how the mock writes its answers (adapter.mock.style: strict by default, or real)."""
    with tempfile.TemporaryDirectory(prefix="gdwi-demo-") as scratch, ExitStack() as stack:
        journal = str(Path(scratch) / "journal.sqlite")
        transport: httpx.BaseTransport | None = None
        if in_process:
            base_url, transport = "http://127.0.0.1:9", InProcessTransport(create_app(style=style))
            console.print(f"[bold]gdwi demo[/] — mock province in process, spec {SPEC.version}")
        else:
            base_url = stack.enter_context(MockServer(style=style)).url
            console.print(f"[bold]gdwi demo[/] — mock province at {base_url}{SPEC.path}, "
                          f"spec {SPEC.version}")
        settings = Settings(base_url=base_url, userid=USER, password=PASSWORD, akb020=AKB020,
                            journal=journal)
        with Client(settings, http_transport=transport) as client:
            demo = Demo(client, console)
            try:
                session = client.session.get()
                console.print(f"  [green]✓[/] sys0001 {FUNCTIONS['sys0001'].name}: session {shown(session)}")
                demo.outpatient()
                aaz218 = demo.inpatient()
                demo.medical_record(aaz218)
                demo.reversals()
                demo.queries()
            except Exception as exc:  # the demo reports any failure, then exits non-zero
                console.print(f"[red]✗ demo failed:[/] {type(exc).__name__}: {exc}")
                return 1
            entries = client.journal.list(limit=10_000)
        statuses = sorted({entry.status.value for entry in entries})
        missing = sorted(set(FUNCTIONS) - {entry.function_id for entry in entries})
        if missing:
            console.print(f"[red]✗ demo failed:[/] never called {', '.join(missing)}")
            return 1
        console.print(f"[bold green]all {demo.steps + 1} steps hold[/]; every one of the "
                      f"{len(FUNCTIONS)} function_ids called; journal: {len(entries)} exchanges, "
                      f"statuses {statuses}")
    return 0
