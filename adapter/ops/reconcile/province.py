"""The province's side: read-only queries per business, answered typed.

The interface has no "list the day" transaction, so each business is asked after the fact with the
queries spec/ declares for reading back outcomes (each function's `confirm`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from adapter.errors import BusinessError, ContractError
from adapter.ops.reconcile.amounts import NOTHING, ZERO, Amounts, amounts_of, decimal_or_none
from adapter.ops.reconcile.journal_side import OUTPATIENT_CHARGE, SETTLEMENT
from adapter.wire.masking import scrub
from adapter.wire.typed import WireCaller, request_by_codes, rows_of, send_typed, value_of
from generated.registry import FUNCTIONS, OPENERS


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
    amounts = [decimal_or_none(value_of(row, "bka058")) for row in rows_of(open_fees, "feeinfo")]
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
    amounts = amounts_of(sheet, "bka979", "bka812", "bka811")
    return ProvinceBusiness(True, True, amounts, "settled (bizh120206)")


def _day_of(text: str) -> date | None:
    """bka045 结算日期: its first 8 digits as a date (the format is not firm in the reference)."""
    digits = "".join(ch for ch in text if ch.isdigit())[:8]
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
