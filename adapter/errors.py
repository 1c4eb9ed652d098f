"""Every error gdwi raises, in one tree, so a HIS catches `GdwiError` once and a front end
(the CLI's exit codes, the gateway's HTTP statuses) maps errors by class, never by message text.

    GdwiError
      InputError (ValueError)      refused before sending; `problems`: FieldProblem per value
        UnknownFunctionError       a function_id the registry does not know (`suggestions`)
        MappingError               HIS input the mapping cannot put on the wire
        BodyError                  a gateway request body that does not fit the endpoint
        HisExportError             a HIS export file (reconcile) that cannot be read
      XmlRefusedError (ValueError) an XML body refused before or while parsing
      ConfigError                  a missing or malformed setting; the message names it
        EndpointError              the URL answers, but is not the province's endpoint (404/405/401)
        TokenError                 no usable gateway token
      ContractError                the province answered outside the spec
      BusinessError                the province said no (negative return_code)
        SessionExpiredError        return_code -9
      TransportError               no usable answer
        NotSentError               certainly not sent: safe to resend
        MaybeSentError             may have arrived, answer lost (transport level)
          HttpStatusError          an HTTP status other than 200
        ServerFaultError           the province reported a server exception
        OutcomeUnknownError        journaled as unknown: query (`gdwi journal recover`) first
      JournalError                 the journal cannot be opened or refuses a write
      HisWorkflowError             adapter.his workflows: Compensated, FeeUploadFailed, …
      GatewayError                 a refusal decided by the gateway (NotFound, TooLarge, Refused)
      ChromiumError                the settlement sheet's PDF could not be printed
      MockError                    the mock province: Refusal, FaultError, SeedError, AnswerDropped
      DemoFailure                  a demo step whose answer did not hold

Messages never contain a password; citizen ID numbers in them are masked. Areas that need a new
error add it at the end, under a comment naming the area, derived from a class here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

__all__ = [
    "AmountMismatch",
    "AnswerDropped",
    "BodyError",
    "BusinessError",
    "ChromiumError",
    "CommittedIncompleteError",
    "Compensated",
    "CompensationFailed",
    "ConfigError",
    "ContractError",
    "DemoFailure",
    "EndpointError",
    "FaultError",
    "FeeUploadFailed",
    "FieldProblem",
    "GatewayError",
    "GdwiError",
    "HisExportError",
    "HisWorkflowError",
    "HttpStatusError",
    "IdempotencyConflict",
    "IdempotencyInProgress",
    "InputError",
    "JournalError",
    "JournalIntegrityError",
    "JournalUnavailable",
    "MappingError",
    "MaybeSentError",
    "MockError",
    "NotFound",
    "NotSentError",
    "OutcomeUnknownError",
    "ProxyConfigError",
    "Refusal",
    "Refused",
    "ReplayError",
    "SeedError",
    "ServerFaultError",
    "SessionExpiredError",
    "TokenError",
    "TooLarge",
    "TransportError",
    "UnknownFunctionError",
    "UnresolvedEntryError",
    "XmlRefusedError",
    "describe_error",
]


class GdwiError(Exception):
    """Base of every gdwi error."""


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class FieldProblem:
    """One unusable value. `path` is where it sits in what the caller sent (`feeinfo[3].bka058`
    on the wire, `fees[303].amount` in a gateway body; None: the input as a whole), `code` the
    wire code and `name` its 中文名 when known."""

    path: str | None
    code: str | None
    name: str | None
    message: str

    @classmethod
    def at(cls, path: str | None, message: str) -> FieldProblem:
        """A problem at a path that names no wire code (a HIS body path, or the whole input)."""
        return cls(path, None, None, message)

    def under(self, prefix: str) -> FieldProblem:
        """The same problem one level down: `bka058` under `feeinfo[3]` -> `feeinfo[3].bka058`."""
        return replace(self, path=f"{prefix}.{self.path}" if self.path else prefix)

    def __str__(self) -> str:
        label = " ".join(part for part in (self.path, self.name) if part)
        return f"{label}: {self.message}" if label else self.message


def _problems(problems: Sequence[FieldProblem | str]) -> list[FieldProblem]:
    # Plain strings are accepted while callers move to FieldProblem; they name no field.
    return [p if isinstance(p, FieldProblem) else FieldProblem.at(None, p) for p in problems]


class InputError(GdwiError, ValueError):
    """Input that breaks the spec; refused before anything is sent. One FieldProblem per value."""

    def __init__(self, function_id: str | None, problems: Sequence[FieldProblem | str]) -> None:
        self.function_id = function_id
        self.problems = _problems(problems)
        text = "; ".join(str(p) for p in self.problems)
        super().__init__(f"{function_id}: {text}" if function_id else text)


class UnknownFunctionError(InputError):
    """A function_id the registry does not know; `suggestions` are the closest known ones."""

    def __init__(self, function_id: str, suggestions: Sequence[str] = ()) -> None:
        self.suggestions = tuple(suggestions)
        hint = f" (did you mean {' or '.join(self.suggestions)}?)" if self.suggestions else ""
        super().__init__(function_id, [f"unknown function_id {function_id!r}{hint}"])


class MappingError(InputError):
    """A declaration that does not fit the HIS types or the registry (raised at import), or HIS
    input the mapping cannot send (e.g. an `extra` front-page code that is not a bizh200101 field)."""

    def __init__(self, message: str, function_id: str | None = None) -> None:
        super().__init__(function_id, [message])


class BodyError(InputError):
    """A gateway request body (or query string) that does not fit the endpoint's shape."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__(None, problems)


