"""One call per business step, with declared compensation (交易补偿).

    outpatient = OutpatientService(client)
    registration = outpatient.register(visit, operator, his_commit=save_visit_no)
    settlement = outpatient.charge(registration.visit_no, fees, operator)

A HIS calls a service method per business step; each maps HIS objects onto the generated typed
request (adapter.his.mapping), sends it on the client's typed path (which writes the wire text
with the generated build, validates, journals and sends every call), and reads the typed answer
back into HIS result types (adapter.his.model).

The HIS's own write is a callback, `his_commit(result)`, run after the province accepted the
step. When it raises, the province step is undone with the reversal the registry declares
(generated.registry FUNCTIONS[...].compensation), never a hand-kept table:

    admit      bizh120103 ok, his_commit fails   -> bizh120109 (cancel admission)
    register   bizh110104 ok, his_commit fails   -> bizh110106 (cancel registration)
    discharge  bizh120105 ok, his_commit fails   -> bizh120108 (cancel discharge registration)
    settle     bizh120106 ok, his_commit fails   -> bizh120107, then bizh120108 (back to admitted)
    upload_fees  a chunk fails after earlier chunks were saved -> bizh120004 (delete all fees), or
                 where the city offers no deletion, refund rows offsetting the saved rows (冲减)

and raises `Compensated` (`FeeUploadFailed` for fees). When the reversal fails too it raises
`CompensationFailed` carrying both errors; both calls are in the journal. When the province
call's own outcome is unknown (OutcomeUnknownError) nothing is undone: the error is raised as is
and its journal entry stays `unknown` for `gdwi journal recover`. A refusal (BusinessError) means
nothing happened at the province, so there is nothing to undo.

`InpatientService.cancel_to(stay, stage)` walks a stay back to an earlier stage with the same
registry chain: each step is the compensation of the function that led into the stage left.

What a city offers comes from its profile (spec/cities.yaml, `Settings.city`, adapter.his.offsets):
fee deletion (bizh120004) or refund rows only, and whether a settlement may be cancelled in a later
month (跨月取消结算).

The services are synchronous and keep no state besides the client: one instance may serve many
threads if the client does (adapter.Client does).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import is_dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar, cast

from pydantic import ValidationError

from adapter.errors import (
    BusinessError,
    CommittedIncompleteError,
    FieldProblem,
    GdwiError,
    InputError,
    MappingError,
    OutcomeUnknownError,
)
from adapter.his import mapping, offsets
from adapter.his.errors import (
    AmountMismatch,
    Compensated,
    CompensationFailed,
    FeeUploadFailed,
    HisWorkflowError,
)
from adapter.his.model import (
    BusinessInfo,
    Discharge,
    FeeItem,
    FeeListLine,
    FeeUpload,
    IdentifierKind,
    InpatientStay,
    Institution,
    MedicalRecord,
    Operator,
    OutpatientVisit,
    Patient,
    PersonInfo,
    Registration,
    Settlement,
    SettlementSheet,
)
from adapter.wire.client import Reply, converters, write_request
from adapter.wire.codec import decode, to_wire
from adapter.wire.journal import Journal, Status
from adapter.wire.session import BEIJING
from adapter.wire.typed import WireCaller, send_typed
from adapter.wire.validation import describe
from generated._types import FunctionMeta
from generated.cities import CityMeta
from generated.registry import FUNCTIONS, OPENERS, SPEC, STAGE_MACHINES, row_model

__all__ = [
    "HisCommit",
    "InpatientService",
    "MedicalRecordService",
    "OutpatientService",
    "Progress",
    "WireCaller",
    "compensations_of",
    "reversal_path",
]

log = logging.getLogger("gdwi.his")
ResultT = TypeVar("ResultT")
HisCommit = Callable[[ResultT], None]
"""The HIS's own write of a step's result (e.g. storing the 就医登记号); raise to have it undone."""
Progress = Callable[[int, int], None]
"""Called after each saved fee chunk with (rows saved so far, rows in the upload)."""


Typed = Any
"""A generated typed request (generated.functions.<id>.Request)."""


# --------------------------------------------------------------------------- the registry's chains


def compensations_of(*steps: str) -> tuple[str, ...]:
    """The registry's declared compensation of each forward step, in the order given."""
    chain: list[str] = []
    for function_id in steps:
        compensation = FUNCTIONS[function_id].compensation
        if compensation is None:
            raise LookupError(f"{function_id} declares no compensation in spec/")
        chain.append(compensation)
    return tuple(chain)


