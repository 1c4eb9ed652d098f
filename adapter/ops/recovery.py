"""`gdwi journal recover`: settle journal entries whose outcome is unknown by asking the province.

The province has no idempotency key: after a timeout a state-changing call may or may not have
been committed, and a blind resend can register, charge or settle twice. Recovery never resends
anything. For each `unknown` entry (and each `pending` one whose owner process is gone: see
"Owners" below), oldest first, it decodes the journaled request, asks the province with read-only queries
through the same Client's typed path (so those are journaled too) and records:

    ok       committed: the province has it; the HIS must not resend
    failed   not committed (or nothing to recover): the HIS may resend
    unknown  the answers do not settle it; the entry is left alone and the result says why

Which rule settles a function, and which read-only queries it asks, is a contract fact: each
state-changing function's `confirm` in spec/ (rule + queries by role), read from the registry.
Evidence has two sides: what the province shows now (the listing, batch, fee-list and sheet
queries of those declarations) and what the journal already accounts for (ok entries: a visit
or stay by the aaz218 its registration got, a charge batch by its bka001, fee rows by the uploads
that sent them). A visit, batch or fee row that an ok entry explains is never taken for the lost
one. Each decider below states its matching rule; docs/decisions.md D17 sums them up with what
the mock cannot show. Requests (the journaled one and the queries) and answers are the generated
typed models (Decimal amounts, dates, whole numbers), compared field by field by wire code.

Owners and the answer window (issue 11). A `pending` entry is taken up as soon as the process
that wrote it is gone (Journal.owner_alive: pid plus start time from /proc), at once after a
crash; one whose owner still runs is never touched, however old. Only an entry whose owner
cannot be checked (written on another host) waits for `stale_pending_after`. A request whose
sender died may still be in flight at the province, so "committed" is concluded as soon as a
query shows it, but "not committed" only once the sender's answer window (send time plus its
read timeout) has passed: before that, recovery waits for the window to close and asks again.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapter.errors import BusinessError, GdwiError, SessionExpiredError
from adapter.wire.client import Client, converters
from adapter.wire.codec import decode
from adapter.wire.journal import Entry, Journal, JournalError, Status
from adapter.wire.session import BEIJING
from adapter.wire.typed import request_by_codes, rows_of, value_of
from adapter.wire.validation import InputError
from generated._types import FunctionMeta, StageMeta
from generated.registry import FUNCTIONS, OPENERS

__all__ = ["RecoveryResult", "recover", "settle"]

log = logging.getLogger("gdwi.recovery")

Model = Any  # a generated typed request, answer or row (generated/functions/<id>.py)
FeeKey = tuple[str, Decimal, Decimal, Decimal]

# Defaults of a listing query's filter where the journal holds no registration/admission to copy
# them from (spec code values): bka006 410 工伤门诊, aka130 42 工伤住院.
FILTER_DEFAULTS = {"bka006": "410", "aka130": "42"}
# Request fields of a query that say what to look up by, not which businesses to filter.
LOOKUP_FIELDS = frozenset({"akb020", "bka895", "bka896", "bka001"})
# The refusals recovery acts on are the batch query's declared `refusals` (spec/); only
# already_refunded is in the reference. An undeclared refusal decides nothing.
# A committed charge or refund records its batch as "[bka001=N]" in the entry's message, so a
# later recovery on the same visit counts that batch as accounted for.
BATCH_TOKEN = re.compile(r"\[bka001=(\d+)\]")


@dataclass(frozen=True)
class RecoveryResult:
    """One entry: its status before and after recovery, and how that was decided."""

    function_id: str
    entry_id: int
    before: Status
    after: Status
    how: str


class _CannotTell(GdwiError):
    """The province's answers do not settle the question; the entry stays unknown."""


@dataclass(frozen=True)
class _Verdict:
    status: Status
    how: str
    aaz218: str | None = None  # the visit or stay found for a lost registration or admission


def _committed(how: str, aaz218: str | None = None) -> _Verdict:
    return _Verdict(Status.OK, f"committed: {how}", aaz218)


def _not_committed(how: str) -> _Verdict:
    return _Verdict(Status.FAILED, f"not committed: {how}")


