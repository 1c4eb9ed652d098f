"""Every failure as an HTTP status and one JSON shape the HIS can act on.

    {"error": kind, "function_id": "bizh120002", "return_code": "-1", "message": "…",
     "fields": [{"field": "fees[3].amount", "code": "bka058", "name": "金额", "message": "…"}]}

| kind                | status | meaning for the HIS                                                  |
|---------------------|--------|----------------------------------------------------------------------|
| input               | 400    | fix the request: `fields` name each value (body path, wire code, 中文名) |
| unauthorized        | 401    | missing or wrong bearer token                                        |
| not_found           | 404    | no such endpoint or function_id                                      |
| method_not_allowed  | 405    | the path exists, not with this method (`Allow` lists the methods)     |
| too_large           | 413    | body over the gateway's limit                                        |
| compensated         | 409    | a later step failed, the province side was undone (`compensations`)   |
| compensation_failed | 409    | … and the undoing failed too: `original` and `compensation` both given |
| idempotency_conflict | 409   | the Idempotency-Key was used for a different call                     |
| idempotency_in_progress | 409 | the key's first call has not finished: do not resend                 |
| business            | 422    | the province refused (return_code, message); nothing changed there    |
| amount_mismatch     | 422    | the province totals the fees differently; nothing committed          |
| workflow            | 422    | the step is not possible now (e.g. cancel to a stage not behind)      |
| transport           | 502    | the province could not be reached; nothing was sent                  |
| session             | 502    | the province refused the gateway's login session twice               |
| province_login_failed | 503  | the gateway's own login (sys0001) fails: its settings, not the HIS's  |
| journal_unavailable | 503    | the journal file refuses the gateway's bookkeeping; nothing was sent  |
| contract            | 502    | the province answered outside the spec (the call itself went through) |
| outcome_unknown     | 504    | sent, no usable answer, or the journal failed: `journal_id`; recover  |
| unresolved_entry    | 409    | nothing sent: an earlier change here is unresolved (`journal_id`)     |
| internal            | 500    | a gateway fault; the message names only the error type               |

Messages are the gdwi errors' own (written never to hold a password) passed through
adapter.wire.masking.scrub, so a citizen ID number in a province message reaches the HIS masked. The
text of an unexpected exception is never sent (it may hold anything); only its type name.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from adapter.errors import (
    AmountMismatch,
    BodyError,
    BusinessError,
    Compensated,
    CompensationFailed,
    ContractError,
    FeeUploadFailed,
    FieldProblem,
    GatewayError,
    GdwiError,
    HisWorkflowError,
    IdempotencyConflict,
    IdempotencyInProgress,
    InputError,
    JournalError,
    NotFound,
    OutcomeUnknownError,
    Refused,
    SessionExpiredError,
    TooLarge,
    TransportError,
    UnresolvedEntryError,
)
from adapter.his import declarations
from adapter.wire.masking import scrub
from generated.registry import FIELDS, LOGIN

__all__ = [
    "STATUS",
    "ErrorContext",
    "GatewayError",
    "NotFound",
    "Refused",
    "TooLarge",
    "error_body",
    "error_reply",
    "idempotency_conflict",
]

STATUS: dict[str, int] = {
    "input": 400, "unauthorized": 401, "not_found": 404, "method_not_allowed": 405, "too_large": 413,
    "compensated": 409, "compensation_failed": 409, "unresolved_entry": 409,
    "idempotency_conflict": 409, "idempotency_in_progress": 409,
    "business": 422, "amount_mismatch": 422, "workflow": 422,
    "transport": 502, "session": 502, "contract": 502,
    "province_login_failed": 503, "journal_unavailable": 503,
    "outcome_unknown": 504, "internal": 500,
}
LOGIN_HINT = ("The gateway could not log in to the province (sys0001); nothing of this request was sent. "
              "Check the gateway's settings (GDWI_USERID, GDWI_PASSWORD, GDWI_BASE_URL) and its /ready.")
RECOVER_HINT = ("The province may have committed this call. Do not resend it: run `gdwi journal recover` "
                "on the gateway host (it asks the province and settles the journal entry), or query the "
                "visit / stay, before deciding.")


def idempotency_conflict(conflict: str) -> IdempotencyConflict:
    """The 409 for a key that belongs to another call, or whose first call has not finished."""
    if conflict == "in_progress":
        return IdempotencyInProgress(
            "this Idempotency-Key's first call has not finished (or the gateway stopped during it): "
            "do not resend; query the visit / stay, or run `gdwi journal recover` on the gateway host")
    return IdempotencyConflict("this Idempotency-Key was used for a different call (method, path or body): "
                               "use a new key for a new call")


@dataclass(frozen=True)
class ErrorContext:
    """What an endpoint tells the error mapper: its transactions (to name fields) and whether the
    body is wire-shaped (raw /functions: field paths are wire paths) or in HIS words."""

    function_ids: Sequence[str] = ()
    wire_view: bool = False


# --------------------------------------------------------------------------- classification

_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (BodyError, "input"),
    (InputError, "input"),
    (GatewayError, ""),  # its own `kind`
    (CompensationFailed, "compensation_failed"),
    (Compensated, "compensated"),
    (AmountMismatch, "amount_mismatch"),
    (HisWorkflowError, "workflow"),
    (SessionExpiredError, "session"),  # -9 again right after a fresh login: not the HIS's doing
    (BusinessError, "business"),
    (OutcomeUnknownError, "outcome_unknown"),
    (UnresolvedEntryError, "unresolved_entry"),
    # The client turns a journal write failing after the send into OutcomeUnknownError (504 with
    # the entry); a JournalError that reaches here stopped the call before the send. A bare SQLite
    # error is not expected: answered as unknown, the one answer that never invites a resend.
    (JournalError, "journal_unavailable"),
    (sqlite3.Error, "outcome_unknown"),
    (TransportError, "transport"),
    (ContractError, "contract"),
    (ValueError, "input"),  # the HIS mapping refusing a value it cannot put on the wire
)


def kind_of(exc: BaseException) -> str:
    if _is_login_failure(exc):
        return "province_login_failed"
    for exc_type, kind in _KINDS:
        if isinstance(exc, exc_type):
            return kind or getattr(exc, "kind", "internal")
    return "internal"


def _is_login_failure(exc: BaseException) -> bool:
    """The gateway's own sys0001 refused or unanswered: the province never saw the HIS's call, and
    the fix is the gateway's settings (a login changes nothing, so there is nothing to recover)."""
    return isinstance(exc, GdwiError) and getattr(exc, "function_id", None) == LOGIN