def reversal_path(machine: str, current: str, target: str) -> tuple[str, ...]:
    """The reversals that take a business of `machine` from stage `current` back to `target`.

    Each step undoes the function that led into the stage being left: its declared compensation
    (settled -> bizh120107 -> discharge_registered -> bizh120108 -> admitted -> bizh120109 ->
    cancelled). ValueError when `target` is not behind `current` on that chain.
    """
    stages = [name for name, _ in STAGE_MACHINES[machine].stages]
    if current not in stages or target not in stages:
        raise ValueError(f"{machine}: stages are {', '.join(stages)}; got {current!r} -> {target!r}")
    path: list[str] = []
    stage = current
    while stage != target:
        forward = _forward_into(machine, stage)
        if forward is None or forward.compensation is None or len(path) == len(stages):
            raise ValueError(f"{machine}: cannot go back from {current} to {target} (no declared "
                             f"reversal leaves {stage})")
        reverse = FUNCTIONS[forward.compensation]
        assert reverse.stage is not None and reverse.stage.leads_to is not None  # loader-checked
        path.append(reverse.function_id)
        stage = reverse.stage.leads_to
    return tuple(path)


def _forward_into(machine: str, stage: str) -> FunctionMeta | None:
    """The compensable function whose success puts a business into `stage` (at most one)."""
    found = [meta for meta in FUNCTIONS.values()
             if meta.stage is not None and meta.stage.machine == machine
             and meta.stage.leads_to == stage and meta.compensation is not None]
    if len(found) > 1:
        raise ValueError(f"{machine}: {len(found)} compensable functions lead into {stage}")
    return found[0] if found else None


UNDO_REGISTRATION = compensations_of(OPENERS["outpatient"])
UNDO_ADMISSION = compensations_of(OPENERS["inpatient"])
UNDO_FEES = compensations_of("bizh120002")
# Where the city offers no deletion, fees are offset through the upload itself (refund rows).
FEE_UPLOAD = FUNCTIONS[UNDO_FEES[0]].compensates or ""
UNDO_DISCHARGE = compensations_of("bizh120105")
# The reference pairs a failed HIS write after settlement with both reversals (the HIS books
# 出院 and 结算 as one step), so the stay goes back to admitted, where fees may change again.
UNDO_SETTLEMENT = compensations_of("bizh120106", "bizh120105")


# The medical-record uploads: the spec's group medical_record, in function_id order.
MEDICAL_RECORD_PARTS = tuple(sorted(fid for fid, meta in FUNCTIONS.items() if meta.group == "medical_record"))


# --------------------------------------------------------------------------- shared machinery