# --------------------------------------------------------------------------- the run


def recover(
    client: Client, *, stale_pending_after: timedelta = timedelta(minutes=10)
) -> list[RecoveryResult]:
    """Settle every unknown entry and every pending one nobody will finish.

    A pending entry is taken when its owner process is gone; `stale_pending_after` applies only
    to entries whose owner cannot be checked (another host, or written before owners were kept).
    """
    journal = client.journal
    ours = {None, client.settings.akb020}  # a shared journal: only this client's institution
    taken = {entry.id for entry in journal.orphaned_pending(stale_pending_after)
             if entry.institution in ours and journal.take_over(entry.id, _orphan_reason(journal, entry))}
    results: list[RecoveryResult] = []
    seen: set[int] = set()
    # A second round settles the queries this one made that themselves ended unknown.
    while batch := [entry for entry in journal.unknown_entries()
                    if entry.id not in seen and entry.institution in ours]:
        for entry in batch:
            seen.add(entry.id)
            before = Status.PENDING if entry.id in taken else Status.UNKNOWN
            results.append(_settle(client, entry, before))
    return results


def _orphan_reason(journal: Journal, entry: Entry) -> str:
    if journal.owner_alive(entry) is False:
        return f"the process that sent it (pid {entry.owner_pid}) ended before the outcome was recorded"
    return "pending too long on a process recovery cannot check (another host or an old entry)"


def settle(client: Client, entry: Entry, before: Status = Status.UNKNOWN) -> RecoveryResult:
    """Settle one unknown entry (a node's recovery worker claimed it: adapter.ops.nodes)."""
    return _settle(client, entry, before)


def _settle(client: Client, entry: Entry, before: Status) -> RecoveryResult:
    def result(after: Status, how: str) -> RecoveryResult:
        return RecoveryResult(entry.function_id, entry.id, before, after, how)

    try:
        verdict = _decide(client, entry)
        wait = _window_left(client, entry) if verdict.status == Status.FAILED and \
            verdict.how.startswith("not committed") else 0.0
        if wait > 0:
            # The sender may still be waiting and the province still processing: only after the
            # window may "not committed" stand. Ask again then.
            log.info("entry %s: not committed so far; waiting %.1f s for its answer window", entry.id, wait)
            time.sleep(wait)
            verdict = _decide(client, entry)
    except _CannotTell as exc:
        return result(Status.UNKNOWN, f"undecided: {exc}")
    try:
        client.journal.resolve(entry.id, verdict.status, verdict.how, aaz218=verdict.aaz218)
    except JournalError as exc:  # settled meanwhile by another recovery run
        now = client.journal.get(entry.id)
        return result(now.status if now else Status.UNKNOWN, f"not recorded: {exc}")
    return result(verdict.status, verdict.how)


def _window_left(client: Client, entry: Entry) -> float:
    """Seconds until the entry's request can no longer be answered (send time + read timeout)."""
    window = entry.answer_window_s if entry.answer_window_s is not None else client.settings.read_timeout
    closes = entry.created_at + timedelta(seconds=window)
    return max(0.0, (closes - datetime.now(UTC)).total_seconds())


def _decide(client: Client, entry: Entry) -> _Verdict:
    meta = FUNCTIONS.get(entry.function_id)
    if meta is None:
        raise _CannotTell(f"{entry.function_id} is not a function of this spec version")
    if meta.kind != "state_changing":
        return _Verdict(Status.FAILED, f"nothing to recover: a {meta.kind} changes nothing at the province")
    decider = _DECIDERS.get(meta.confirm.rule) if meta.confirm else None
    if decider is None:
        raise _CannotTell(f"no recovery rule for {entry.function_id}")
    request = _request_of(entry)
    if request is None:
        raise _CannotTell("the journaled request cannot be decoded")
    return decider(_Case(client, entry, request))


# --------------------------------------------------------------------------- one entry