def error_reply(exc: BaseException, context: ErrorContext) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for any exception an endpoint raised."""
    body = _describe(exc, context)
    if isinstance(exc, Compensated):
        body.update(_compensated(exc, context))
    elif isinstance(exc, CompensationFailed):
        body.update(_compensation_failed(exc, context))
    return STATUS[body["error"]], body


def error_body(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    """The error shape for a refusal with no exception behind it (401, 404 from routing)."""
    return {"error": kind, "function_id": None, "return_code": None, "message": scrub(message),
            "fields": [], **extra}


def _describe(exc: BaseException, context: ErrorContext, offset: int = 0) -> dict[str, Any]:
    """One error as the common shape (used for the top level and for nested parts)."""
    kind = kind_of(exc)
    function_id = getattr(exc, "function_id", None)
    body: dict[str, Any] = {
        "error": kind,
        "function_id": function_id if isinstance(function_id, str) else None,
        "return_code": exc.code if isinstance(exc, BusinessError) else None,
        "message": _message(exc, kind),
        "fields": _fields(exc, context, offset),
    }
    if kind == "outcome_unknown":
        journal_id = getattr(exc, "journal_id", None)
        body.update(journal_id=journal_id if isinstance(journal_id, int) else None, hint=RECOVER_HINT)
    if isinstance(exc, UnresolvedEntryError):
        body.update(journal_id=exc.entry_id, hint=RECOVER_HINT)
    if kind == "province_login_failed":
        body["hint"] = LOGIN_HINT
    notes = getattr(exc, "__notes__", None)
    if notes:
        body["notes"] = [scrub(str(note)) for note in notes]
    return body


def _message(exc: BaseException, kind: str) -> str:
    if isinstance(exc, sqlite3.Error):
        return f"the journal could not record this call ({type(exc).__name__}: {exc}); outcome unknown"
    if kind == "internal" and not isinstance(exc, GatewayError):
        return f"internal gateway error ({type(exc).__name__}); see the gateway's log"
    return scrub(str(exc))


def _compensated(exc: Compensated, context: ErrorContext) -> dict[str, Any]:
    offset = exc.uploaded_rows if isinstance(exc, FeeUploadFailed) else 0
    original = _describe(exc.original, context, offset)
    extra: dict[str, Any] = {
        "function_id": original["function_id"], "return_code": original["return_code"],
        "fields": original["fields"], "visit_no": exc.visit_no, "original": original,
        "compensations": list(exc.compensations),
    }
    if isinstance(exc, FeeUploadFailed):
        extra.update(uploaded_rows=exc.uploaded_rows, total_rows=exc.total_rows)
    return extra


def _compensation_failed(exc: CompensationFailed, context: ErrorContext) -> dict[str, Any]:
    original = _describe(exc.original, context)
    compensation = {**_describe(exc.compensation_error, context), "function_id": exc.failed_function_id}
    return {
        "function_id": original["function_id"], "return_code": original["return_code"],
        "fields": original["fields"], "visit_no": exc.visit_no, "original": original,
        "compensation": compensation, "completed": list(exc.completed),
    }


# --------------------------------------------------------------------------- field details

_ROW_FIELD = re.compile(r"^(?P<dataset>\w+)\[(?P<index>\d+)\]\.(?P<code>\w+)$")
_INDEX = re.compile(r"\[\d+\]")


def _fields(exc: BaseException, context: ErrorContext, offset: int) -> list[dict[str, Any]]:
    if isinstance(exc, BodyError):
        return [_body_field(p.path, p.message, context) for p in exc.problems]
    if isinstance(exc, InputError):
        ids = tuple(fid for fid in (exc.function_id, *context.function_ids) if fid)
        return [_problem_field(problem, ids, context, offset) for problem in exc.problems]
    if isinstance(exc, ValueError) and kind_of(exc) == "input":
        return [_problem_field(FieldProblem.at(None, str(exc)), tuple(context.function_ids), context, offset)]
    return []


def _field(field: str | None, code: str | None, name: str | None, message: str) -> dict[str, Any]:
    if name is None and code is not None and code in FIELDS:
        name = FIELDS[code].name
    # The path is the HIS's text too (an unknown key may be a citizen ID): masked like the message.
    return {"field": None if field is None else scrub(field), "code": code, "name": name,
            "message": scrub(message)}


def _problem_field(
    problem: FieldProblem, function_ids: Sequence[str], context: ErrorContext, offset: int,
) -> dict[str, Any]:
    """A validation problem with the body path the HIS sent it under: by its structured path and
    code (validation's FieldProblem), never by reading the message."""
    if problem.path is None:
        return _field(None, problem.code, problem.name, problem.message)
    loc, name, message = problem.path, problem.name, problem.message
    code = problem.code or _INDEX.sub("", loc.split(".")[-1])
    if context.wire_view:
        return _field(loc, code, name, message)
    return _field(_his_path(function_ids, loc, offset), code, name, message)


def _body_field(path: str | None, message: str, context: ErrorContext) -> dict[str, Any]:
    """A gateway body problem; the wire code is named when the body path maps to one."""
    if path is None:
        return _field(None, None, None, message)
    if context.wire_view:
        return _field(path, _INDEX.sub("", path.split(".")[-1]), None, message)
    normalized = _INDEX.sub("[]", path)
    code = next((found for fid in context.function_ids
                 if (found := _codes_by_path(fid).get(normalized)) is not None), None)
    return _field(path, code, None, message)


def _his_path(function_ids: Sequence[str], loc: str, offset: int) -> str | None:
    """The HIS body path of a wire location: `feeinfo[3].bka058` -> `fees[303].amount` (offset:
    rows saved in earlier chunks). None when the value is not the HIS's (a fixed code)."""
    for function_id in function_ids:
        scalars, datasets = _bindings(function_id)
        row = _ROW_FIELD.match(loc)
        if row and row["dataset"] in datasets:
            source, bindings = datasets[row["dataset"]]
            binding = bindings.get(row["code"])
            if binding is not None:
                return f"{source}[{int(row['index']) + offset}].{binding}"
        if loc in scalars:
            return scalars[loc]
        if loc in datasets:
            return datasets[loc][0]
        for source, bindings in datasets.values():  # a code named without its row
            if loc in bindings:
                return f"{source}[].{bindings[loc]}"
    return None


@cache
def _bindings(function_id: str) -> tuple[dict[str, str], dict[str, tuple[str, dict[str, str]]]]:
    """(wire code -> HIS path, dataset -> (HIS source path, row code -> row path)) of one request."""
    request = declarations.REQUESTS.get(function_id)
    if request is None:
        return {}, {}
    datasets = {name: (rows.source, _paths(rows.fields)) for name, rows in request.datasets.items()}
    return _paths(request.fields), datasets


def _paths(bindings: Mapping[str, declarations.Binding]) -> dict[str, str]:
    """wire code -> HIS path, leaving out fixed values and row positions (not the HIS's)."""
    return {code: path for code, path in bindings.items() if isinstance(path, str)}


@cache
def _codes_by_path(function_id: str) -> dict[str, str]:
    """HIS body path (indexes as `[]`) -> wire code, the reverse of _bindings."""
    scalars, datasets = _bindings(function_id)
    codes = {path: code for code, path in scalars.items()}
    for source, bindings in datasets.values():
        codes.update({f"{source}[].{path}": code for code, path in bindings.items()})
    return codes