class _Service:
    def __init__(self, client: WireCaller) -> None:
        self._client = client

    def _reply(self, function_id: str, request: Typed) -> Reply[Any]:
        """Send a typed request on the client's typed path; the answer comes back typed
        (generated/functions/<id>.py) with its deviations and journal entry."""
        return send_typed(self._client, function_id, request)

    def _call(self, function_id: str, request: Typed) -> Any:
        return self._reply(function_id, request).answer

    def _committed(self, reply: Reply[Any], read: Callable[[Any], ResultT]) -> ResultT:
        """A committed step's result, its deviations as warnings; never a failure once committed.

        An answer too incomplete to read (a missing amount, say) is CommittedIncompleteError,
        which names the journal entry and is never compensated.
        """
        try:
            result = read(reply.answer)
        except MappingError as exc:
            raise CommittedIncompleteError(reply.function_id, reply.journal_id, "a value", str(exc)) from exc
        if reply.deviations and is_dataclass(result) and hasattr(result, "warnings"):
            result = cast(ResultT, replace(cast(Any, result), warnings=reply.warnings))
        return result

    def _commit(
        self, what: str, result: ResultT, his_commit: HisCommit[ResultT] | None, visit_no: str,
        undo: tuple[str, ...], operator: Operator | None = None,
    ) -> ResultT:
        """Run the HIS's write; if it raises, undo the province step and raise Compensated."""
        if his_commit is None:
            return result
        try:
            his_commit(result)
        except Exception as exc:  # any HIS failure: the province must not keep what the HIS lost
            done = self._undo(what, visit_no, exc, undo, operator)
            raise Compensated(what, visit_no, exc, done) from exc
        return result

    def _settlement(self, reply: Reply[Any], visit_no: str) -> Settlement:
        read = partial(mapping.read_settlement, reply.function_id)
        return _numbered(self._committed(reply, read), visit_no)

    def _registration(
        self, reply: Reply[Any], candidates: Callable[[], list[BusinessInfo]]
    ) -> Registration:
        """The 就医登记号 a registration / admission answer names, or, when the committed answer
        lacks it, the one open business the read-only look-up finds for the person and day.

        Anything else is CommittedIncompleteError (with the journal entry): never compensated,
        since undoing an unidentified business could undo the wrong one.
        """
        visit_no = reply.answer.visit_registration_no
        if visit_no is None:
            try:
                found = candidates()
            except GdwiError as exc:
                raise CommittedIncompleteError(reply.function_id, reply.journal_id, "aaz218 就医登记号",
                                               f"the look-up failed: {exc}") from exc
            if len(found) != 1:
                raise CommittedIncompleteError(
                    reply.function_id, reply.journal_id, "aaz218 就医登记号",
                    f"the look-up found {len(found)} open businesses for the person that day")
            visit_no = found[0].visit_no
            log.warning("%s answer lacked aaz218; found %s by the read-only look-up",
                        reply.function_id, visit_no)
        return Registration(visit_no, warnings=reply.warnings)

    def _undo(
        self, what: str, visit_no: str, original: BaseException, chain: tuple[str, ...],
        operator: Operator | None = None,
    ) -> tuple[str, ...]:
        """Send the reversals in order; the first that fails ends it with CompensationFailed."""
        log.warning("%s for aaz218 %s failed (%s); compensating with %s",
                    what, visit_no, type(original).__name__, ", ".join(chain))
        done: list[str] = []
        for function_id in chain:
            try:
                self._call(function_id, mapping.cancellation_request(function_id, visit_no, operator))
            except Exception as exc:  # never silent: whatever stops a reversal is reported
                # Type and return code only: a province message may quote the patient.
                code = f" {exc.code}" if isinstance(exc, BusinessError) else ""
                log.error("compensation %s for aaz218 %s failed: %s%s",
                          function_id, visit_no, type(exc).__name__, code)
                raise CompensationFailed(what, visit_no, original, function_id, exc, tuple(done)) from exc
            done.append(function_id)
        return tuple(done)


def _settings_city(client: WireCaller) -> str | None:
    """The city of the client's settings, when the caller has settings (adapter.Client does)."""
    city = getattr(getattr(client, "settings", None), "city", None)
    return city if isinstance(city, str) else None


RowKey = tuple[tuple[str, str], ...]


def _row_key(row: dict[str, Any]) -> RowKey:
    """A fee row as wire text: what the journal's request of it decodes to."""
    return tuple(sorted((code, str(value)) for code, value in row.items()))


def _written(function_id: str, request: Typed) -> dict[str, Any]:
    """The request's wire values by the generated build, before anything is sent: a value a
    field cannot hold is an InputError naming it (`feeinfo[350].bka058`), with nothing sent."""
    return write_request(function_id, request, converters(function_id).build_request)


def _with_rows(request: Typed, rows: Sequence[Any]) -> Typed:
    """The fee-upload request with other rows (a chunk, or refund rows)."""
    return replace(request, feeinfo_rows=tuple(rows))


def _saved_rows(client: WireCaller, visit_no: str) -> Counter[RowKey]:
    """Fee rows the journal shows saved on the stay and not taken back: ok uploads since the last
    ok delete-all, a refund row (negative amount) cancelling the row it negates.

    A client without a journal (a test double) resumes nothing.
    """
    journal = getattr(client, "journal", None)
    if not isinstance(journal, Journal):
        return Counter()
    rows: Counter[RowKey] = Counter()
    for entry in journal.history(visit_no):
        if entry.status != Status.OK:
            continue
        if entry.function_id in UNDO_FEES:  # the delete-all
            rows.clear()
        elif entry.function_id == FEE_UPLOAD:
            try:
                request = decode(entry.request_xml.encode("utf-8"), FEE_UPLOAD, "request").values
            except (GdwiError, ValueError):
                continue  # unreadable: its rows are not skipped, the province judges a resend
            for row in to_wire(request).get("feeinfo") or []:
                _count_saved(rows, row)
    return rows


def _count_saved(rows: Counter[RowKey], row: dict[str, str]) -> None:
    if row.get("bka058", "").startswith("-"):
        taken_back = _row_key(offsets.refund_rows([row])[0])  # negating twice: the original row
        if rows[taken_back] > 0:
            rows[taken_back] -= 1
            return
    rows[_row_key(row)] += 1