@dataclass(frozen=True)
class _Case:
    """The entry being settled, its journaled request (typed), and the way to ask the province."""

    client: Client
    entry: Entry
    request: Model

    @property
    def journal(self) -> Journal:
        return self.client.journal

    @property
    def meta(self) -> FunctionMeta:
        return FUNCTIONS[self.entry.function_id]

    def query(self, role: str) -> str:
        """The read-only query the spec names for this role in this function's `confirm`."""
        assert self.meta.confirm is not None  # _decide picks a decider by it
        return self.meta.confirm.query(role)

    @property
    def opener(self) -> str:
        """The function that opened this entry's visit or stay (its registration/admission)."""
        assert self.meta.stage is not None  # every state-changing function has a stage rule
        return OPENERS[self.meta.stage.machine]

    def filter_values(self, query: str, *, from_request: bool = False) -> dict[str, Any]:
        """The values a listing query filters by (bka006, aka130): from this request, or from
        the registration/admission the journal holds for the aaz218."""
        codes = [use.code for use in FUNCTIONS[query].request.fields
                 if use.required and use.code not in LOOKUP_FIELDS]
        if from_request:
            return {code: self.value(code) for code in codes}
        return {code: _opening_value(self, code, FILTER_DEFAULTS.get(code)) for code in codes}

    def value(self, code: str) -> Any:
        return value_of(self.request, code)

    @property
    def aaz218(self) -> str:
        value = self.value("aaz218")
        if not value:
            raise _CannotTell("the request names no aaz218")
        return str(value)

    def history(self) -> list[Entry]:
        return self.journal.history(self.aaz218)

    def ask(self, function_id: str, values: dict[str, Any]) -> Model:
        answer = self.ask_or_refusal(function_id, values)
        if isinstance(answer, BusinessError):
            raise _CannotTell(f"{function_id} refused: {answer.message}")
        return answer

    def ask_or_refusal(self, function_id: str, values: dict[str, Any]) -> Model | BusinessError:
        """The typed answer, or the province's refusal (itself evidence for some queries).

        `values` are keyed by wire code: the query is picked by its role, so its typed request
        is filled by code (adapter.wire.typed) and sent on the client's typed path.
        """
        try:
            # The entry's own akb020: the client refuses to ask for another institution.
            request = request_by_codes(function_id, {"akb020": self.value("akb020"), **values})
            return self.client.send(function_id, request).answer
        except SessionExpiredError as exc:  # a -9 says nothing about the business
            raise _CannotTell(f"could not ask {function_id}: {exc}") from exc
        except BusinessError as exc:
            return exc
        except (GdwiError, InputError) as exc:
            raise _CannotTell(f"could not ask {function_id}: {exc}") from exc


def _later_ok(case: _Case, functions: Iterable[str] | None = None) -> list[Entry]:
    """Ok state-changing entries written after this one on the same visit or stay."""
    wanted = set(functions) if functions is not None else None
    return [e for e in case.history() if e.id > case.entry.id and e.status == Status.OK
            and e.kind == "state_changing" and (wanted is None or e.function_id in wanted)]


def _opening_value(case: _Case, code: str, default: str | None) -> Any:
    """A value the HIS sent when it registered/admitted this aaz218 (the province may filter by it)."""
    sent = [_field(_request_of(entry), code) for entry in case.history() if entry.function_id == case.opener]
    return next((value for value in sent if value is not None), default)


# --------------------------------------------------------------------------- registration, admission

# Fields a listed visit or stay must share with the lost request. Core fields must be shown
# and equal; the others must be equal where the province shows them, except those a function of
# the same machine `modifies` (an admission's ward, department, 住院号 and bed: bizh120104 may
# have changed them since).
_OPENING_CORE = ("akb020", "aac001", "bka017", "bka026")
_OPENING_ALSO = ("aka130", "bka006", "bka014", "bka015", "bka019", "bka021", "bka025")


def _opening(case: _Case) -> _Verdict:
    """A registration or admission (rule opening_listed): the answer, and with it the aaz218, was
    lost. The listing query by the person's aac001 lists their live visits or stays here (cancelled
    ones are not listed); ours is one matching the request that was opened no earlier than the
    request was sent and is not the aaz218 of an ok entry of the same function."""
    query = case.query("listing")
    filters = case.filter_values(query, from_request=True)
    values = {"bka895": "aac001", "bka896": case.value("aac001"), **filters}
    assert case.meta.stage is not None  # an opener has a stage rule (loader-checked)
    machine = case.meta.stage.machine
    changeable = {code for meta in FUNCTIONS.values() if meta.stage and meta.stage.machine == machine
                  for code in meta.modifies}
    also = tuple(code for code in _OPENING_ALSO if code not in changeable)
    return _find_opening(case, query, values, also, "stay" if changeable else "visit")


