"""One HIS request through the proxy: read, check, journal, forward, journal the answer, reply.

    HIS bytes --read_request--> refused locally (-1)            hostile / unreadable, or
                                                                 enforce mode and the spec is broken
              --journal.begin (pending, fsynced)--> POST the same bytes upstream
              --journal.finish (ok / rejected / failed / unknown) + deviations
              --> the province's bytes, unchanged

The proxy never invents an answer for the province. What it says itself is a `<program>`
envelope with return_code -1 (the failure code every HIS handles), and the HTTP status tells a
refusal (200, as the province answers bad input), "not sent" (502) and "sent, outcome unknown"
(504) apart, so a HIS that checks the status treats the last two as the transport errors they
replace. A state-changing call's write-ahead entry is committed (fsynced) on a worker thread, so
the event loop serves the other callers meanwhile; the journal's other writes run in the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from adapter.errors import JournalError, NotSentError, XmlRefusedError
from adapter.proxy.config import Mode, ProxyConfig
from adapter.proxy.reading import Request, read_request, return_code_of
from adapter.proxy.upstream import Answer, Upstream
from adapter.wire.client import answer_deviations
from adapter.wire.codec import XML_DECLARATION, decode
from adapter.wire.deviations import Deviation
from adapter.wire.journal import Journal, Status
from adapter.wire.masking import mask_xml_text, scrub
from generated.registry import SPEC

__all__ = ["FAILURE_CODE", "Exchange", "Reply", "envelope"]

log = logging.getLogger("gdwi.proxy")
FAILURE_CODE = "-1"


@dataclass(frozen=True)
class Reply:
    """What goes back to the HIS."""

    status: int
    body: bytes
    content_type: str = SPEC.content_type


def envelope(message: str) -> bytes:
    """A failure answer in the province's shape: every response carries these two elements."""
    return (XML_DECLARATION + f"<{SPEC.root_element}><return_code>{FAILURE_CODE}</return_code>"
            f"<return_code_message>{escape(message)}</return_code_message></{SPEC.root_element}>"
            .encode())


def _refused(message: str, status: int = 200) -> Reply:
    return Reply(status, envelope(message))


