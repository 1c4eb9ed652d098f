"""Client and AsyncClient: build → validate → journal → send → decode → parse, per function_id.

The per-function methods (client.bizh120103(request), ...) come from the generated
SyncFunctions / AsyncFunctions; this module holds what is common to all of them.
One call, from a typed request to the wire and back to a typed answer:
    generated/functions/<id>.py build_request → Client.call → _Core (validation, journal, codec)
    → transport → codec.decode → generated/functions/<id>.py parse_answer

Strict in what we send, tolerant in what we read: a request that breaks the spec raises
InputError before anything is sent; an answer that deviates from the spec is read, and each
deviation is logged and recorded with the journal entry (adapter.wire.deviations). A
state-changing answer with return_code 1 is always returned: the province committed the step.
ContractError is left for read-only answers the policy refuses (spec/spec.yaml answer_policy,
or a field the next step needs). `call_wire` is the raw escape hatch: wire dicts in and out.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any, Generic, TypeVar

import httpx

from adapter.errors import (
    BusinessError,
    ContractError,
    EndpointError,
    GdwiError,
    HttpStatusError,
    InputError,
    OutcomeUnknownError,
    SessionExpiredError,
    TransportError,
)
from adapter.wire import transport
from adapter.wire.codec import Decoded, decode, encode, to_wire
from adapter.wire.config import Settings
from adapter.wire.database import connect, is_postgres
from adapter.wire.deviations import Deviation, DeviationKind, collapse_rows
from adapter.wire.invariants import deviations as invariant_deviations
from adapter.wire.journal import Journal, JournalError, Status, open_journal
from adapter.wire.masking import mask_value, mask_xml_text
from adapter.wire.session import AsyncSession, SyncSession
from adapter.wire.session_table import SessionTable, SharedAsyncSession, SharedSession
from adapter.wire.validation import check_message, problem, unknown_function
from generated._convert import REFUSED_KINDS, FieldWriteError, Report
from generated.client import AsyncFunctions, SyncFunctions
from generated.registry import FIELDS, FUNCTIONS, LOGIN, SPEC

log = logging.getLogger("gdwi.client")
_PATH_HINT = (f"base_url is scheme://host:port (the spec's path {SPEC.path} is added, or taken as "
              "is when base_url ends with it); set `path` if this province publishes another")
ENDPOINT_STATUSES = {
    401: "it asks for HTTP authentication: a proxy in between? " + _PATH_HINT,
    403: "it refuses this client: an IP allow-list or proxy? " + _PATH_HINT,
    404: _PATH_HINT,
    405: "it does not take POST there: " + _PATH_HINT,
    501: "it does not take POST there: " + _PATH_HINT,
}
# A -9 on a session another node logged in for: how many such sessions are tried before this
# client logs in itself (each is a refused call, never a processed one).
_SHARED_REPEATS = 3
RequestT = TypeVar("RequestT")
AnswerT = TypeVar("AnswerT")
Build = Callable[[RequestT], dict[str, Any]]
Parse = Callable[[Mapping[str, Any], Report], AnswerT]


@dataclass(frozen=True)
class Reply(Generic[AnswerT]):
    """One accepted answer: typed, as wire values, its deviations from the spec, its journal entry.

    `deviations` are the answer's warnings (samples masked); they are also in the journal.
    """

    function_id: str
    answer: AnswerT
    values: dict[str, Any]
    deviations: tuple[Deviation, ...]
    journal_id: int | None  # None: read from wire values that did not come through this client

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(str(deviation) for deviation in self.deviations)


def write_request(function_id: str, request: RequestT, build: Build[RequestT]) -> dict[str, Any]:
    """The generated build of a typed request; InputError naming the field, at its wire path
    (`feeinfo[3].bka058`), for a value the field cannot hold."""
    try:
        return build(request)
    except FieldWriteError as exc:
        raise InputError(function_id, [problem(exc.path, exc.code, str(exc))]) from None
    except (TypeError, ValueError) as exc:
        raise InputError(function_id, [str(exc)]) from None


@cache
def converters(function_id: str) -> ModuleType:
    """generated/functions/<id>.py: the typed request/answer and their wire conversion."""
    if function_id not in FUNCTIONS:
        raise unknown_function(function_id)
    return importlib.import_module(f"generated.functions.{function_id}")


def answer_deviations(function_id: str, decoded: Decoded) -> list[Deviation]:
    """Where a decoded answer differs from the spec, as the client reads it (nothing raised).

    A refusal (return_code other than success) carries only its envelope by design, so only
    what its body holds beyond the message counts there.
    """
    findings = _Findings(function_id, decoded.found)
    if str(decoded.values.get("return_code", "")) == SPEC.success_code:
        converters(function_id).parse_answer(decoded.values, findings.report)
        findings.items.extend(invariant_deviations(function_id, decoded.values))
    return collapse_rows(findings.items)


def reply_from_values(function_id: str, values: dict[str, Any]) -> Reply[Any]:
    """Wire values a caller got elsewhere (a wrapper, a test double) read as the client reads."""
    findings = _Findings(function_id, [])
    answer = converters(function_id).parse_answer(values, findings.report)
    return Reply(function_id, answer, values, tuple(collapse_rows(findings.items)), None)


def _log_deviations(function_id: str, entry: int, deviations: list[Deviation]) -> None:
    """One warning line per answer that differs from the spec, each deviation at INFO.

    A real answer may differ in a dozen places on every call; the journal keeps them all and
    `gdwi spec drift` summarises them, so stderr gets the gist, not the list.
    """
    if not deviations:
        return
    log.warning("%s answer differs from the spec in %d place(s), journal entry %d (gdwi spec drift): %s",
                function_id, len(deviations), entry, _gist(deviations))
    for deviation in deviations:
        log.info("answer deviates from the spec: %s", deviation)


def _gist(deviations: list[Deviation]) -> str:
    """A few deviations in full; more as kinds with their codes. Amounts that break an identity
    are always given in full: they are what a cashier must look at."""
    if len(deviations) <= 3:
        return "; ".join(str(deviation) for deviation in deviations)
    by_kind: dict[str, list[str]] = {}
    for deviation in deviations:
        codes = by_kind.setdefault(str(deviation.kind), [])
        if deviation.code not in codes:
            codes.append(deviation.code)
    broken = [str(d) for d in deviations if d.kind == DeviationKind.BROKEN_INVARIANT]
    return "; ".join([*(f"{kind} {', '.join(codes[:6])}{' …' if len(codes) > 6 else ''}"
                        for kind, codes in by_kind.items()), *broken])


class _Findings:
    """Collects one answer's deviations, masking samples of PII fields as they come in."""

    def __init__(self, function_id: str, found: list[tuple[str, str, str]]) -> None:
        self.function_id = function_id
        self.items = [Deviation(function_id, path, code, DeviationKind(kind), "", "")
                      for path, code, kind in found]

    def report(self, path: str, code: str, kind: str, sample: str, detail: str) -> None:
        field = FIELDS.get(code)
        masked = mask_value(field.pii, sample) if field is not None else sample
        self.items.append(Deviation(self.function_id, path, code, DeviationKind(kind), masked, detail))