def _find_opening(
    case: _Case, query: str, values: dict[str, Any], also: tuple[str, ...], what: str
) -> _Verdict:
    rows = rows_of(case.ask(query, values), "bizinfo")
    candidates = sorted(
        value_of(row, "aaz218") for row in rows
        if value_of(row, "aaz218") and _same_opening(case.request, row, also)
        and _not_older(case.entry, row) and not _opened_by_ok_entry(case, value_of(row, "aaz218"))
    )
    if not candidates:
        return _not_committed(f"{query} by aac001 lists {len(rows)} {what}(s), none matching the request "
                              "that an ok entry does not already account for")
    # Entries are settled oldest first, so the oldest unclaimed match pairs with the oldest entry.
    found = candidates[0]
    more = f" ({len(candidates)} candidates, the oldest taken)" if len(candidates) > 1 else ""
    return _committed(f"{query} by aac001 lists {what} aaz218={found} matching the request, which no ok "
                      f"entry accounts for{more}", aaz218=found)


def _same_opening(request: Model, row: Model, also: tuple[str, ...]) -> bool:
    """Typed values compared: 20190508 and a date, 12.5 and 12.50 are the same value."""
    if any((sent := value_of(request, code)) is not None and sent != value_of(row, code)
           for code in _OPENING_CORE):
        return False
    return not any((sent := value_of(request, code)) is not None
                   and (shown := value_of(row, code)) is not None and sent != shown for code in also)


def _not_older(entry: Entry, row: Model) -> bool:
    """A visit registered (bka013) before the request was sent cannot be its result.

    One day of slack for clocks that disagree around midnight; no bka013 shown (or none that
    reads as a date): no filter.
    """
    registered = value_of(row, "bka013")
    sent = (entry.created_at.astimezone(BEIJING) - timedelta(days=1)).date()
    return registered is None or registered >= sent


def _opened_by_ok_entry(case: _Case, aaz218: str) -> bool:
    return any(e.function_id == case.entry.function_id and e.status == Status.OK
               for e in case.journal.history(aaz218))


# --------------------------------------------------------------------------- outpatient charges


def _outpatient_charge(case: _Case) -> _Verdict:
    """bizh110105 (rule charge_batch). bka893=0 is a trial: nothing is saved. bka893=1 adds batch
    bka001 = n+1 to the visit. Batches the journal accounts for are known by number; the first
    number not accounted for is asked with the batch query (bizh110103: it answers a batch's rows,
    negated): the request's rows there mean committed, "no such batch" means not."""
    if case.value("bka893") != "1":
        return _Verdict(Status.FAILED, "nothing to recover: bka893=0 is a trial, the province saves no "
                                       "batch and no stage (run the trial again if needed)")
    rows = rows_of(case.request, "feeinfo")
    if any(_decimal(row, "bka058") < 0 for row in rows):
        return _outpatient_refund(case, rows)
    number = _first_unaccounted_batch(case)
    query = case.query("batches")
    answer = case.ask_or_refusal(query, _batch_query(case, number))
    if isinstance(answer, BusinessError):
        return _charge_by_refusal(query, answer, number)
    listed = Counter(_charged(row, sign=-1) for row in rows_of(answer, "feeinfo"))
    if listed == Counter(_charged(row) for row in rows):
        return _committed(f"{query} shows batch {number}, which no ok entry accounts for, holding exactly "
                          f"the request's rows [bka001={number}]")
    raise _CannotTell(f"{query} batch {number}, which no ok entry accounts for, holds other rows than "
                      "this request")