def _visit_no(business: OutpatientVisit | InpatientStay | str) -> str:
    """The 就医登记号 of a visit / stay object, or the text itself."""
    if isinstance(business, str):
        return business
    if business.visit_no is None:
        raise ValueError("this visit / stay has no visit_no (就医登记号) yet: register or admit it first")
    return business.visit_no


def _numbered(settlement: Settlement, visit_no: str) -> Settlement:
    """Settlement answers do not always echo aaz218; the caller knows it."""
    if settlement.visit_no is not None:
        return settlement
    return replace(settlement, visit_no=visit_no)


# --------------------------------------------------------------------------- outpatient 门诊


class OutpatientService(_Service):
    """门诊: lookup → register → trial / charge → refund a batch → cancel.

    An outpatient charge has no declared compensation (decision D7): its reversal is a refund of
    the batch (`refund`), which the HIS decides on, so `charge` takes no his_commit.
    """

    def lookup(self, patient: Patient) -> list[PersonInfo]:
        """bizh110001: the insured person(s) behind an identifier (usually one)."""
        return mapping.read_persons(self._call("bizh110001", mapping.lookup_request("bizh110001", patient)))

    def visits(self, patient: Patient) -> list[BusinessInfo]:
        """bizh110102: the registered, not cancelled visits (also by Patient.by_visit_no)."""
        answer = self._call("bizh110102", mapping.lookup_request("bizh110102", patient))
        return mapping.read_business("bizh110102", answer)

    def register(
        self, visit: OutpatientVisit, operator: Operator, *,
        his_commit: HisCommit[Registration] | None = None,
    ) -> Registration:
        """bizh110104; if his_commit raises, bizh110106 cancels the registration (Compensated)."""
        reply = self._reply("bizh110104", mapping.registration_request(visit, operator))
        registration = self._registration(reply, lambda: [
            row for row in self.visits(Patient(IdentifierKind.PERSON_NO, visit.person_no))
            if row.visit_date in (None, visit.visit_date)])
        return self._commit("outpatient registration", registration, his_commit, registration.visit_no,
                            UNDO_REGISTRATION, operator)

    def trial(self, visit: OutpatientVisit | str, fees: Sequence[FeeItem], operator: Operator) -> Settlement:
        """bizh110105 with 结算标识 0: what the charge would cost; nothing is saved."""
        return self._charge(_visit_no(visit), fees, operator, commit=False)

    def charge(self, visit: OutpatientVisit | str, fees: Sequence[FeeItem], operator: Operator) -> Settlement:
        """Trial, then commit (bizh110105 0 then 1) when the trial total is the HIS's fee sum.

        AmountMismatch (nothing committed) when the province totals the rows differently.
        The result's batch_no is the 费用批次 to refund later.
        """
        visit_no = _visit_no(visit)
        trial = self._charge(visit_no, fees, operator, commit=False)
        his_total = sum((fee.amount for fee in fees), Decimal(0))
        if trial.total != his_total:
            raise AmountMismatch(visit_no, his_total, trial.total)
        return self._charge(visit_no, fees, operator, commit=True)

    def _charge(
        self, visit_no: str, fees: Sequence[FeeItem], operator: Operator, *, commit: bool,
    ) -> Settlement:
        reply = self._reply("bizh110105", mapping.charge_request(visit_no, fees, operator, commit=commit))
        return self._settlement(reply, visit_no)

    def refund(self, visit: OutpatientVisit | str, batch_no: int, operator: Operator) -> Settlement:
        """Refund a whole charged batch: bizh110103 fetches its rows, negated, and bizh110105 sends
        them back unchanged. Returns the refund's (negative) settlement and batch number."""
        visit_no = _visit_no(visit)
        answer = self._call("bizh110103", mapping.refund_lookup_request(visit_no, batch_no))
        rows = answer.feeinfo_rows
        if not rows:
            raise HisWorkflowError(f"就医登记号 {visit_no}: batch {batch_no} has no rows to refund")
        refund = self._reply("bizh110105", mapping.refund_request(visit_no, rows, operator))
        return self._settlement(refund, visit_no)

    def cancel(self, visit: OutpatientVisit | str, operator: Operator) -> None:
        """bizh110106: cancel a registration with no un-refunded charge."""
        visit_no = _visit_no(visit)
        self._call("bizh110106", mapping.cancellation_request("bizh110106", visit_no, operator))


# --------------------------------------------------------------------------- inpatient 住院


