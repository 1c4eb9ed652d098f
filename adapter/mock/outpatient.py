"""Outpatient rules (spec §4.1): register, find, charge / refund in batches, fetch a batch, cancel.

The "allowed in stage" check is done once, in `MockProvince`, from the registry; these functions
hold the rest of each rule. They check everything before changing anything, so a Refusal leaves
the books untouched.

Refunds (01 §2, 04 §3/§7): bizh110103 returns a batch's rows with their aaz213 and negated
amounts; sending those rows through bizh110105 is the refund. A refund reverses whole batches,
becomes a batch of its own (next bka001), and a batch is refunded at most once. A visit whose
charges are all refunded is back in stage `registered`, so it may be cancelled (bizh110106).
"""

from __future__ import annotations

from decimal import Decimal

from adapter.mock.answers import (
    Answer,
    Call,
    Handler,
    business_pool,
    find_businesses,
    require_insured,
    respond,
)
from adapter.mock.books import Batch, Ledger, Visit
from adapter.mock.money import check_fee_rows, money, settle
from adapter.mock.refusal import Refusal, label
from generated.registry import FUNCTIONS

Row = dict[str, str]
# The reference's message for a batch refunded before (it contains the fragment spec/ declares).
ALREADY_REFUNDED = "已经办理过退费，不能重复退费"
# The other refusals of bizh110103 in the words its `refusals` in spec/ declare (one home: recovery
# reads the same declarations to tell what a refusal means).
SAID = dict(FUNCTIONS["bizh110103"].refusals)
LIVE_STAGES = ("registered", "charged")


def register(ledger: Ledger, call: Call) -> Answer:
    """bizh110104: a new visit (stage registered); optional feeinfo is only a trial."""
    person = ledger.person(call.text("aac001"))
    require_insured(person)
    rows = call.rows("feeinfo")
    if rows:
        check_fee_rows(rows)
    visit = Visit(aaz218=ledger.new_aaz218(call.akb020), akb020=call.akb020, aac001=person.aac001,
                  stage="none", registered_on=ledger.today(), registration=call.scalars())
    ledger.advance(visit, call.function_id)
    ledger.state.visits[visit.aaz218] = visit
    payinfo = [_payinfo(visit, settle(rows, ledger.seed.catalogue))] if rows else []
    return respond(call.function_id, {"aaz218": visit.aaz218}, payinfo=payinfo)


def find(ledger: Ledger, call: Call) -> Answer:
    """bizh110102: the registered (not cancelled) visits at this institution."""
    visits = [v for v in find_businesses(ledger, call, "outpatient") if v.stage in LIVE_STAGES]
    return respond(call.function_id, {}, bizinfo=[business_pool(ledger, v) for v in visits])


def charge(ledger: Ledger, call: Call) -> Answer:
    """bizh110105: bka893=0 trial (nothing saved), 1 commit a new batch; negative rows refund."""
    visit = ledger.visit(call.text("aaz218"), call.akb020)
    rows = call.rows("feeinfo")
    check_fee_rows(rows)
    commit = call.text("bka893") == "1"
    if _is_refund(rows):
        return _refund(ledger, call, visit, rows, commit)
    amounts = settle(rows, ledger.seed.catalogue)
    if not commit:
        return respond(call.function_id, {}, payinfo=[_payinfo(visit, amounts)])
    # A charge row's aaz213 is the server's: whatever the HIS sent is replaced.
    stored = [{**row, "aaz213": ledger.new_aaz213()} for row in rows]
    batch = _new_batch(ledger, call, visit, stored, amounts)
    ledger.advance(visit, call.function_id)
    return respond(call.function_id, {}, payinfo=[_payinfo(visit, amounts, batch.bka001)])


def refund_lookup(ledger: Ledger, call: Call) -> Answer:
    """bizh110103: batch bka001's rows, negated, ready to be sent back as the refund (0 = all)."""
    number = int(call.text("bka001"))
    visit = _visit_with_batch(ledger, call, number)
    batches = visit.open_charges() if number == 0 else [_batch(visit, number)]
    if not batches:
        raise Refusal("-1", f"{label('bka001')}: visit {visit.aaz218} has no charge left to refund "
                            f"({SAID['nothing_to_refund']})")
    for batch in batches:
        _check_refundable(batch)
    feeinfo = [_negated(row) for batch in batches for row in batch.rows]
    return respond(call.function_id, {}, feeinfo=feeinfo, bizinfo=[business_pool(ledger, visit)])


def cancel(ledger: Ledger, call: Call) -> Answer:
    """bizh110106: cancel a registration that has no un-refunded charge."""
    visit = ledger.visit(call.text("aaz218"), call.akb020)
    charges = visit.open_charges()
    if charges:
        numbers = ", ".join(str(b.bka001) for b in charges)
        raise Refusal("-1", f"{label('aaz218')}: visit {visit.aaz218} has un-refunded charges (bka001 "
                            f"{numbers}); refund them first (已收费，请先退费再取消挂号)")
    ledger.advance(visit, call.function_id)
    return {}


# ---------------------------------------------------------------------------- refunds


def _is_refund(rows: list[Row]) -> bool:
    """Negative rows make a refund; a call is either a charge or a refund, never both."""
    negative = [r for r in rows if Decimal(r["bka058"]) < 0 or Decimal(r["bka057"]) < 0]
    positive = [r for r in rows if Decimal(r["bka058"]) > 0]
    if negative and positive:
        raise Refusal("-1", f"feeinfo: mixes charge rows and refund rows (negative {label('bka058')}); "
                            "send them in separate calls (收费与退费不能同时提交)")
    return bool(negative)