def _charge_by_refusal(query: str, refusal: BusinessError, number: int) -> _Verdict:
    meaning = _meaning(query, refusal)
    if meaning == "no_such_batch":
        return _not_committed(f"{query} has no batch {number}, the first one no ok entry accounts for")
    if meaning == "already_refunded":
        # Its rows can no longer be read, but a batch exists that only this request explains.
        return _committed(f"{query}: batch {number}, which no ok entry accounts for, exists and is "
                          f"already refunded [bka001={number}]")
    raise _CannotTell(f"{query} about batch {number} refused: {refusal.message}")


def _outpatient_refund(case: _Case, rows: tuple[Model, ...]) -> _Verdict:
    """A refund sends a charged batch's rows back negated, with their aaz213. bizh110103 with
    bka001=0 lists every row still refundable: all of ours there means not committed, none
    means they were refunded (a batch is refunded at most once)."""
    serials = {value_of(row, "aaz213") for row in rows}
    if None in serials:
        raise _CannotTell("a refund row carries no aaz213 to look for")
    query = case.query("batches")
    answer = case.ask_or_refusal(query, _batch_query(case, 0))
    if isinstance(answer, BusinessError) and _meaning(query, answer) != "nothing_to_refund":
        raise _CannotTell(f"{query} refused: {answer.message}")
    refundable = set() if isinstance(answer, BusinessError) else {
        value_of(row, "aaz213") for row in rows_of(answer, "feeinfo")}
    if serials <= refundable:
        return _not_committed(f"{query} still lists every row this refund reverses as refundable")
    if serials & refundable:
        raise _CannotTell(f"{query} lists some of the rows this refund reverses as refundable, not all")
    return _committed(f"{query} lists none of the rows this refund reverses as refundable"
                      f"{_refund_batch(case)}")


def _refund_batch(case: _Case) -> str:
    """The refund's own batch number, if the first unaccounted batch is a refund (for the token)."""
    number = _first_unaccounted_batch(case)
    query = case.query("batches")
    answer = case.ask_or_refusal(query, _batch_query(case, number))
    if isinstance(answer, BusinessError) and _meaning(query, answer) == "is_a_refund":
        return f"; batch {number} is the refund [bka001={number}]"
    return ""


def _meaning(query: str, refusal: BusinessError) -> str | None:
    return FUNCTIONS[query].refusal_meaning(refusal.message)


def _first_unaccounted_batch(case: _Case) -> int:
    charges = [e for e in case.history()
               if e.function_id == case.entry.function_id and e.status == Status.OK and e.id != case.entry.id]
    taken = {_batch_of(entry) for entry in charges}
    number = 1
    while number in taken:
        number += 1
    return number


def _batch_of(entry: Entry) -> int | None:
    """The batch of an ok charge/refund: from its answer, or the token recovery wrote."""
    token = BATCH_TOKEN.search(entry.message or "")
    if token:
        return int(token.group(1))
    if not entry.response_xml:
        return None
    try:
        values = decode(entry.response_xml.encode(), entry.function_id, "response").values
    except (GdwiError, ValueError):
        return None  # e.g. a truncated answer: this entry accounts for no known batch
    payinfo = rows_of(converters(entry.function_id).parse_answer(values), "payinfo")
    number = value_of(payinfo[0], "bka001") if payinfo else None
    return number if isinstance(number, int) and number >= 0 else None


def _batch_query(case: _Case, number: int) -> dict[str, Any]:
    filters = case.filter_values(case.query("batches"))
    return {"bka895": "aaz218", "bka896": case.aaz218, **filters, "bka001": number}


def _registration_cancel(case: _Case) -> _Verdict:
    """bizh110106 (rule cancel_unlisted): the listing by aaz218 lists live registrations only; an
    answer without the visit means cancelled (an aaz218 the province does not know is a refusal:
    undecided)."""
    query = case.query("listing")
    answer = case.ask(query, {"bka895": "aaz218", "bka896": case.aaz218, **case.filter_values(query)})
    if any(value_of(row, "aaz218") == case.aaz218 for row in rows_of(answer, "bizinfo")):
        return _not_committed(f"{query} still lists the registration as live")
    return _committed(f"{query} answers for the aaz218 without a row: the registration is cancelled")


# --------------------------------------------------------------------------- inpatient stays

