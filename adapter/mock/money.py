"""Settlement arithmetic of the mock, fee-row checks, the settlement-sheet matrix and the fee list.

The arithmetic is a MOCK RULE, not the province's (the real split depends on catalogue
categories, limits and policy). It is simple on purpose, so a tester can predict every amount:

    akc264 医疗总费用     = sum of bka058 金额 of the rows (a stay's fees, or one outpatient batch)
    bka825 全自费费用     = sum of bka058 over rows whose item is self-pay in the seed's catalogue
    bka831 个人自付       = bka825;  akb067 个人现金支付 = bka825;  akb066 = bka839 = 0.00
    ake039 统筹基金支付   = akc264 - bka831
    bka832 工伤保险支付   = ake039;  ake035 = ake026 = ake029 = bka841 = bka842 = bka840 = bka821 = 0.00
    bka826, aka151, bka838 (informational) = 0.00

so the province's identities (spec.yaml `invariants`: akc264 = bka831 + bka832 and the parts of
each) hold exactly in Decimal; `settle` and `fund_list` check their figures with the one
evaluator (adapter/wire/invariants.py) before any answer carries them. akc264 always equals the
fees uploaded. Refund rows (negative bka058) give negative amounts.
Items missing from the catalogue are accepted and count as covered by the fund.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from adapter.mock.refusal import Refusal, label
from adapter.mock.seed import CatalogueItem, fee_category
from adapter.wire.invariants import unmet
from generated.registry import SPEC

Row = dict[str, str]
Catalogue = dict[str, CatalogueItem]
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# The settlement-result amounts, in the province's order (B.13).
AMOUNT_CODES = (
    "akc264", "bka831", "bka832", "bka825", "bka826", "aka151", "bka838", "akb067", "akb066",
    "bka821", "bka839", "ake039", "ake035", "ake026", "ake029", "bka841", "bka842", "bka840",
)
# Settlement-sheet matrix columns bka801_1 .. bka801_7 (7 = 合计).
MATRIX_CODES = tuple(f"bka801_{n}" for n in range(1, 8))


def money(value: Decimal) -> str:
    """Decimal -> wire text with 2 places ('-0.00' becomes '0.00')."""
    cents = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return f"{cents.copy_abs() if cents.is_zero() else cents:.2f}"


def amount(row: Row) -> Decimal:
    return Decimal(row["bka058"])


def is_self_pay(row: Row, catalogue: Catalogue) -> bool:
    item = catalogue.get(row.get("ake005", ""))
    return bool(item and item.self_pay)


def settle(rows: Iterable[Row], catalogue: Catalogue) -> Row:
    """The 18 settlement amounts of a set of fee rows, as wire text (see the module docstring)."""
    rows = list(rows)
    total = sum((amount(r) for r in rows), ZERO)
    self_pay = sum((amount(r) for r in rows if is_self_pay(r, catalogue)), ZERO)
    values = dict.fromkeys(AMOUNT_CODES, ZERO)
    values.update(akc264=total, bka825=self_pay, bka831=self_pay, akb067=self_pay,
                  ake039=total - self_pay, bka832=total - self_pay)
    return _identities_kept({code: money(value) for code, value in values.items()})


def _identities_kept(values: Row) -> Row:
    """The figures, once every spec identity they carry holds: a breach is a bug of this mock."""
    broken = unmet(values)
    if broken:
        raise AssertionError(f"the mock's arithmetic breaks {'; '.join(broken)}")
    return values


# ---------------------------------------------------------------------------- fee-row checks


def check_fee_rows(rows: list[Row], dataset: str = "feeinfo") -> None:
    """Row count within the spec's cap, and each row's price x quantity = amount."""
    cap = SPEC.fee_rows_per_call
    if not rows:
        raise Refusal("-1", f"{dataset}: at least one fee row is required (费用参数集不允许为空)")
    if len(rows) > cap:
        raise Refusal("-1", f"{dataset}: {len(rows)} rows, at most {cap} per call "
                            f"(每次上传不能超过{cap}条费用明细)")
    for index, row in enumerate(rows):
        _check_row(row, f"{dataset}[{index}]")


def _check_row(row: Row, where: str) -> None:
    price, quantity, total = Decimal(row["bka056"]), Decimal(row["bka057"]), amount(row)
    if price < 0:
        raise Refusal("-1", f"{where}.{label('bka056')}: must not be negative (单价不能为负数)")
    expected = (price * quantity).quantize(CENT, rounding=ROUND_HALF_UP)
    # One cent of slack: the HIS rounds the product itself, as the province allows.
    if abs(expected - total) > CENT:
        raise Refusal("-1", f"{where}.{label('bka058')}: {money(total)} is not {label('bka056')} x "
                            f"{label('bka057')} = {money(expected)} (金额与单价×用量不符)")


# ---------------------------------------------------------------------------- settlement sheet


def _category_label(item_code: str) -> tuple[str, str]:
    """('01', '西药费'): the sheet's row label is the category name, with 费 where it has none."""
    code, name = fee_category(item_code)
    return code, name if "费" in name else f"{name}费"