class HisExportError(InputError):
    """The HIS export cannot be read; `problems` name the line and column."""

    def __init__(self, path: Path, problems: Sequence[FieldProblem | str]) -> None:
        self.path = path
        listed = _problems(problems)
        shown = "; ".join(str(p) for p in listed[:10])
        more = f"; … {len(listed) - 10} more" if len(listed) > 10 else ""
        super().__init__(None, listed)
        self.args = (f"{path.name}: {shown}{more}",)


class XmlRefusedError(GdwiError, ValueError):
    """An XML body refused before or while parsing (DOCTYPE, size, encoding, malformed)."""


# --------------------------------------------------------------------------- configuration


class ConfigError(GdwiError):
    """A missing or malformed setting; the message names the variable."""


class EndpointError(ConfigError):
    """The URL answers, but not as the province's endpoint does (HTTP 404, 405, 401 on the login):
    the base URL or path is wrong. Nothing was processed there."""

    def __init__(self, url: str, status: int, hint: str) -> None:
        self.url = url
        self.status = status
        super().__init__(f"{url} answered HTTP {status}: not the province's endpoint. {hint}")


class TokenError(ConfigError):
    """No usable gateway token; the message says where one is looked for."""


# --------------------------------------------------------------------------- the province's answers


class ContractError(GdwiError):
    """A response that breaks the spec; `problems` name the fields (code and 中文名)."""

    def __init__(self, function_id: str, problems: Sequence[FieldProblem | str]) -> None:
        self.function_id = function_id
        self.problems = _problems(problems)
        super().__init__(f"{function_id}: response breaks the spec: " + "; ".join(map(str, self.problems)))


class BusinessError(GdwiError):
    """The province answered with a negative return_code."""

    def __init__(self, function_id: str, code: str, message: str) -> None:
        self.function_id = function_id
        self.code = code
        self.message = message
        super().__init__(f"{function_id}: return_code {code}: {message}")


class SessionExpiredError(BusinessError):
    """return_code -9: the session_id is no longer valid; log in again."""


# --------------------------------------------------------------------------- transport


class TransportError(GdwiError):
    """The exchange failed before a valid answer arrived (connect, non-200, ...)."""


class NotSentError(TransportError):
    """The request certainly did not reach the province (safe to resend)."""


class MaybeSentError(TransportError):
    """The request may have reached the province; the answer was lost."""


class HttpStatusError(MaybeSentError):
    """An HTTP status other than 200 from the URL."""

    def __init__(self, url: str, status: int) -> None:
        self.url = url
        self.status = status
        super().__init__(f"HTTP {status} from {url}")


class ServerFaultError(TransportError):
    """The province reported a server exception (服务执行发生异常)."""