def _shown_changes(case: _Case) -> tuple[str, ...]:
    """Of the fields this function `modifies`, those its listing query's rows show (bizh120102
    shows the ward, department, 住院号 and bed of bizh120104's, not their names)."""
    listing = FUNCTIONS[case.query("listing")].response
    shown = {use.code for dataset in listing.datasets for use in dataset.fields}
    return tuple(code for code in case.meta.modifies if code in shown)


def _admission_change(case: _Case) -> _Verdict:
    """bizh120104 (rule fields_shown) sets absolute values. A field tells only if the listing shows
    it, the request changes it (its value before this call comes from the journal's admission and
    earlier modifications) and no later ok modification set it again: all such fields as requested
    means committed, any other value means not."""
    query, changes = case.query("listing"), _shown_changes(case)
    later = _later_ok(case, [case.entry.function_id])
    overwritten = {code for e in later for code in changes if _field(_request_of(e), code) is not None}
    before = _values_before(case, changes)
    row = _stay_row(case)
    telling = [code for code in changes if case.value(code) is not None and value_of(row, code) is not None
               and code not in overwritten and case.value(code) != before.get(code)]
    if not telling and later:
        raise _CannotTell(f"{query} shows no field this modification changes that a later ok one "
                          f"(entry {later[0].id}) did not set again")
    if not telling:
        # Commit or not, the shown fields are as requested; resending re-sets the same values.
        return _Verdict(Status.FAILED, f"resend: {query} shows no field this modification changes, so "
                                       "it cannot tell; resending sets the same absolute values again")
    differ = [code for code in telling if value_of(row, code) != case.value(code)]
    if differ and later:
        raise _CannotTell(f"{query} shows {_pairs(row, differ)}, not as requested, but a later ok "
                          f"modification (entry {later[0].id}) exists: resending this one would undo it")
    if differ:
        return _not_committed(f"{query} shows {_pairs(row, differ)}, not the requested values")
    return _committed(f"{query} shows {_pairs(row, telling)} as requested (changed from "
                      f"{_listed(before, telling)})")


def _values_before(case: _Case, changes: tuple[str, ...]) -> dict[str, Any]:
    """The shown fields as the journal's ok opening and earlier modifications set them."""
    setters = {case.opener, case.entry.function_id}
    values: dict[str, Any] = {}
    for entry in case.history():
        if entry.id < case.entry.id and entry.status == Status.OK and entry.function_id in setters:
            request = _request_of(entry)
            values.update({code: value for code in changes if (value := _field(request, code)) is not None})
    return values


def _fee_upload(case: _Case) -> _Verdict:
    """bizh120002 (rule fee_rows_listed). The fee list (bizh120113) lists the stay's fee rows, but
    with no id the HIS chose (no aaz213, bka071 or even ake005): a row is matched by 名称 ake006,
    单价 bka056, 用量 (dosage = bka057) and 金额 (money = bka058), as a multiset. The rows beyond
    what ok uploads since the last delete account for must hold the whole chunk (committed) or
    none of it (not committed)."""
    query, history = case.query("fees"), case.history()
    _refuse_if_deleted_later(case, history)
    listed = _listed_fees(case)
    accounted = _uploaded(case, history, exclude=case.entry.id)
    if accounted - listed:
        raise _CannotTell(f"{query} lacks rows that ok uploads put there")
    surplus = listed - accounted
    chunk = Counter(_fee_key(row, "bka057", "bka058") for row in rows_of(case.request, "feeinfo"))
    counts = f"{chunk.total()} row(s); {listed.total()} listed, {accounted.total()} accounted for"
    if not chunk - surplus:
        return _committed(f"{query} lists this chunk beyond what ok uploads account for ({counts})")
    if not chunk & surplus:
        return _not_committed(f"{query} lists no row of this chunk beyond ok uploads ({counts})")
    raise _CannotTell(f"{query} lists part of this chunk beyond ok uploads ({counts})")


def _refuse_if_deleted_later(case: _Case, history: list[Entry]) -> None:
    for entry in history:
        live = entry.status in (Status.OK, Status.UNKNOWN, Status.PENDING)
        if entry.id > case.entry.id and entry.function_id == case.meta.compensation and live:
            raise _CannotTell(f"a later delete-all (entry {entry.id}, {entry.status}) removed or may have "
                              "removed these rows, so the fee list cannot tell; resending would bring "
                              "back deleted fees")