def fund_list(rows: Iterable[Row], catalogue: Catalogue) -> list[Row]:
    """The fee-category x payer matrix (bizh120206 fundList) with a closing 合计 row.

    Column 1 个人现金 takes the self-pay amounts, column 2 基本医疗保障 the fund's part, 3-6 are
    0.00 under the mock rule, 7 合计 = 1 + ... + 6. Summed over categories, the 合计 row equals
    the settlement amounts (bka801_1 = bka831, bka801_2 = bka832, bka801_7 = akc264).
    """
    cells: dict[tuple[str, str], list[Decimal]] = {}
    for row in rows:
        column = 0 if is_self_pay(row, catalogue) else 1
        cells.setdefault(_category_label(row.get("ake005", "")), [ZERO] * 6)[column] += amount(row)
    matrix = [_matrix_row(name, values) for (_, name), values in sorted(cells.items())]
    totals = [sum((values[i] for values in cells.values()), ZERO) for i in range(6)]
    return [*matrix, _matrix_row("合计", totals)]


def _matrix_row(name: str, values: list[Decimal]) -> Row:
    cells = [*values, sum(values, ZERO)]
    row = {code: money(value) for code, value in zip(MATRIX_CODES, cells, strict=True)}
    return _identities_kept({"bka800": name, **row})


# ---------------------------------------------------------------------------- fee list


def fee_list(rows: Iterable[Row], catalogue: Catalogue, operate: str | None) -> list[Row]:
    """bizh120113 `list` rows: operate 0 = one row per 费用类别, 1 = per item name, 2/absent = all."""
    items = [_fee_list_row(row, catalogue) for row in rows]
    if operate == "0":
        return _grouped(items, key="aka063", keep=("aka063",))
    if operate == "1":
        return _grouped(items, key="ake006",
                        keep=("aka063", "ake002", "ake006", "bka052", "bka054", "bka056", "pay_first"))
    return items


def _fee_list_row(row: Row, catalogue: Catalogue) -> Row:
    item = catalogue.get(row.get("ake005", ""))
    return {
        "aka063": fee_category(row.get("ake005", ""))[0],
        "ake002": item.name if item else row["ake006"],
        "ake006": row["ake006"],
        "bka052": row.get("bka052", ""),
        "bka054": row.get("bka054", ""),
        "bka056": row["bka056"],
        "dosage": money(Decimal(row["bka057"])),
        "money": money(amount(row)),
        # 先自付比例: a self-pay item is paid by the person first, in full.
        "pay_first": "1" if item and item.self_pay else "0",
    }


def _grouped(items: list[Row], key: str, keep: tuple[str, ...]) -> list[Row]:
    groups: dict[str, Row] = {}
    for item in items:
        group = groups.setdefault(item[key], {code: item[code] for code in keep} | {
            "dosage": "0.00", "money": "0.00"})
        group["dosage"] = money(Decimal(group["dosage"]) + Decimal(item["dosage"]))
        group["money"] = money(Decimal(group["money"]) + Decimal(item["money"]))
    if key == "aka063":  # quantities of different items do not add up
        for group in groups.values():
            group.pop("dosage")
    return [groups[k] for k in sorted(groups)]