class _Core:
    """Everything about one exchange that does not depend on sync or async I/O."""

    def __init__(self, settings: Settings, journal: Journal | None) -> None:
        self.settings = settings
        self.journal = journal if journal is not None else open_journal(settings.journal_path)

    def prepare(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Format HIS values as wire text and validate; InputError before anything is sent."""
        try:
            wire = to_wire(values)
        except InputError:
            raise
        except (TypeError, ValueError) as exc:  # a value of a type the field cannot take (420 for a code)
            raise InputError(function_id, [str(exc)]) from None
        if function_id != LOGIN:
            wire.setdefault("akb020", self.settings.akb020)
            if wire["akb020"] != self.settings.akb020:
                raise InputError(function_id, [problem(
                    "akb020", "akb020", f"{wire['akb020']!r} is not this client's institution "
                    f"code {self.settings.akb020!r}")])
        check_message(function_id, "request", wire)
        return wire

    def build(self, function_id: str, request: RequestT, build: Build[RequestT]) -> dict[str, Any]:
        """A typed request as checked wire values; InputError names the field it cannot write."""
        return self.prepare(function_id, write_request(function_id, request, build))

    def login_values(self) -> dict[str, Any]:
        return {"userid": self.settings.userid, "password": self.settings.password}

    def begin(self, function_id: str, body: bytes, wire: dict[str, Any]) -> int:
        text = body.decode("utf-8")
        if log.isEnabledFor(logging.DEBUG):  # masking a 300-row body is not free
            log.debug("send %s: %s", function_id, mask_xml_text(text))
        # exclusive: a state-changing call on a business with an unresolved entry is refused
        # (UnresolvedEntryError, nothing sent) — it could repeat a change already committed.
        return self.journal.begin(
            function_id,
            FUNCTIONS[function_id].kind,
            text,
            akb020=wire.get("akb020"),
            aaz218=wire.get("aaz218"),
            aac001=wire.get("aac001") if isinstance(wire.get("aac001"), str) else None,
            exclusive=True,
            answer_window_s=self.settings.read_timeout,
            institution=self.settings.akb020,
        )

    def deadline(self) -> float:
        """When a call starting now must end, retries included (a time.monotonic() value)."""
        return time.monotonic() + self.settings.call_deadline

    def pause_before_retry(
        self, function_id: str, exc: TransportError, attempt: int, deadline: float
    ) -> float | None:
        """Seconds to wait before sending again, or None to give up.

        A request that certainly never left (NotSentError) is resent for any function, up to
        send_retries times; any other transport failure only for a read-only query, up to
        query_retries. Never past the call's deadline.
        """
        if isinstance(exc, transport.NotSentError):
            limit = self.settings.send_retries
        elif FUNCTIONS[function_id].read_only:
            limit = self.settings.query_retries
        else:
            return None
        pause = float(self.settings.retry_backoff * 2**attempt)
        if attempt >= limit or time.monotonic() + pause >= deadline:
            return None
        log.info("%s: %s; sending again in %.2f s (retry %d of %d)",
                 function_id, exc, pause, attempt + 1, limit)
        return pause

    def record(self, entry: int, function_id: str, status: Status, **outcome: Any) -> None:
        """journal.finish after the send: a failing write (e.g. disk full) leaves the outcome
        unknown — the entry stays pending, which keeps a resend out until recovery settles it."""
        try:
            self.journal.finish(entry, status, **outcome)
        except JournalError as exc:
            log.error("%s: journal entry %s: the outcome (%s) could not be recorded: %s",
                      function_id, entry, status, exc)
            raise OutcomeUnknownError(
                function_id, entry, f"the journal could not record the outcome ({status}): {exc}") from exc

    def transport_failed(
        self, entry: int, function_id: str, exc: TransportError, started: float
    ) -> GdwiError:
        """Journal the failure; NotSent is 'failed', anything else leaves the outcome unknown.
        A login answered 401/404/405 hit something that is not the province's endpoint: the
        settings are wrong, and a login changes nothing at the province anyway."""
        duration = (time.perf_counter() - started) * 1000
        if function_id == LOGIN and isinstance(exc, HttpStatusError) and exc.status in ENDPOINT_STATUSES:
            self.journal.finish(entry, Status.FAILED, message=str(exc), duration_ms=duration)
            return EndpointError(exc.url, exc.status, ENDPOINT_STATUSES[exc.status])
        if isinstance(exc, transport.NotSentError):
            self.record(entry, function_id, Status.FAILED, message=str(exc), duration_ms=duration)
            return exc
        self.record(entry, function_id, Status.UNKNOWN, message=str(exc), duration_ms=duration)
        return OutcomeUnknownError(function_id, entry, str(exc))

    def complete(
        self, entry: int, function_id: str, raw: bytes, started: float, parse: Parse[AnswerT]
    ) -> Reply[AnswerT]:
        """Decode, check and parse an answer; raise the typed error of a refusal."""
        duration = (time.perf_counter() - started) * 1000
        text = raw.decode("utf-8", errors="replace")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("answer %s: %s", function_id, mask_xml_text(text))
        try:
            decoded = decode(raw, function_id, "response", max_bytes=self.settings.max_body_bytes)
        except Exception as exc:
            self.record(entry, function_id, Status.UNKNOWN, response_xml=text, message=str(exc),
                        duration_ms=duration)
            raise OutcomeUnknownError(function_id, entry, f"unreadable answer: {exc}") from exc
        for warning in decoded.warnings:
            log.warning("%s", warning)
        code = str(decoded.values.get("return_code", ""))
        message = str(decoded.values.get("return_code_message") or "")
        if code != SPEC.success_code:
            self.record(entry, function_id, Status.REJECTED, response_xml=text, return_code=code,
                        message=message, duration_ms=duration)
            error = SessionExpiredError if code == SPEC.session_expired_code else BusinessError
            raise error(function_id, code, message or "(no message)")
        findings = _Findings(function_id, decoded.found)
        answer = parse(decoded.values, findings.report)
        # A registration's or admission's answer names the new aaz218: journal it with the entry,
        # so recovery can tell this visit or stay from one whose answer was lost.
        assigned = getattr(answer, "visit_registration_no", None)
        self.record(entry, function_id, Status.OK, response_xml=text, return_code=code,
                    duration_ms=duration, aaz218=assigned if isinstance(assigned, str) else None)
        # An amount identity that does not hold is a warning on a committed answer, never a failure.
        findings.items.extend(invariant_deviations(function_id, decoded.values))
        deviations = collapse_rows(findings.items)
        self.journal.record_deviations(entry, deviations)
        _log_deviations(function_id, entry, deviations)
        self._refuse_unreadable(function_id, deviations)
        return Reply(function_id, answer, decoded.values, tuple(deviations), entry)

    @staticmethod
    def _refuse_unreadable(function_id: str, deviations: list[Deviation]) -> None:
        """A read-only answer the policy refuses, or without what the next step needs.

        Never for a state-changing function: the province committed it, so its answer is
        returned with the deviations as warnings whatever they are.
        """
        if FUNCTIONS[function_id].kind == "state_changing":
            return
        needed = converters(function_id).NEEDED
        problems = [
            str(d) for d in deviations
            if d.kind in REFUSED_KINDS or (d.kind is DeviationKind.MISSING_FIELD and d.code in needed)
        ]
        if problems:
            raise ContractError(function_id, problems)


class Client(SyncFunctions):
    """Synchronous client. `with Client(settings) as client: client.bizh110001(request)`."""

    def __init__(
        self,
        settings: Settings,
        *,
        journal: Journal | None = None,
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._core = _Core(settings, journal)
        self._http = transport.sync_client(settings, http_transport)
        self.session: SyncSession | SharedSession = self._session()

    def _session(self) -> SyncSession | SharedSession:
        """In this process (SQLite: one node), or shared by every node through a PostgreSQL journal's
        database (one login per institution across nodes, session_table.py)."""
        journal, target = self._core.journal, self._core.settings.journal
        if not (journal.postgres and is_postgres(target)):
            return SyncSession(self._login)
        table = SessionTable(connect(target), journal.node)
        return SharedSession(self._login, table, self._core.settings.akb020)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        if isinstance(self.session, SharedSession):
            self.session.close()

    @property
    def journal(self) -> Journal:
        return self._core.journal

    @property
    def settings(self) -> Settings:
        return self._core.settings

    def call(
        self, function_id: str, request: RequestT, build: Build[RequestT], parse: Parse[AnswerT]
    ) -> AnswerT:
        """The typed main path (what client.bizh…(request) runs): the committed answer, typed."""
        return self.exchange(function_id, request, build, parse).answer

    def exchange(
        self, function_id: str, request: RequestT, build: Build[RequestT], parse: Parse[AnswerT]
    ) -> Reply[AnswerT]:
        """Like `call`, with the answer's deviations and journal entry (the HIS layer uses it)."""
        return self._exchange(function_id, self._core.build(function_id, request, build), parse)

    def send(self, function_id: str, request: Any) -> Reply[Any]:
        """A generated typed request of `function_id` (generated.functions.<id>.Request)."""
        module = converters(function_id)
        return self.exchange(function_id, request, module.build_request, module.parse_answer)

    def call_wire(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Call with a wire-shaped dict (codes as keys); returns the decoded answer."""
        return self.reply_wire(function_id, values).values

    def reply_wire(self, function_id: str, values: dict[str, Any]) -> Reply[Any]:
        """A wire-shaped request; the answer typed, with its deviations and journal entry."""
        wire = self._core.prepare(function_id, values)
        return self._exchange(function_id, wire, converters(function_id).parse_answer)

    def _exchange(self, function_id: str, wire: dict[str, Any], parse: Parse[AnswerT]) -> Reply[AnswerT]:
        if function_id == LOGIN:
            return self._send(LOGIN, wire, None, parse)
        deadline = self._core.deadline()  # the whole call: every retry and the -9 repeat
        session_id = self.session.get()
        repeats = _SHARED_REPEATS if isinstance(self.session, SharedSession) else 1
        fresh_login = False
        for repeat in range(repeats + 1):
            try:
                return self._send_with_retries(function_id, wire, session_id, parse, deadline)
            except SessionExpiredError:
                # -9: the expired request was refused, not processed; log in again and repeat.
                # A session logged in for just now is not asked twice. A shared one another node
                # logged in for may have ended with ours (the same expiry, not yet reported):
                # then the next is asked for, up to _SHARED_REPEATS times.
                if fresh_login or repeat == repeats:
                    raise
                before = self.session.logins
                session_id = self.session.get(stale=session_id)
                fresh_login = self.session.logins != before
        raise AssertionError("unreachable: the loop returns or raises")

    def _send_with_retries(
        self, function_id: str, wire: dict[str, Any], session_id: str, parse: Parse[AnswerT], deadline: float
    ) -> Reply[AnswerT]:
        attempt = 0
        while True:
            try:
                return self._send(function_id, wire, session_id, parse, deadline)
            except TransportError as exc:
                pause = self._core.pause_before_retry(function_id, exc, attempt, deadline)
                if pause is None:
                    raise
                time.sleep(pause)
                attempt += 1

    def _send(
        self, function_id: str, wire: dict[str, Any], session_id: str | None, parse: Parse[AnswerT],
        deadline: float | None = None,
    ) -> Reply[AnswerT]:
        body = encode(function_id, "request", wire, session_id=session_id)
        entry = self._core.begin(function_id, body, wire)
        started = time.perf_counter()
        try:
            raw = transport.post(self._http, self._core.settings.url, body,
                                 max_bytes=self._core.settings.max_body_bytes,
                                 deadline=deadline or self._core.deadline())
        except TransportError as exc:
            raise self._core.transport_failed(entry, function_id, exc, started) from exc
        return self._core.complete(entry, function_id, raw, started, parse)

    def _login(self) -> str:
        wire = self._core.prepare(LOGIN, self._core.login_values())
        return str(self._send(LOGIN, wire, None, converters(LOGIN).parse_answer).values["session_id"])


class AsyncClient(AsyncFunctions):
    """Asynchronous client. `async with AsyncClient(settings) as client: await client.bizh...`."""

    def __init__(
        self,
        settings: Settings,
        *,
        journal: Journal | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._core = _Core(settings, journal)
        self._http = transport.async_client(settings, http_transport)
        self.session: AsyncSession | SharedAsyncSession = self._session()

    def _session(self) -> AsyncSession | SharedAsyncSession:
        """In this process, or shared through a PostgreSQL journal's database (as Client's)."""
        journal, target = self._core.journal, self._core.settings.journal
        if not (journal.postgres and is_postgres(target)):
            return AsyncSession(self._login)
        table = SessionTable(connect(target), journal.node)
        return SharedAsyncSession(self._login, table, self._core.settings.akb020)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        if isinstance(self.session, SharedAsyncSession):
            self.session.close()

    @property
    def journal(self) -> Journal:
        return self._core.journal

    @property
    def settings(self) -> Settings:
        return self._core.settings

    async def acall(
        self, function_id: str, request: RequestT, build: Build[RequestT], parse: Parse[AnswerT]
    ) -> AnswerT:
        return (await self.exchange(function_id, request, build, parse)).answer

    async def exchange(
        self, function_id: str, request: RequestT, build: Build[RequestT], parse: Parse[AnswerT]
    ) -> Reply[AnswerT]:
        return await self._exchange(function_id, self._core.build(function_id, request, build), parse)

    async def send(self, function_id: str, request: Any) -> Reply[Any]:
        module = converters(function_id)
        return await self.exchange(function_id, request, module.build_request, module.parse_answer)

    async def call_wire(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        wire = self._core.prepare(function_id, values)
        return (await self._exchange(function_id, wire, converters(function_id).parse_answer)).values

    async def _exchange(
        self, function_id: str, wire: dict[str, Any], parse: Parse[AnswerT]
    ) -> Reply[AnswerT]:
        if function_id == LOGIN:
            return await self._send(LOGIN, wire, None, parse)
        deadline = self._core.deadline()
        session_id = await self.session.get()
        repeats = _SHARED_REPEATS if isinstance(self.session, SharedAsyncSession) else 1
        fresh_login = False
        for repeat in range(repeats + 1):  # as Client._exchange
            try:
                return await self._send_with_retries(function_id, wire, session_id, parse, deadline)
            except SessionExpiredError:
                if fresh_login or repeat == repeats:
                    raise
                before = self.session.logins
                session_id = await self.session.get(stale=session_id)
                fresh_login = self.session.logins != before
        raise AssertionError("unreachable: the loop returns or raises")

    async def _send_with_retries(
        self, function_id: str, wire: dict[str, Any], session_id: str, parse: Parse[AnswerT], deadline: float
    ) -> Reply[AnswerT]:
        attempt = 0
        while True:
            try:
                return await self._send(function_id, wire, session_id, parse, deadline)
            except TransportError as exc:
                pause = self._core.pause_before_retry(function_id, exc, attempt, deadline)
                if pause is None:
                    raise
                await asyncio.sleep(pause)
                attempt += 1

    async def _send(
        self, function_id: str, wire: dict[str, Any], session_id: str | None, parse: Parse[AnswerT],
        deadline: float | None = None,
    ) -> Reply[AnswerT]:
        body = encode(function_id, "request", wire, session_id=session_id)
        # In a worker thread: the write-ahead commit (an fsync for a state change) would otherwise
        # stall every other call on this event loop; awaited, so it is still on disk before sending.
        entry = await asyncio.to_thread(self._core.begin, function_id, body, wire)
        started = time.perf_counter()
        try:
            raw = await transport.apost(self._http, self._core.settings.url, body,
                                        max_bytes=self._core.settings.max_body_bytes,
                                        deadline=deadline or self._core.deadline())
        except TransportError as exc:
            raise self._core.transport_failed(entry, function_id, exc, started) from exc
        return self._core.complete(entry, function_id, raw, started, parse)

    async def _login(self) -> str:
        wire = self._core.prepare(LOGIN, self._core.login_values())
        reply = await self._send(LOGIN, wire, None, converters(LOGIN).parse_answer)
        return str(reply.values["session_id"])