def _fee_deletion(case: _Case) -> _Verdict:
    """bizh120004 (rule fee_rows_cleared) deletes every fee row: the fee list must hold only what
    ok uploads sent after it (committed), or also what they sent before it (not committed)."""
    query, history = case.query("fees"), case.history()
    before = _uploaded(case, [e for e in history if e.id < case.entry.id])
    after = _uploaded(case, [e for e in history if e.id > case.entry.id])
    listed = _listed_fees(case)
    counts = f"{listed.total()} listed, {before.total()} uploaded before, {after.total()} after"
    if listed == after:
        return _committed(f"{query} lists only rows uploaded after the delete ({counts})")
    if listed == before + after:
        warning = "; resending now would also delete the rows uploaded since" if after else ""
        return _not_committed(f"{query} still lists the rows uploaded before ({counts}){warning}")
    raise _CannotTell(f"{query} matches neither outcome ({counts})")


def _stage_change(case: _Case) -> _Verdict:
    """bizh120105-120109 (rule stage_shown) move the stay from FUNCTIONS[fid].stage.requires to
    .leads_to. A later ok call on the stay answers first (see _later_evidence); else the stage the
    province shows."""
    rule = FUNCTIONS[case.entry.function_id].stage
    assert rule is not None and rule.leads_to is not None  # every _stage_change function has one
    decided = _later_evidence(case, rule)
    if decided is not None:
        return decided
    stage, shown = _stay_stage(case)
    if stage == rule.leads_to:
        return _committed(f"{shown}: the stay is {stage}, where this call leads")
    if stage in rule.requires:
        return _not_committed(f"{shown}: the stay is still {stage}")
    raise _CannotTell(f"{shown}: the stay is {stage}, neither before ({'/'.join(rule.requires)}) nor "
                      f"after ({rule.leads_to}) this call")


def _later_evidence(case: _Case, rule: StageMeta) -> _Verdict | None:
    """The province accepted each later ok call only in the stages its rule requires: if those
    include where this call leads and not where it starts, this call was committed, and the
    other way round it was not. A later call that moved the stay ends what the stage can say."""
    for later in _later_ok(case):
        required = FUNCTIONS[later.function_id].stage
        if required is None:
            continue
        after = rule.leads_to in required.requires
        before = bool(set(rule.requires) & set(required.requires))
        if after != before:
            said = (f"entry {later.id} ({later.function_id}) was accepted later, which the province "
                    f"allows only in {'/'.join(required.requires)}")
            return _committed(said) if after else _not_committed(said)
        if required.leads_to is not None:
            raise _CannotTell(f"entry {later.id} ({later.function_id}) has moved the stay on since")
    return None


def _stay_stage(case: _Case) -> tuple[str, str]:
    """The stay's stage: the listing's row (none: cancelled; bka039 / bka032 出院: discharged),
    and for a discharged stay the sheet query (bizh120206), which answers for a settled stay only;
    its answer must agree with bka891 (结算标志), whose reading the reference rates low."""
    listing, sheet_query = case.query("listing"), case.query("sheet")
    row = _stay_row(case, missing_ok=True)
    if row is None:
        return "cancelled", f"{listing} no longer lists the stay (cancelled stays are not listed)"
    flags = f"{listing} {_pairs(row, ('bka039', 'bka032', 'bka891'))}"
    if value_of(row, "bka039") != "1" and value_of(row, "bka032") is None:
        return "admitted", flags
    sheet = case.ask_or_refusal(sheet_query, {"aaz218": case.aaz218})
    settled = not isinstance(sheet, BusinessError)
    if settled != (value_of(row, "bka891") == "1"):
        shown = "a" if settled else "no"
        raise _CannotTell(f"{flags} disagrees with {sheet_query} ({shown} settlement sheet)")
    return ("settled" if settled else "discharge_registered"), \
        f"{flags}, {sheet_query} {'answers' if settled else 'refuses'}"


