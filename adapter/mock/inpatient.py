"""Inpatient rules (spec §4.2) and medical-record uploads (§4.3), per stay (aaz218).

Stage machine (02 §A.2): none -> admitted -> discharge_registered -> settled, plus cancelled.
`MockProvince` checks "allowed in this stage" from the registry before any of these run, so a
spec change to the stage rules moves them; the functions here only add what the registry cannot
say (who may be admitted, which fields may change, amounts, dates) and move the stay with
`ledger.advance` (the registry's leads_to). Cancellations go strictly backwards:
120107 settled -> discharge_registered, 120108 -> admitted, 120109 admitted -> cancelled.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from adapter.mock.answers import (
    Answer,
    Call,
    Handler,
    business_pool,
    find_businesses,
    require_insured,
    respond,
    stay_days,
    year_totals,
)
from adapter.mock.books import Ledger, Stay, stage_text
from adapter.mock.money import ZERO, check_fee_rows, fee_list, fund_list, money, settle
from adapter.mock.refusal import Refusal, label
from generated.registry import FUNCTIONS

Row = dict[str, str]
# bizh120104 may change only these: its `modifies` in spec/ (病区, 病区名称, 科室, 科室名称, 住院号, 床位号).
MODIFIABLE = FUNCTIONS["bizh120104"].modifies


def admit(ledger: Ledger, call: Call) -> Answer:
    """bizh120103: a new stay; refused while the person is in hospital anywhere (业务互斥)."""
    person = ledger.person(call.text("aac001"))
    require_insured(person)
    open_stay = ledger.open_stay_of(person.aac001)
    if open_stay is not None:
        where = ledger.institution_name(open_stay.akb020)
        raise Refusal("-1", f"{label('aac001')}: the person is in hospital at {open_stay.akb020} {where} "
                            f"(stage {stage_text('inpatient', open_stay.stage)}); that stay must be settled "
                            f"or cancelled first (业务互斥：参保人已在{where}住院)")
    stay = Stay(aaz218=ledger.new_aaz218(call.akb020), akb020=call.akb020, aac001=person.aac001,
                stage="none", registered_on=ledger.today(), admission=call.scalars())
    ledger.advance(stay, call.function_id)
    ledger.state.stays[stay.aaz218] = stay
    return respond(call.function_id, {"aaz218": stay.aaz218})


def modify(ledger: Ledger, call: Call) -> Answer:
    """bizh120104: only ward, department, 住院号 and bed change; other fields are ignored."""
    stay = _stay(ledger, call)
    changes = {code: value for code, value in call.scalars().items() if code in MODIFIABLE}
    stay.admission.update(changes)
    return {}


def add_fees(ledger: Ledger, call: Call) -> Answer:
    """bizh120002: append fee rows (each gets a server aaz213); negative rows reduce (冲减)."""
    stay = _stay(ledger, call)
    rows = call.rows("feeinfo")
    check_fee_rows(rows)
    _check_no_over_refund(stay, rows)
    stay.fees.extend({**row, "aaz213": ledger.new_aaz213()} for row in rows)
    return {}


def delete_fees(ledger: Ledger, call: Call) -> Answer:
    """bizh120004: delete every fee row of the stay (the partial-upload compensation), where the
    city offers it; elsewhere fees are taken back with refund rows (冲减) through bizh120002."""
    stay = _stay(ledger, call)
    if not ledger.city.fee_deletion:
        raise Refusal("-1", f"{call.function_id}: not offered in {ledger.city.name}; take fees back with "
                            f"refund rows (negative {label('bka057')} and {label('bka058')}) through "
                            "bizh120002 (本地市不提供删除费用明细交易，请退费冲减)")
    stay.fees.clear()
    return {}


def presettle(ledger: Ledger, call: Call) -> Answer:
    """bizh120003: the settlement of the current fees; changes nothing."""
    stay = _stay(ledger, call)
    if stay.stage == "cancelled":
        raise Refusal("-1", _stage_message(call, stay, "a stay that is not cancelled"))
    return respond(call.function_id, _amounts_pool(ledger, stay))


def discharge(ledger: Ledger, call: Call) -> Answer:
    """bizh120105: discharge registration; answers the trial amounts like bizh120003."""
    stay = _stay(ledger, call)
    if call.text("bka032") < stay.admission.get("bka017", ""):
        raise Refusal("-1", f"{label('bka032')}: {call.text('bka032')} is before the admission date "
                            f"{label('bka017')} {stay.admission['bka017']} (出院日期早于入院日期)")
    stay.discharge = call.scalars()
    ledger.advance(stay, call.function_id)
    return respond(call.function_id, {**_amounts_pool(ledger, stay), **stay.discharge})


def settle_stay(ledger: Ledger, call: Call) -> Answer:
    """bizh120106: final settlement of the uploaded fees; a settled stay is never settled again."""
    stay = _stay(ledger, call)
    stay.settlement = {**settle(stay.fees, ledger.seed.catalogue), "bka045": ledger.today(),
                       "bka046": call.text("bka046"), "bka047": call.text("bka047")}
    ledger.advance(stay, call.function_id)
    return respond(call.function_id, _amounts_pool(ledger, stay))


def cancel_settlement(ledger: Ledger, call: Call) -> Answer:
    """bizh120107: settled -> discharge_registered; the person is in hospital again (业务互斥)."""
    stay = _stay(ledger, call)
    _check_same_month(ledger, call, stay)
    open_stay = ledger.open_stay_of(stay.aac001)
    if open_stay is not None:  # a settled stay is not open, so this is another one
        where = ledger.institution_name(open_stay.akb020)
        raise Refusal("-1", f"{label('aaz218')} {stay.aaz218}: cancelling the settlement would put the "
                            f"person back in hospital, but {label('aaz218')} {open_stay.aaz218} at "
                            f"{open_stay.akb020} {where} is open (stage "
                            f"{stage_text('inpatient', open_stay.stage)}) "
                            f"(业务互斥：参保人已在{where}住院，不能取消结算)")
    stay.settlement = {}
    ledger.advance(stay, call.function_id)
    return {}


def _check_same_month(ledger: Ledger, call: Call, stay: Stay) -> None:
    """Where the city allows no 跨月 cancellation, a settlement is cancelled in its own month only."""
    settled_on = stay.settlement.get("bka045", "")
    if ledger.city.cross_month_cancel or settled_on[:6] == ledger.today()[:6]:
        return
    raise Refusal("-1", f"{call.function_id}: {label('aaz218')} {stay.aaz218} was settled on {settled_on} "
                        f"({label('bka045')}); {ledger.city.name} does not cancel a settlement in a later "
                        "month (不允许跨月取消结算)")


def cancel_discharge(ledger: Ledger, call: Call) -> Answer:
    """bizh120108: discharge_registered -> admitted; fees may be added again."""
    stay = _stay(ledger, call)
    stay.discharge = {}
    ledger.advance(stay, call.function_id)
    return {}


def cancel_admission(ledger: Ledger, call: Call) -> Answer:
    """bizh120109: admitted -> cancelled; the person is free to be admitted anywhere."""
    ledger.advance(_stay(ledger, call), call.function_id)
    return {}


def find(ledger: Ledger, call: Call) -> Answer:
    """bizh120102: stays at this institution (not cancelled), filtered by bka891 and bka017 period."""
    stays = [s for s in find_businesses(ledger, call, "inpatient") if isinstance(s, Stay)]
    stays = [s for s in stays if s.stage != "cancelled" and _matches_filters(s, call)]
    return respond(call.function_id, {}, bizinfo=[business_pool(ledger, s) for s in stays])


def _matches_filters(stay: Stay, call: Call) -> bool:
    settled = call.text("bka891")
    if settled and settled != ("1" if stay.stage == "settled" else "0"):
        return False
    admitted_on = stay.admission.get("bka017", "")
    start, end = call.text("aae030"), call.text("aae031")
    return (not start or admitted_on >= start) and (not end or admitted_on <= end)


def fee_listing(ledger: Ledger, call: Call) -> Answer:
    """bizh120113: the stay's fee rows (operate 0 by category, 1 by item name, 2/absent all)."""
    stay = _stay(ledger, call)
    person = ledger.person(stay.aac001)
    header = {"aac003": person.aac003, "aac004": person.aac004,
              "akb021": ledger.institution_name(stay.akb020), "aaz218": stay.aaz218}
    rows = fee_list(stay.fees, ledger.seed.catalogue, call.text("operate") or None)
    return respond(call.function_id, {}, list=[{**header, **row} for row in rows])


