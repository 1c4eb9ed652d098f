"""A hospital's day against the mock province, for the code-table, sheet and reconciliation tests.

`Hospital` makes the calls a HIS makes (through the real client and journal) and keeps the rows
the HIS would export for reconciliation (docs/reconciliation.md). Synthetic data only: the mock's
seeded persons (`gdwi mock seed`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from adapter.wire.client import Client

OUTPATIENT_PERSON = "1000000001"  # 测试甲, valid
INPATIENT_PERSONS = ("1000000002", "1000000006", "1000000007")  # valid, free to be admitted
# (item, name, unit price, quantity), from the mock's seeded catalogue; ZF0001 is self-pay.
ITEMS = (
    ("XY0001", "测试药品甲片", "3.1250", "4.00"),
    ("HY0001", "测试血常规", "25.0000", "1.00"),
    ("CW0001", "测试床位费", "45.0000", "3.00"),
    ("ZF0001", "测试自费营养品", "60.0000", "1.00"),
    ("SS0001", "测试清创缝合术", "1160.0000", "1.00"),
)
HIS_HEADER = ("date", "kind", "aaz218", "bka001", "total", "personal", "fund", "his_ref")

EXAMPLES: dict[str, Any] = json.loads(
    resources.files("generated").joinpath("examples.json").read_text(encoding="utf-8"))


def example(function_id: str, **changes: Any) -> dict[str, Any]:
    values = dict(EXAMPLES[function_id][0]["request"])
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def fee_rows(count: int, *, inpatient: bool) -> list[dict[str, str]]:
    rows = []
    for index in range(count):
        item, name, price, quantity = ITEMS[index % len(ITEMS)]
        amount = (Decimal(price) * Decimal(quantity)).quantize(Decimal("0.01"))
        row = {"ake005": item, "ake006": name, "bka056": price, "bka057": quantity,
               "bka058": str(amount), "bka051": "20190508"}
        if inpatient:
            row.update(bka063="T001", bka064="测试操作员")
        rows.append(row)
    return rows


@dataclass
class Hospital:
    client: Client
    day: date
    rows: list[list[str]] = field(default_factory=list)
    open_registrations: dict[str, str] = field(default_factory=dict)  # aaz218 -> kind
    serial: int = 0

    def _ref(self) -> str:
        self.serial += 1
        return f"HIS{self.serial:04d}"

    def _book(self, kind: str, aaz218: str, bka001: str, values: dict[str, Any], keys: tuple[str, str, str]) -> None:
        total, personal, fund = (values[k] for k in keys)
        self.rows.append([self.day.isoformat(), kind, aaz218, bka001, total, personal, fund, self._ref()])
        self.open_registrations.pop(aaz218, None)

    # --- outpatient

    def register(self) -> str:
        answer = self.client.call_wire("bizh110104", example(
            "bizh110104", aac001=OUTPATIENT_PERSON, bka893=None, aaz267=None, bka042=None))
        aaz218 = str(answer["aaz218"])
        self.open_registrations[aaz218] = "outpatient"
        return aaz218

    def charge(self, aaz218: str, rows: int = 3) -> dict[str, Any]:
        answer = self.client.call_wire("bizh110105", example(
            "bizh110105", aaz218=aaz218, bka893="1", feeinfo=fee_rows(rows, inpatient=False)))
        pay = answer["payinfo"][0]
        self._book("outpatient", aaz218, str(pay["bka001"]), pay, ("akc264", "bka831", "bka832"))
        return dict(pay)

    def refund(self, aaz218: str, bka001: str) -> dict[str, Any]:
        found = self.client.call_wire("bizh110103", example(
            "bizh110103", bka895="aaz218", bka896=aaz218, bka001=bka001))
        answer = self.client.call_wire("bizh110105", example(
            "bizh110105", aaz218=aaz218, bka893="1", feeinfo=found["feeinfo"]))
        pay = answer["payinfo"][0]
        self._book("outpatient", aaz218, str(pay["bka001"]), pay, ("akc264", "bka831", "bka832"))
        return dict(pay)

    # --- inpatient

    def settled_stay(self, person: str, rows: int = 5) -> str:
        admitted = self.client.call_wire("bizh120103", example("bizh120103", aac001=person))
        aaz218 = str(admitted["aaz218"])
        self.client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": fee_rows(rows, inpatient=True)})
        self.client.call_wire("bizh120105", example("bizh120105", aaz218=aaz218))
        settled = self.client.call_wire("bizh120106", example("bizh120106", aaz218=aaz218))
        self._book("inpatient", aaz218, "", settled, ("akc264", "bka831", "bka832"))
        return aaz218

    def settled_and_undone(self, person: str) -> str:
        """A stay settled, then taken back step by step (the settlement cancelled the same day)."""
        aaz218 = self.settled_stay(person, rows=2)
        settled = self.row_of(aaz218)
        self.client.call_wire("bizh120107", example("bizh120107", aaz218=aaz218))
        money = [f"{Decimal(0) - Decimal(settled[i]):.2f}" for i in (4, 5, 6)]  # the HIS's negative row
        self.rows.append([self.day.isoformat(), "inpatient", aaz218, "", *money, self._ref()])
        for function_id in ("bizh120108", "bizh120109"):
            self.client.call_wire(function_id, example(function_id, aaz218=aaz218))
        return aaz218

    # --- the export

    def export(self, path: Path) -> Path:
        """The HIS export: money rows, plus a zero row per registration still open without money."""
        rows = list(self.rows)
        rows += [[self.day.isoformat(), kind, aaz218, "", "0.00", "0.00", "0.00", self._ref()]
                 for aaz218, kind in self.open_registrations.items()]
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HIS_HEADER)
            writer.writerows(rows)
        return path

    def row_of(self, aaz218: str, bka001: str = "") -> list[str]:
        return next(r for r in self.rows if r[2] == aaz218 and r[3] == bka001)