class InpatientService(_Service):
    """住院: lookup → admit → (modify) → upload fees → pre-settle → discharge → settle → sheet.

    A stay is passed as an InpatientStay with visit_no set, or as its visit_no (就医登记号) text.
    `city` names the profile of spec/cities.yaml to follow (default: the client's settings, else the
    spec's); `clock` gives Beijing time for the later-month rule (default: now).
    """

    def __init__(
        self, client: WireCaller, *, city: str | None = None, clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(client)
        self.city: CityMeta = offsets.city_named(city or _settings_city(client))
        self._clock = clock or (lambda: datetime.now(BEIJING))

    def lookup(self, patient: Patient) -> list[PersonInfo]:
        """bizh120001: the insured person(s) behind an identifier, before admission."""
        return mapping.read_persons(self._call("bizh120001", mapping.lookup_request("bizh120001", patient)))

    def stays(self, patient: Patient) -> list[BusinessInfo]:
        """bizh120102: the person's stays here that are not cancelled (or one by visit_no)."""
        return mapping.read_business("bizh120102", self._stays_answer(patient))

    def _stays_answer(self, patient: Patient) -> Any:
        """The typed bizh120102 answer (generated.functions.bizh120102.Answer)."""
        return self._call("bizh120102", mapping.lookup_request("bizh120102", patient))

    def stage_of(self, stay: InpatientStay | str) -> str | None:
        """The stay's stage at the province, read from bizh120102's flags: admitted,
        discharge_registered or settled; None when the province lists no such open stay
        (cancelled, or never admitted here)."""
        rows = self.stays(Patient.by_visit_no(_visit_no(stay)))
        if not rows:
            return None
        row = rows[0]
        if row.settled_flag == "1":  # 结算标识 已结算
            return "settled"
        if row.discharged_flag == "1" or row.discharge_date is not None:  # 完成标志 已出院
            return "discharge_registered"
        return "admitted"

    def admit(
        self, stay: InpatientStay, operator: Operator, *,
        his_commit: HisCommit[Registration] | None = None,
    ) -> Registration:
        """bizh120103; if his_commit raises, bizh120109 cancels the admission (Compensated).

        Use `stay.with_visit_no(registration.visit_no)` for the calls that follow.
        """
        reply = self._reply("bizh120103", mapping.admission_request(stay, operator))
        registration = self._registration(reply, lambda: [
            row for row in self.stays(Patient(IdentifierKind.PERSON_NO, stay.person_no))
            if row.visit_date in (None, stay.admission_date) and row.settled_flag != "1"
            and row.discharge_date is None
            and (stay.hospital_stay_no is None or row.hospital_no in (None, stay.hospital_stay_no))])
        return self._commit("admission", registration, his_commit, registration.visit_no, UNDO_ADMISSION)

    def modify(self, stay: InpatientStay) -> None:
        """bizh120104: send the stay's ward, department, 住院号, bed and doctor as they are now.

        No compensation is declared: to undo, call again with the previous values.
        """
        self._call("bizh120104", mapping.modify_admission_request(stay))

    def upload_fees(
        self, stay: InpatientStay | str, fees: Sequence[FeeItem], *, progress: Progress | None = None,
    ) -> FeeUpload:
        """bizh120002 in chunks of at most SPEC.fee_rows_per_call rows; `progress(done, total)`
        after each saved chunk.

        A chunk refused by the province after earlier chunks were saved: bizh120004 deletes every
        fee of the stay and FeeUploadFailed reports it (re-upload the whole list). A first chunk
        refused: its error as is (nothing was saved). Any other failure (not sent after the
        client's retries, outcome unknown, journal trouble) deletes nothing: its note says how
        many rows were saved. Resumable: called again with the same list, the chunks the
        journal shows as saved (ok uploads of this stay since its last delete-all, matched row
        for row, hospital fee id bka071 included) are skipped, so nothing is sent twice.
        """
        visit_no = _visit_no(stay)
        size = SPEC.fee_rows_per_call
        # Write every chunk before sending any: a HIS value that cannot go on the wire (e.g. an
        # amount with 3 decimals) is refused with nothing saved, not after chunk 1.
        # Written as one list, so a refused value is numbered in the HIS's whole list (feeinfo[350]).
        whole = mapping.fee_upload_request(visit_no, fees)
        wire_rows = _written(FEE_UPLOAD, whole).get("feeinfo", [])
        starts = range(0, len(wire_rows), size)
        chunks = [(whole.feeinfo_rows[start:start + size], wire_rows[start:start + size]) for start in starts]
        # Check every row against the spec before the first chunk goes out: a bad row in chunk
        # 3 is then refused with nothing saved, instead of saving chunks 1-2 and deleting them.
        _refuse_bad_fee_rows(wire_rows)
        already = _saved_rows(self._client, visit_no)
        saved = calls = 0
        saved_rows: list[Any] = []  # what a refund-row compensation must offset (typed rows)
        for rows, wire in chunks:
            chunk = Counter(_row_key(row) for row in wire)
            if not chunk - already:  # saved by an earlier, interrupted call with this list
                already -= chunk
                log.info("fee chunk of %d rows for aaz218 %s is saved already (journal): skipped",
                         len(rows), visit_no)
            else:
                self._send_chunk(visit_no, _with_rows(whole, rows), saved, len(fees), saved_rows)
                calls += 1
            saved += len(rows)
            saved_rows += rows
            if progress is not None:
                progress(saved, len(fees))
        return FeeUpload(visit_no, saved, calls)

    def _send_chunk(
        self, visit_no: str, request: Typed, saved: int, total: int, saved_rows: list[Any],
    ) -> None:
        try:
            self._call(FEE_UPLOAD, request)
        except BusinessError as exc:  # the province refused this chunk: undo the ones it saved
            if saved == 0:
                raise  # nothing was saved: nothing to undo
            done = self._take_back_saved(visit_no, exc, saved_rows)
            raise FeeUploadFailed(visit_no, exc, done, saved, total) from exc
        except Exception as exc:
            # Not a refusal: not sent, or the outcome is unknown. Deleting the saved rows would
            # turn a blip into a full re-upload; calling again resumes after the saved chunks.
            exc.add_note(f"{saved} of {total} fee rows were saved before this chunk; nothing was deleted. "
                         "Call again with the same list to resume (saved chunks are skipped)"
                         + ("; first settle the unknown chunk with `gdwi journal recover`"
                            if isinstance(exc, OutcomeUnknownError) else ""))
            raise

    def _take_back_saved(
        self, visit_no: str, original: BaseException, saved_rows: list[Any],
    ) -> tuple[str, ...]:
        """The fee-upload compensation: bizh120004 (all fees of the stay, earlier uploads too), or
        where the city offers no deletion, refund rows offsetting the rows this upload saved."""
        if self.city.fee_deletion:
            return self._undo("fee upload", visit_no, original, UNDO_FEES)
        log.warning("fee upload for aaz218 %s failed (%s); offsetting %d saved rows with refund rows "
                    "(%s offers no bizh120004)", visit_no, type(original).__name__, len(saved_rows),
                    self.city.key)
        sent: list[str] = []
        try:
            for request in _refund_requests(visit_no, saved_rows):
                self._call(FEE_UPLOAD, request)
                sent.append(FEE_UPLOAD)
        except Exception as exc:  # never silent, as in _undo
            code = f" {exc.code}" if isinstance(exc, BusinessError) else ""
            log.error("refund rows for aaz218 %s failed: %s%s", visit_no, type(exc).__name__, code)
            raise CompensationFailed("fee upload", visit_no, original, FEE_UPLOAD, exc, tuple(sent)) from exc
        return tuple(sent)

    def take_back_fees(self, stay: InpatientStay | str, fees: Sequence[FeeItem]) -> tuple[str, ...]:
        """Offset fee rows the province saved for the stay (冲减): one refund row per item of `fees`,
        negative quantity and amount, through bizh120002 in chunks; the stay's totals net them. Works
        in every city; `delete_fees` (where the city offers it) removes all fees instead.
        Returns the function ids sent."""
        visit_no = _visit_no(stay)
        sent: list[str] = []
        for request in _refund_requests(visit_no, _written_rows(visit_no, fees)):
            self._call(FEE_UPLOAD, request)
            sent.append(FEE_UPLOAD)
        return tuple(sent)

    def delete_fees(self, stay: InpatientStay | str) -> None:
        """bizh120004: delete every fee row of the stay."""
        visit_no = _visit_no(stay)
        self._call("bizh120004", mapping.delete_fees_request(visit_no))

    def presettle(self, stay: InpatientStay | str, *, scene: str = "1") -> Settlement:
        """bizh120003 预结算 of the fees so far; changes nothing. scene 业务场景阶段: 1 开始 (what
        the vendors send for a mid-stay trial), 2 结算, 3 结束."""
        visit_no = _visit_no(stay)
        reply = self._reply("bizh120003", mapping.presettle_request(visit_no, scene))
        return self._settlement(reply, visit_no)

    def discharge(
        self, stay: InpatientStay | str, discharge: Discharge, operator: Operator, *,
        his_commit: HisCommit[Settlement] | None = None,
    ) -> Settlement:
        """bizh120105 出院登记; returns the trial amounts. If his_commit raises, bizh120108 cancels
        the discharge registration (Compensated)."""
        visit_no = _visit_no(stay)
        reply = self._reply("bizh120105", mapping.discharge_request(visit_no, discharge, operator))
        settlement = self._settlement(reply, visit_no)
        return self._commit("discharge registration", settlement, his_commit, visit_no, UNDO_DISCHARGE)

    def settle(
        self, stay: InpatientStay | str, operator: Operator, *,
        his_commit: HisCommit[Settlement] | None = None,
    ) -> Settlement:
        """bizh120106 出院结算. If his_commit raises, bizh120107 cancels the settlement and then
        bizh120108 the discharge registration: the stay is admitted again (Compensated)."""
        visit_no = _visit_no(stay)
        reply = self._reply("bizh120106", mapping.settle_request(visit_no, operator))
        settlement = self._settlement(reply, visit_no)
        return self._commit("settlement", settlement, his_commit, visit_no, UNDO_SETTLEMENT)

    def settlement_info(self, stay: InpatientStay | str) -> SettlementSheet:
        """bizh120206: the settlement sheet of a settled stay."""
        answer = self._call("bizh120206", mapping.settlement_sheet_request(_visit_no(stay)))
        return mapping.read_settlement_sheet(answer)

    def fee_list(self, stay: InpatientStay | str, *, grouping: str | None = None) -> list[FeeListLine]:
        """bizh120113: the stay's fee list; grouping 明细分组 0 by category, 1 by name, None all."""
        answer = self._call("bizh120113", mapping.fee_list_request(_visit_no(stay), grouping))
        return mapping.read_fee_list(answer)

    def cancel_to(
        self, stay: InpatientStay | str, stage: str, *, fees: Sequence[FeeItem] | None = None,
    ) -> tuple[str, ...]:
        """Walk the stay back to `stage` (admitted, discharge_registered or cancelled) in order;
        returns the calls sent (bizh120107, bizh120108, bizh120109 as the path needs). The current
        stage is asked of the province first (bizh120102, bizh120206).

        Cancelling the admission with `fees` (the rows the province saved) takes them back first,
        by the city's rule (bizh120004, or refund rows through bizh120002 where deletion is not
        offered). Where the city offers no deletion and `fees` is not given, the stay's fees must
        already net to zero (checked with bizh120003).

        ValueError (nothing sent) when `stage` is not behind the current one; HisWorkflowError
        (nothing sent) when the city forbids what the walk needs (a later-month cancellation of the
        settlement, fees left on a stay to be cancelled). If a call is refused, its error is raised
        with a note of the calls already done.
        """
        visit_no = _visit_no(stay)
        current = self.stage_of(visit_no)
        if current is None:
            raise HisWorkflowError(f"就医登记号 {visit_no}: the province lists no open stay under it")
        steps = self._cancel_steps(visit_no, current, reversal_path("inpatient", current, stage), fees)
        sent: list[str] = []
        for function_id, request in steps:
            try:
                self._call(function_id, request)
            except Exception as exc:
                exc.add_note(f"cancel_to {stage}: already sent {', '.join(sent) or 'nothing'}")
                raise
            sent.append(function_id)
        return tuple(sent)

    def _cancel_steps(
        self, visit_no: str, current: str, path: tuple[str, ...], fees: Sequence[FeeItem] | None,
    ) -> list[tuple[str, Typed]]:
        """The calls of a cancel_to walk as (function id, typed request) pairs; the city's rules
        are checked here, before anything is sent."""
        if current == "settled" and path:
            self._refuse_later_month_cancel(visit_no)
        steps: list[tuple[str, Typed]] = []
        for function_id in path:
            if function_id in UNDO_ADMISSION:
                steps += self._fee_take_back_steps(visit_no, fees)
            steps.append((function_id, mapping.cancellation_request(function_id, visit_no)))
        return steps

    def _fee_take_back_steps(
        self, visit_no: str, fees: Sequence[FeeItem] | None,
    ) -> list[tuple[str, Typed]]:
        if fees:
            if self.city.fee_deletion:
                return [(UNDO_FEES[0], mapping.delete_fees_request(visit_no))]
            refunds = _refund_requests(visit_no, _written_rows(visit_no, fees))
            return [(FEE_UPLOAD, request) for request in refunds]
        if not self.city.fee_deletion:
            total = self.presettle(visit_no).total
            if total != 0:
                raise HisWorkflowError(
                    f"就医登记号 {visit_no}: the stay still holds fees (akc264 {total}) and "
                    f"{self.city.name} offers no bizh120004; pass fees= (the rows saved) to offset them "
                    "with refund rows before the admission is cancelled")
        return []

    def _refuse_later_month_cancel(self, visit_no: str) -> None:
        """Where the city allows no 跨月 cancellation, refuse a settlement of an earlier month."""
        if self.city.cross_month_cancel:
            return
        rows = self._stays_answer(Patient.by_visit_no(visit_no)).bizinfo_rows
        settled_on = (rows[0].settlement_time or "") if rows else ""  # bka045 结算日期
        this_month = self._clock().astimezone(BEIJING).strftime("%Y%m")
        if settled_on and settled_on[:6] != this_month:
            raise HisWorkflowError(
                f"就医登记号 {visit_no}: settled on {settled_on} (bka045 结算日期); {self.city.name} "
                f"does not cancel a settlement in a later month (跨月取消结算); nothing was sent")


# --------------------------------------------------------------------------- medical record 病案首页


class MedicalRecordService(_Service):
    """病案首页: the front-page set of a discharged (or settled) stay, bizh200101–bizh200106.

    The uploads change no stage and declare no compensation; a part that fails is raised with a
    note of the parts already sent.
    """

    def __init__(self, client: WireCaller, institution: Institution) -> None:
        super().__init__(client)
        self._institution = institution

    @staticmethod
    def parts(record: MedicalRecord) -> tuple[str, ...]:
        """The function ids to send, in the spec's order of the medical_record group: every part,
        except 200103 (operations), 200104 (newborns) and 200105 (oncology) when the record has
        no such data."""
        absent = {"bizh200103": not record.operations, "bizh200104": not record.newborns,
                  "bizh200105": record.oncology is None}
        return tuple(fid for fid in MEDICAL_RECORD_PARTS if not absent.get(fid, False))

    def upload(self, record: MedicalRecord) -> tuple[str, ...]:
        """Send the record's parts in order (bizh200101, bizh200102, bizh200103, bizh200104,
        bizh200105, bizh200106, as `parts` picks them); returns the function ids sent."""
        if not record.diagnoses:
            raise ValueError("a medical record needs at least one diagnosis (bizh200102 detail)")
        # Map and write every part first: an unusable value is refused with nothing sent.
        messages = [(fid, mapping.medical_record_request(fid, record, self._institution))
                    for fid in self.parts(record)]
        for function_id, request in messages:
            _written(function_id, request)
        sent: list[str] = []
        for function_id, request in messages:
            try:
                self._call(function_id, request)
            except Exception as exc:
                exc.add_note(f"medical record {record.visit_no}: already sent {', '.join(sent) or 'nothing'}")
                raise
            sent.append(function_id)
        return tuple(sent)


def _written_rows(visit_no: str, fees: Sequence[FeeItem]) -> tuple[Any, ...]:
    """The fee-upload rows of `fees`, typed, once the generated build has written them all
    (a value a field cannot hold is refused before anything is sent)."""
    if not fees:
        return ()
    request = mapping.fee_upload_request(visit_no, fees)
    _written(FEE_UPLOAD, request)
    return tuple(request.feeinfo_rows)


def _refund_requests(visit_no: str, saved: Sequence[Any]) -> list[Typed]:
    """Fee uploads offsetting the typed rows `saved` (adapter.his.offsets), ≤ the spec's cap each."""
    rows = offsets.refund_typed_rows(saved)
    empty = mapping.fee_upload_request(visit_no, ())
    size = SPEC.fee_rows_per_call
    return [_with_rows(empty, rows[start:start + size]) for start in range(0, len(rows), size)]


def _refuse_bad_fee_rows(rows: list[dict[str, Any]]) -> None:
    """InputError naming every bad row by its index in the whole list (`feeinfo[350].bka058 金额`)."""
    model = row_model(FEE_UPLOAD, "request", "feeinfo")
    problems: list[FieldProblem] = []
    for index, row in enumerate(rows):
        try:
            model.model_validate(row)
        except ValidationError as exc:
            problems += [problem.under(f"feeinfo[{index}]") for problem in describe(exc)]
    if problems:
        raise InputError(FEE_UPLOAD, problems)