def settlement_sheet(ledger: Ledger, call: Call) -> Answer:
    """bizh120206: header scalars and the fundList matrix of a settled stay."""
    stay = _stay(ledger, call)
    if stay.stage != "settled":
        raise Refusal("-1", _stage_message(call, stay, stage_text("inpatient", "settled")))
    return respond(call.function_id, _sheet_header(ledger, stay),
                   fundList=fund_list(stay.fees, ledger.seed.catalogue))


def _sheet_header(ledger: Ledger, stay: Stay) -> Row:
    year_fund = year_totals(ledger, stay.aac001, stay.settlement["bka045"][:4])["bka832"]
    today = ledger.today()
    header = business_pool(ledger, stay)
    header.update(
        bka030=str(stay_days(stay)), aae011=stay.settlement.get("bka047", ""),
        bka890=f"{today[:4]} 年{today[4:6]} 月{today[6:]} 日",  # 打印日期, the province's layout
        bka979=stay.settlement["akc264"], bka811=stay.settlement["bka832"],
        bka812=stay.settlement["bka831"], bka814=money(year_fund), bka815=money(ZERO),
        bka816=money(ZERO), bkc119="0", bka989="0",
    )
    return header


def upload_record(ledger: Ledger, call: Call) -> Answer:
    """bizh200101-200106: keep the latest upload of each medical-record part per stay."""
    stay = _stay(ledger, call)
    stay.records[call.function_id] = {k: v for k, v in call.values.items()
                                      if k not in ("akb020", "aaz218", "session_id", "function_id")}
    return {}