class OutcomeUnknownError(TransportError):
    """The request may have reached the province but no answer arrived (e.g. read timeout).

    For a state-changing call the outcome is unknown: query before resending.
    """

    def __init__(self, function_id: str, journal_id: int | None, detail: str) -> None:
        self.function_id = function_id
        self.journal_id = journal_id
        super().__init__(
            f"{function_id}: outcome unknown ({detail}); journal entry {journal_id} stays 'unknown' "
            "until `gdwi journal recover` or a query resolves it"
        )


# --------------------------------------------------------------------------- journal


class JournalError(GdwiError):
    """The journal cannot be opened or refuses a write (unknown entry, illegal transition)."""


# --------------------------------------------------------------------------- HIS workflows


def describe_error(error: BaseException) -> str:
    """A gdwi error's own message (written to be safe), or only the type name of anything else."""
    return f"{type(error).__name__}: {error}" if isinstance(error, GdwiError) else type(error).__name__


class HisWorkflowError(GdwiError):
    """Base of the errors of adapter.his workflows."""


class Compensated(HisWorkflowError):
    """A step failed after the province accepted an earlier one, and the province side was undone.

    `original` is the failure (the HIS commit's exception, or the province's refusal of a later
    fee chunk); `compensations` the reversal function ids sent, in order, all accepted.
    """

    def __init__(
        self, what: str, visit_no: str, original: BaseException, compensations: tuple[str, ...],
    ) -> None:
        self.what = what
        self.visit_no = visit_no
        self.original = original
        self.compensations = compensations
        undone = ", ".join(compensations) or "nothing to undo"
        super().__init__(f"{what} for 就医登记号 {visit_no} failed ({describe_error(original)}); "
                         f"undone at the province: {undone}")


class FeeUploadFailed(Compensated):
    """A fee chunk failed after `uploaded_rows` of `total_rows` were saved; bizh120004 then deleted
    every fee row of the stay (earlier uploads included): upload the stay's whole list again."""

    def __init__(
        self, visit_no: str, original: BaseException, compensations: tuple[str, ...],
        uploaded_rows: int, total_rows: int,
    ) -> None:
        self.uploaded_rows = uploaded_rows
        self.total_rows = total_rows
        what = f"fee upload (chunk after {uploaded_rows} of {total_rows} rows)"
        super().__init__(what, visit_no, original, compensations)


class CompensationFailed(HisWorkflowError):
    """A step failed and undoing it failed too: the province still holds what was not undone.

    `original` is the first failure, `compensation_error` the reversal's, `failed_function_id`
    the reversal that failed and `completed` the reversals that succeeded before it. Both calls
    are in the journal; resolve by hand (or with `gdwi journal recover` when the reversal's
    outcome is unknown).
    """

    def __init__(
        self, what: str, visit_no: str, original: BaseException, failed_function_id: str,
        compensation_error: BaseException, completed: tuple[str, ...],
    ) -> None:
        self.what = what
        self.visit_no = visit_no
        self.original = original
        self.failed_function_id = failed_function_id
        self.compensation_error = compensation_error
        self.completed = completed
        done = f" after {', '.join(completed)} succeeded" if completed else ""
        super().__init__(
            f"{what} for 就医登记号 {visit_no} failed ({describe_error(original)}) and its compensation "
            f"{failed_function_id} failed too{done} ({describe_error(compensation_error)}); the province "
            "still holds the rest: see the journal"
        )


class AmountMismatch(HisWorkflowError):
    """The province's trial total (医疗总费用) is not the sum of the HIS's fee amounts: nothing was
    committed, because books that do not match (差账) are the users' loudest complaint."""

    def __init__(self, visit_no: str, his_total: Decimal, province_total: Decimal) -> None:
        self.visit_no = visit_no
        self.his_total = his_total
        self.province_total = province_total
        super().__init__(f"就医登记号 {visit_no}: the province's trial total akc264 {province_total} is not "
                         f"the HIS's fee sum {his_total}; nothing was committed")


# --------------------------------------------------------------------------- gateway


class GatewayError(GdwiError):
    """A refusal decided by the gateway itself; `kind` picks the status."""

    kind = "internal"


class NotFound(GatewayError):
    kind = "not_found"


class TooLarge(GatewayError):
    kind = "too_large"


class Refused(GatewayError):
    """The request is well-formed but not possible in the business's current state."""

    kind = "workflow"