class Exchange:
    """The per-request logic, shared by every connection of one proxy process."""

    def __init__(self, config: ProxyConfig, journal: Journal, upstream: Upstream) -> None:
        self.config = config
        self.journal = journal
        self.upstream = upstream

    async def handle(self, body: bytes, content_type: str | None, query: str = "") -> Reply:
        try:
            request = read_request(body, self.config.max_body_bytes)
        except XmlRefusedError as exc:
            log.warning("request refused, not forwarded: %s", scrub(str(exc)))
            return _refused(f"gdwi proxy: XML refused, not sent (XML 被拒绝，未发送): {exc}")
        if request.problems and self.config.mode_for(request.function_id) == Mode.ENFORCE:
            return await self._enforce(request, body)
        try:
            entry = await self._write_ahead(request, body)
        except JournalError as exc:  # no record, no sending: the HIS may retry once it is fixed
            log.error("journal refused the write-ahead entry; %s not sent: %s", request.function_id,
                      scrub(str(exc)))
            return _refused("gdwi proxy: the journal cannot record this call, nothing was sent "
                            "(交易日志不可用，请求未发送)", 503)
        started = time.perf_counter()
        try:
            answer = await self.upstream.post(body, content_type or SPEC.content_type, query)
        except NotSentError as exc:
            self._finish(entry, Status.FAILED, started, message=f"not sent: {exc}")
            log.warning("%s not sent (502, journal entry %d): %s", request.function_id, entry,
                        scrub(str(exc)))
            return _refused(f"gdwi proxy: the province could not be reached, nothing was sent "
                            f"(无法连接省平台，请求未发送): {exc}", 502)
        except Exception as exc:  # MaybeSent, or anything unforeseen after the bytes may have left
            self._finish(entry, Status.UNKNOWN, started, message=f"no answer: {exc}")
            return _refused(f"gdwi proxy: sent, but no answer arrived; the outcome is unknown, query before "
                            f"resending (已发送但无应答，结果未知，请先查询): journal entry {entry}", 504)
        try:
            self._complete(entry, request, answer, started)
        except Exception:  # the province answered: its bytes reach the HIS whatever the journal does
            log.exception("journal entry %d (%s): the answer could not be recorded; the entry stays "
                          "pending for `gdwi journal recover`", entry, request.function_id)
        return Reply(answer.status, answer.body, answer.content_type or SPEC.content_type)

    async def _write_ahead(self, request: Request, body: bytes) -> int:
        """The pending entry, committed before anything is sent.

        A state-changing entry's commit is fsynced: it runs on a worker thread, so the event loop
        serves the other callers meanwhile. Every other journal write is a plain commit of a
        fraction of a millisecond, cheaper in the loop than the hand-off to a thread and back.
        """
        if request.kind == "state_changing":
            return await asyncio.to_thread(self._begin, request, body)
        return self._begin(request, body)

    async def _enforce(self, request: Request, body: bytes) -> Reply:
        problems = "; ".join(request.problems)
        try:
            entry = await self._write_ahead(request, body)
            self.journal.finish(entry, Status.FAILED, return_code=FAILURE_CODE,
                                message=f"refused by the proxy (enforce), not sent: {problems}")
        except JournalError as exc:  # the refusal stands; only its record is missing
            log.error("enforce refusal of %s not journaled: %s", request.function_id, scrub(str(exc)))
        log.warning("%s refused (enforce), not forwarded: %s", request.function_id, scrub(problems))
        return _refused(f"gdwi proxy (enforce): {request.function_id}: {problems}")

    # --- journal writes ---------------------------------------------------------------------

    def _begin(self, request: Request, body: bytes) -> int:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("forward %s: %s", request.function_id, mask_xml_text(body.decode("utf-8")))
        return self.journal.begin(request.function_id, request.kind, body.decode("utf-8"),
                                  akb020=request.text("akb020"), aaz218=request.text("aaz218"))

    def _finish(self, entry: int, status: Status, started: float, *, message: str) -> None:
        try:
            self.journal.finish(entry, status, message=message, duration_ms=_since(started))
        except JournalError as exc:  # the HIS still hears what happened; recovery settles the entry
            log.error("journal entry %d: outcome %s not recorded: %s", entry, status, scrub(str(exc)))

    def _complete(self, entry: int, request: Request, answer: Answer, started: float) -> None:
        duration = _since(started)
        text = answer.body.decode("utf-8", errors="replace")
        outcome = _Outcome.of(request, answer, self.config.max_body_bytes)
        message = "; ".join(filter(None, [outcome.message, _observed(request)])) or None
        self.journal.finish(entry, outcome.status, response_xml=text, return_code=outcome.return_code,
                            message=message, duration_ms=duration, aaz218=outcome.aaz218)
        self.journal.record_deviations(entry, outcome.deviations)
        if outcome.deviations:
            log.info("%s answer differs from the spec in %d place(s) (journal entry %d)",
                     request.function_id, len(outcome.deviations), entry)


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _observed(request: Request) -> str:
    if not request.problems:
        return ""
    return "request breaks the spec (observe mode, sent): " + "; ".join(request.problems)


@dataclass(frozen=True)
class _Outcome:
    """How the journal records an answer."""

    status: Status
    return_code: str | None = None
    message: str | None = None
    aaz218: str | None = None
    deviations: list[Deviation] = field(default_factory=list)

    @classmethod
    def of(cls, request: Request, answer: Answer, max_bytes: int) -> _Outcome:
        # As the client: a non-200 or a server-fault page may follow a commit, so unknown.
        if answer.status != 200:
            return cls(Status.UNKNOWN, message=f"HTTP {answer.status} from the province")
        if SPEC.server_fault_text.encode() in answer.body:
            return cls(Status.UNKNOWN, message=f"province exception page ({SPEC.server_fault_text})")
        if not request.known:
            code = return_code_of(answer.body, max_bytes)
            return cls._by_code(code, f"{request.function_id} is not in the spec")
        try:
            decoded = decode(answer.body, request.function_id, "response", max_bytes=max_bytes)
        except XmlRefusedError as exc:
            return cls(Status.UNKNOWN, message=f"unreadable answer: {exc}")
        code = _text(decoded.values.get("return_code"))
        if code != SPEC.success_code:
            return cls._by_code(code, _text(decoded.values.get("return_code_message")))
        return cls(Status.OK, code, None, _text(decoded.values.get("aaz218")),
                   answer_deviations(request.function_id, decoded))

    @classmethod
    def _by_code(cls, code: str | None, message: str | None) -> _Outcome:
        if code is None:
            return cls(Status.UNKNOWN, message="answer without a return_code")
        status = Status.OK if code == SPEC.success_code else Status.REJECTED
        return cls(status, code, message)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