def _stay_row(case: _Case, *, missing_ok: bool = False) -> Model | None:
    query = case.query("listing")
    answer = case.ask(query, {"bka895": "aaz218", "bka896": case.aaz218, **case.filter_values(query)})
    row = next((r for r in rows_of(answer, "bizinfo") if value_of(r, "aaz218") == case.aaz218), None)
    if row is None and not missing_ok:
        raise _CannotTell(f"{query} no longer lists the stay")
    return row


def _medical_record(case: _Case) -> _Verdict:
    """bizh2001xx (rule not_queryable): no query returns medical-record data, so the province
    cannot be asked.
    Marked for resend (decision D17): a re-upload replaces the stay's part and moves no money
    and no stage, so resending a committed one costs an overwrite, not a second record."""
    del case
    return _Verdict(Status.FAILED, "resend: no query returns medical-record data, so whether this upload "
                                   "landed cannot be asked; a re-upload replaces the stay's part (D17)")


# confirm.rule (spec/, meta-schema ConfirmRule) -> the decider that reads it back.
_DECIDERS: dict[str, Callable[[_Case], _Verdict]] = {
    "opening_listed": _opening,
    "charge_batch": _outpatient_charge,
    "cancel_unlisted": _registration_cancel,
    "fields_shown": _admission_change,
    "fee_rows_listed": _fee_upload,
    "fee_rows_cleared": _fee_deletion,
    "stage_shown": _stage_change,
    "not_queryable": _medical_record,
}


# --------------------------------------------------------------------------- fee rows


def _listed_fees(case: _Case) -> Counter[FeeKey]:
    answer = case.ask(case.query("fees"), {"aaz218": case.aaz218, "operate": "2"})  # 2: every row
    return Counter(_fee_key(row, "dosage", "money") for row in rows_of(answer, "list"))


def _uploaded(case: _Case, entries: list[Entry], exclude: int | None = None) -> Counter[FeeKey]:
    """Fee rows the ok uploads among `entries` sent since the last ok delete-all among them.
    The upload and the delete-all are this function and its declared compensation (either way)."""
    meta = case.meta
    upload = meta.compensates or meta.function_id
    delete = FUNCTIONS[upload].compensation
    rows: Counter[FeeKey] = Counter()
    for entry in entries:
        if entry.status != Status.OK or entry.id == exclude:
            continue
        if entry.function_id == delete:
            rows.clear()
        elif entry.function_id == upload:
            rows.update(_fee_key(row, "bka057", "bka058") for row in rows_of(_request_of(entry), "feeinfo"))
    return rows


def _fee_key(row: Model, quantity: str, amount: str) -> FeeKey:
    return value_of(row, "ake006") or "", _decimal(row, "bka056"), _decimal(row, quantity), \
        _decimal(row, amount)


def _charged(row: Model, sign: int = 1) -> FeeKey:
    return value_of(row, "ake005") or "", _decimal(row, "bka056"), sign * _decimal(row, "bka057"), \
        sign * _decimal(row, "bka058")


# --------------------------------------------------------------------------- small helpers


def _request_of(entry: Entry) -> Model | None:
    """The journaled request, typed (generated parse_request); None when it cannot be read."""
    try:
        values = decode(entry.request_xml.encode(), entry.function_id, "request").values
        return converters(entry.function_id).parse_request(values)
    except (GdwiError, ValueError, KeyError):  # KeyError: a function_id this spec does not have
        return None


def _field(request: Model | None, code: str) -> Any:
    return value_of(request, code) if request is not None else None


def _decimal(row: Model, code: str) -> Decimal:
    """An amount a rule needs; absent or unreadable (a deviation of the answer) decides nothing."""
    value = value_of(row, code)
    if not isinstance(value, Decimal):
        raise _CannotTell(f"{code} is absent or not a number") from None
    return value


def _pairs(row: Model | None, codes: Iterable[str]) -> str:
    return ", ".join(f"{code}={_shown(value_of(row, code) if row is not None else None)}" for code in codes)


def _listed(values: dict[str, Any], codes: Iterable[str]) -> str:
    return ", ".join(f"{code}={_shown(values.get(code))}" for code in codes)


def _shown(value: Any) -> str:
    return "-" if value is None else str(value)