# --------------------------------------------------------------------------- operations


class ChromiumError(GdwiError):
    """Headless Chromium is missing or did not produce the file."""


# --------------------------------------------------------------------------- mock province


_REFUSAL_MESSAGES = {
    "-1": "business rule violated (业务校验不通过)",
    "-9": "session unknown or expired; log in again with sys0001 (会话已过期，请重新登录)",
}


class MockError(GdwiError):
    """Base of the mock province's errors (tests and demos only)."""


class Refusal(MockError):
    """A business-rule violation: becomes return_code `code` with return_code_message `message`.

    Messages name the field by code and 中文名 (`aaz218 就医登记号: no such stay`) and say what
    the rule is, in English and Chinese.
    """

    def __init__(self, code: str = "-1", message: str = "") -> None:
        self.code = code
        self.message = message or _REFUSAL_MESSAGES.get(code, _REFUSAL_MESSAGES["-1"])
        super().__init__(f"{self.code}: {self.message}")


class FaultError(MockError, ValueError):
    """A fault rule that cannot be built (unknown kind, bad parameter); the message says which."""


class SeedError(MockError, ValueError):
    """A seed file that cannot be used; the message names the file and the entry."""


class AnswerDropped(MockError):
    """commit_then_drop without a socket to close (in-process ASGI): raised so nothing is sent."""


# --------------------------------------------------------------------------- demo


class DemoFailure(GdwiError):
    """A demo step whose answer did not hold."""


# --------------------------------------------------------------------------- proxy


class ProxyConfigError(ConfigError):
    """A `gdwi proxy` setting that cannot work; the message names the option."""


class ReplayError(GdwiError):
    """Replay cannot start: the target refused the login, or is not a mock where one is required."""


# --------------------------------------------------------------------------- reliability (issue 11)


class UnresolvedEntryError(GdwiError):
    """A state-changing call refused because an earlier one on the same business is unresolved.

    The earlier entry is `pending` (no outcome recorded) or `unknown` (sent, no answer): it may
    have been committed, so sending again could charge, upload or settle twice. Nothing was sent.
    """

    def __init__(self, function_id: str, business: str, entry_id: int, entry_function: str,
                 status: str) -> None:
        self.function_id = function_id
        self.business = business
        self.entry_id = entry_id
        super().__init__(
            f"{function_id} on {business} refused, nothing sent: journal entry {entry_id} "
            f"({entry_function}, {status}) on the same business is unresolved and may have been "
            "committed; run `gdwi journal recover` to settle it first"
        )


class JournalIntegrityError(JournalError):
    """The journal file is damaged (integrity check failed, or an existing file is empty).

    The client refuses to send while the journal cannot be trusted; `gdwi journal check` tells
    what is wrong.
    """

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        super().__init__(f"journal {path} is damaged, refusing to send: {detail} "
                         "(see `gdwi journal check`)")


# ------------------------------------------------------ gateway: Idempotency-Key, journal bookkeeping


class IdempotencyConflict(GatewayError):
    """An Idempotency-Key already used for a different call (method, path or body)."""

    kind = "idempotency_conflict"


class IdempotencyInProgress(IdempotencyConflict):
    """An Idempotency-Key whose first call has not finished (or was cut off): never resend."""

    kind = "idempotency_in_progress"


class JournalUnavailable(GatewayError):
    """The journal file refuses the gateway's own bookkeeping (Idempotency-Key); nothing was sent."""

    kind = "journal_unavailable"


# --------------------------------------------------------------------------- answers (convert)


class CommittedIncompleteError(HisWorkflowError):
    """The province committed a step (return_code 1) but its answer lacks a value the HIS needs,
    and the read-only look-up the registry names could not supply it either.

    The step stands: nothing was compensated (undoing blindly could undo the wrong business).
    `journal_id` is the committed entry (`gdwi journal show`); `missing` names the wire codes.
    """

    def __init__(self, function_id: str, journal_id: int | None, missing: str, detail: str) -> None:
        self.function_id = function_id
        self.journal_id = journal_id
        self.missing = missing
        where = f" (journal entry {journal_id})" if journal_id is not None else ""
        super().__init__(f"{function_id} committed{where}, but its answer lacks {missing}: {detail}")