def arrive(ledger: Ledger, stay: Stay, stage: str) -> None:
    """Keep a stay coherent when a test jumps it to `stage` (discharge and settlement data)."""
    if stage in ("discharge_registered", "settled") and not stay.discharge:
        stay.discharge = {"bka032": max(ledger.today(), stay.admission.get("bka017", "")),
                          "bka033": "JUMP", "bka034": "测试跳转", "bka031": stay.admission.get("bka026", "")}
    if stage == "settled" and not stay.settlement:
        stay.settlement = {**settle(stay.fees, ledger.seed.catalogue), "bka045": ledger.today(),
                           "bka046": "JUMP", "bka047": "测试跳转"}
    if stage != "settled":
        stay.settlement = {}
    if stage in ("none", "admitted", "cancelled"):
        stay.discharge = {}


# ---------------------------------------------------------------------------- helpers


def _stay(ledger: Ledger, call: Call) -> Stay:
    return ledger.stay(call.text("aaz218"), call.akb020)


def _amounts_pool(ledger: Ledger, stay: Stay) -> Row:
    amounts = stay.settlement or settle(stay.fees, ledger.seed.catalogue)
    return {"akb020": stay.akb020, "aaz218": stay.aaz218, **amounts}


def _check_no_over_refund(stay: Stay, rows: list[Row]) -> None:
    """A negative row may reduce an item's charges (冲减) but not below zero."""
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in [*stay.fees, *rows]:
        totals[row["ake005"]] += Decimal(row["bka058"])
    for index, row in enumerate(rows):
        if totals[row["ake005"]] < 0:
            raise Refusal("-1", f"feeinfo[{index}].{label('bka058')}: refunds more of {row['ake005']} than "
                                f"was charged ({money(totals[row['ake005']])}) (退费金额超过已收费金额)")


def _stage_message(call: Call, stay: Stay, wanted: str) -> str:
    return (f"{call.function_id}: {label('aaz218')} {stay.aaz218} is in stage "
            f"{stage_text('inpatient', stay.stage)}; this needs {wanted} (当前业务阶段不允许此操作)")


HANDLERS: dict[str, Handler] = {
    "bizh120103": admit,
    "bizh120104": modify,
    "bizh120002": add_fees,
    "bizh120004": delete_fees,
    "bizh120003": presettle,
    "bizh120105": discharge,
    "bizh120106": settle_stay,
    "bizh120107": cancel_settlement,
    "bizh120108": cancel_discharge,
    "bizh120109": cancel_admission,
    "bizh120102": find,
    "bizh120113": fee_listing,
    "bizh120206": settlement_sheet,
    **{f"bizh20010{n}": upload_record for n in range(1, 7)},
}
