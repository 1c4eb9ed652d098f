"""Person lookups (bizh110001, bizh120001), code tables (bizh120205), totals and fund status (4100xx).

Lookups answer for every known person, frozen and uninsured ones included (bka888 tells the HIS);
it is registration and admission that refuse them.
"""

from __future__ import annotations

from datetime import date

from adapter.mock.answers import (
    Answer,
    Call,
    Handler,
    money_of,
    person_by_identifier,
    person_pool,
    respond,
    year_totals,
)
from adapter.mock.books import Ledger
from adapter.mock.refusal import Refusal, label
from adapter.mock.seed import CENTRE_CODE, FUND_STATUS, Person
from generated.registry import CODE_LISTS

Row = dict[str, str]
FUND_ROW = {"aaa157": "501", "aad006": "工伤保险基金"}
# aac031 个人缴费状态 per person status (the meaning is inferred in the reference: 1 参保缴费).
CONTRIBUTION_STATUS = {"valid": "1", "in_hospital_elsewhere": "1", "frozen": "2"}
# bizh410004 accumulators: (aka036 累计名称, amount code).
ACCUMULATORS = (("医疗总费用累计", "akc264"), ("工伤保险基金支付累计", "bka832"), ("个人自付累计", "bka831"))
MAX_MONTHS = 120


def person_info(ledger: Ledger, call: Call) -> Answer:
    """bizh110001 / bizh120001: personinfo (+ freezeinfo, injuryorbirthinfo where the spec has them)."""
    person = _person_for(ledger, call)
    personinfo = {**person_pool(person), "bka006": call.text("bka006")}
    freezeinfo = [] if person.status == "not_insured" else [
        {**FUND_ROW, "aac031": CONTRIBUTION_STATUS.get(person.status, "")}]
    injury = [{"bka042": person.bka042, "aae030": person.aae030, "aae031": person.aae031}] \
        if person.bka042 else []
    return respond(call.function_id, {}, personinfo=[personinfo], freezeinfo=freezeinfo,
                   injuryorbirthinfo=injury)


def _person_for(ledger: Ledger, call: Call) -> Person:
    """By a person id, or by the aaz218 / bka025 of a visit or stay at this institution."""
    kind, value = call.text("bka895"), call.text("bka896")
    if kind not in ("aaz218", "bka025"):
        return person_by_identifier(ledger, kind, value)
    for machine in ("outpatient", "inpatient"):
        for record in ledger.records_of(machine):
            key = record.aaz218 if kind == "aaz218" else record.opening.get("bka025")
            if record.akb020 == call.akb020 and key == value:
                return ledger.person(record.aac001)
    raise Refusal("-1", f"{label('bka896')}: no visit or stay with this {label(kind)} at {call.akb020} "
                        "(未找到就医登记信息)")


def code_tables(ledger: Ledger, call: Call) -> Answer:
    """bizh120205: the registry's code lists, filtered by aaa100 (table) and aaa102 (value)."""
    table, value = call.text("aaa100").lower(), call.text("aaa102")
    if table and table not in CODE_LISTS:
        raise Refusal("-1", f"{label('aaa100')}: no code table named {table!r} (无此代码类别)")
    lists = [CODE_LISTS[table]] if table else list(CODE_LISTS.values())
    rows = [{"aaa100": meta.name, "aaa101": meta.title, "aaa102": code, "aaa103": name, "aaa027": CENTRE_CODE}
            for meta in lists for code, name in meta.values if not value or code == value]
    return respond(call.function_id, {}, codeinfo=rows)


def accumulated(ledger: Ledger, call: Call) -> Answer:
    """bizh410004: the person's settled totals of a year (aae001, default this year)."""
    person = ledger.person(call.text("aac001"))
    year = call.text("aae001") or ledger.today()[:4]
    if call.text("aae140") not in ("", "410"):  # only work injury (410) is kept here
        return respond(call.function_id, {}, totalinfo=[])
    sums = money_of(year_totals(ledger, person.aac001, year))
    rows = [{"aae140": "410", "aae001": year, "aka036": name, "ake053": sums[code]}
            for name, code in ACCUMULATORS]
    return respond(call.function_id, {}, totalinfo=rows)


def fund_status(ledger: Ledger, call: Call) -> Answer:
    """bizh410005: fund status (bka888) per month of aae030..aae031 (bka977=1), else the last month."""
    person = ledger.person(call.text("aac001"))
    today = ledger.today()
    start, end = call.text("aae030") or f"{today[:4]}0101", call.text("aae031") or today
    months = _months(start, end)
    if call.text("bka977") != "1":
        months = months[-1:]
    rows = [{**FUND_ROW, "aae003": month, "bka888": FUND_STATUS[person.status]} for month in months]
    return respond(call.function_id, {}, freezeinfo=rows)


def _months(start: str, end: str) -> list[str]:
    """['201901', '201902', ...] from yyyyMMdd start to end, inclusive."""
    first, last = date(int(start[:4]), int(start[4:6]), 1), date(int(end[:4]), int(end[4:6]), 1)
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    if count < 1:
        raise Refusal("-1", f"{label('aae031')}: {end} is before {label('aae030')} {start} "
                            "(结束日期早于开始日期)")
    if count > MAX_MONTHS:
        raise Refusal("-1", f"{label('aae030')}/{label('aae031')}: at most {MAX_MONTHS} months per query "
                            "(查询期间过长)")
    return [f"{first.year + (first.month - 1 + n) // 12}{(first.month - 1 + n) % 12 + 1:02d}"
            for n in range(count)]


HANDLERS: dict[str, Handler] = {
    "bizh110001": person_info,
    "bizh120001": person_info,
    "bizh120205": code_tables,
    "bizh410004": accumulated,
    "bizh410005": fund_status,
}