def _refund(ledger: Ledger, call: Call, visit: Visit, rows: list[Row], commit: bool) -> Answer:
    reversed_batches = _batches_refunded_by(visit, rows)
    amounts = settle(rows, ledger.seed.catalogue)
    if not commit:
        return respond(call.function_id, {}, payinfo=[_payinfo(visit, amounts)])
    refund = _new_batch(ledger, call, visit, rows, amounts)
    refund.refund_of = [b.bka001 for b in reversed_batches]
    for batch in reversed_batches:
        batch.refunded_by = refund.bka001
    # Not the registry's leads_to (charged): with nothing left charged the visit is registered again.
    visit.stage = "charged" if visit.open_charges() else "registered"
    return respond(call.function_id, {}, payinfo=[_payinfo(visit, amounts, refund.bka001)])


def _batches_refunded_by(visit: Visit, rows: list[Row]) -> list[Batch]:
    """The charge batches these refund rows reverse, whole; a Refusal for anything else."""
    charged = {row["aaz213"]: (batch, row) for batch in visit.batches if not batch.is_refund
               for row in batch.rows}
    seen: set[str] = set()
    touched: dict[int, Batch] = {}
    for index, row in enumerate(rows):
        batch = _charged_batch_of(charged, row, seen, f"feeinfo[{index}]")
        _check_refundable(batch)
        touched[batch.bka001] = batch
    for batch in touched.values():
        missing = sorted({r["aaz213"] for r in batch.rows} - seen)
        if missing:
            raise Refusal("-1", f"{label('bka001')} {batch.bka001}: a refund reverses the whole batch; rows "
                                f"{label('aaz213')} {', '.join(missing)} are missing (须整批退费)")
    return list(touched.values())


def _charged_batch_of(charged: dict[str, tuple[Batch, Row]], row: Row, seen: set[str], where: str) -> Batch:
    """The batch holding the charged row this refund row reverses (matched by aaz213)."""
    serial = row.get("aaz213", "")
    if not serial:
        raise Refusal("-1", f"{where}.{label('aaz213')}: a refund row carries the aaz213 of the charged "
                            "row, from bizh110103 (退费须传入原费用序号)")
    if serial in seen:
        raise Refusal("-1", f"{where}.{label('aaz213')}: {serial} appears twice (费用序号重复)")
    seen.add(serial)
    if serial not in charged:
        raise Refusal("-1", f"{where}.{label('aaz213')}: {serial} is not a charged row of this visit "
                            "(无此费用序号)")
    batch, original = charged[serial]
    if not _negates(row, original):
        raise Refusal("-1", f"{where}: {label('bka057')} / {label('bka058')} must be the charged row's, "
                            "negated, for the same ake005 (退费数量、金额须与原收费一致)")
    return batch


def _negates(row: Row, original: Row) -> bool:
    return (row.get("ake005") == original.get("ake005")
            and Decimal(row["bka057"]) == -Decimal(original["bka057"])
            and Decimal(row["bka058"]) == -Decimal(original["bka058"]))


def _check_refundable(batch: Batch) -> None:
    if batch.refunded_by is not None:
        raise Refusal("-1", ALREADY_REFUNDED)
    if batch.is_refund:
        raise Refusal("-1", f"{label('bka001')} {batch.bka001}: is itself a refund and cannot be refunded "
                            f"({SAID['is_a_refund']})")


def _negated(row: Row) -> Row:
    return {**row, "bka057": money(-Decimal(row["bka057"])), "bka058": money(-Decimal(row["bka058"]))}


# ---------------------------------------------------------------------------- batches


def _new_batch(ledger: Ledger, call: Call, visit: Visit, rows: list[Row], amounts: Row) -> Batch:
    batch = Batch(bka001=len(visit.batches) + 1, rows=rows, amounts=amounts, date=ledger.today(),
                  operator_code=call.text("bka014"), operator_name=call.text("bka015"))
    visit.batches.append(batch)
    return batch


def _batch(visit: Visit, number: int) -> Batch:
    for batch in visit.batches:
        if batch.bka001 == number:
            return batch
    raise Refusal("-1", f"{label('bka001')}: visit {visit.aaz218} has no batch {number} "
                        f"({SAID['no_such_batch']})")


def _visit_with_batch(ledger: Ledger, call: Call, number: int) -> Visit:
    """The visit bka895/bka896 names; by a person id, their latest visit holding batch `number`."""
    visits = [v for v in find_businesses(ledger, call, "outpatient") if isinstance(v, Visit)]
    if call.text("bka895") != "aaz218":
        visits = [v for v in visits if number == 0 or any(b.bka001 == number for b in v.batches)]
    if not visits:
        raise Refusal("-1", f"{label('bka896')}: no charged outpatient visit found (未找到门诊收费业务)")
    return visits[-1]


def _payinfo(visit: Visit, amounts: Row, bka001: int | None = None) -> Row:
    batch = {"bka001": str(bka001)} if bka001 is not None else {}
    return {"akb020": visit.akb020, "aaz218": visit.aaz218, **batch, **amounts}


HANDLERS: dict[str, Handler] = {
    "bizh110104": register,
    "bizh110102": find,
    "bizh110105": charge,
    "bizh110103": refund_lookup,
    "bizh110106": cancel,
}
