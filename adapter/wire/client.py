"""Client and AsyncClient: validate → journal → send → decode → check, per function_id.

The per-function methods (client.bizh120103(request), ...) come from the generated
SyncFunctions / AsyncFunctions; this module holds what is common to all of them.
One call, from a typed request to the wire:
    generated/functions/<id>.py → Client.call → _Core (validation, journal, codec) → transport
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from adapter.errors import (
    BusinessError,
    ContractError,
    InputError,
    OutcomeUnknownError,
    SessionExpiredError,
    TransportError,
)
from adapter.wire import transport
from adapter.wire.codec import decode, encode, model_to_wire, to_wire
from adapter.wire.config import Settings
from adapter.wire.invariants import deviations as invariant_deviations
from adapter.wire.journal import Journal, Status
from adapter.wire.masking import mask_xml_text
from adapter.wire.session import AsyncSession, SyncSession
from adapter.wire.validation import problem, validate_message
from generated.client import AsyncFunctions, SyncFunctions
from generated.registry import FUNCTIONS, LOGIN, SPEC

log = logging.getLogger("gdwi.client")
ResponseT = TypeVar("ResponseT", bound=BaseModel)


class _Core:
    """Everything about one exchange that does not depend on sync or async I/O."""

    def __init__(self, settings: Settings, journal: Journal | None) -> None:
        self.settings = settings
        self.journal = journal if journal is not None else Journal(settings.journal_path)

    def prepare(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Format HIS values as wire text and validate; InputError before anything is sent."""
        wire = to_wire(values)
        if function_id != LOGIN:
            wire.setdefault("akb020", self.settings.akb020)
            if wire["akb020"] != self.settings.akb020:
                raise InputError(function_id, [problem(
                    "akb020", "akb020", f"{wire['akb020']!r} is not this client's institution "
                    f"code {self.settings.akb020!r}")])
        validate_message(function_id, "request", wire)
        return wire

    def login_values(self) -> dict[str, Any]:
        return {"userid": self.settings.userid, "password": self.settings.password}

    def begin(self, function_id: str, body: bytes, wire: dict[str, Any]) -> int:
        text = body.decode("utf-8")
        if log.isEnabledFor(logging.DEBUG):  # masking a 300-row body is not free
            log.debug("send %s: %s", function_id, mask_xml_text(text))
        return self.journal.begin(
            function_id,
            FUNCTIONS[function_id].kind,
            text,
            akb020=wire.get("akb020"),
            aaz218=wire.get("aaz218"),
        )

    def transport_failed(
        self, entry: int, function_id: str, exc: TransportError, started: float
    ) -> TransportError:
        """Journal the failure; NotSent is 'failed', anything else leaves the outcome unknown."""
        duration = (time.perf_counter() - started) * 1000
        if isinstance(exc, transport.NotSentError):
            self.journal.finish(entry, Status.FAILED, message=str(exc), duration_ms=duration)
            return exc
        self.journal.finish(entry, Status.UNKNOWN, message=str(exc), duration_ms=duration)
        return OutcomeUnknownError(function_id, entry, str(exc))

    def complete(self, entry: int, function_id: str, raw: bytes, started: float) -> dict[str, Any]:
        """Decode and check an answer; raise the typed error of a refusal."""
        duration = (time.perf_counter() - started) * 1000
        text = raw.decode("utf-8", errors="replace")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("answer %s: %s", function_id, mask_xml_text(text))
        try:
            decoded = decode(raw, function_id, "response", max_bytes=self.settings.max_body_bytes)
        except Exception as exc:
            self.journal.finish(entry, Status.UNKNOWN, response_xml=text, message=str(exc),
                                duration_ms=duration)
            raise OutcomeUnknownError(function_id, entry, f"unreadable answer: {exc}") from exc
        for warning in decoded.warnings:
            log.warning("%s", warning)
        code = str(decoded.values.get("return_code", ""))
        message = str(decoded.values.get("return_code_message") or "")
        if code != SPEC.success_code:
            self.journal.finish(entry, Status.REJECTED, response_xml=text, return_code=code,
                                message=message, duration_ms=duration)
            error = SessionExpiredError if code == SPEC.session_expired_code else BusinessError
            raise error(function_id, code, message or "(no message)")
        # A registration's or admission's answer names the new aaz218: journal it with the entry,
        # so recovery can tell this visit or stay from one whose answer was lost.
        assigned = decoded.values.get("aaz218")
        self.journal.finish(entry, Status.OK, response_xml=text, return_code=code, duration_ms=duration,
                            aaz218=assigned if isinstance(assigned, str) else None)
        # An amount identity that does not hold is a warning on a committed answer, never a failure.
        breaches = invariant_deviations(function_id, decoded.values)
        for breach in breaches:
            log.warning("%s", breach.detail)
        if breaches:
            self.journal.record_deviations(entry, breaches)
        try:
            validate_message(function_id, "response", decoded.values)
        except InputError as exc:
            raise ContractError(function_id, exc.problems) from None
        return decoded.values


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
        self.session = SyncSession(self._login)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def journal(self) -> Journal:
        return self._core.journal

    def call(self, function_id: str, request: BaseModel, response_type: type[ResponseT]) -> ResponseT:
        values = self.call_wire(function_id, model_to_wire(request))
        return response_type.model_validate(values)

    def call_wire(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Call with a wire-shaped dict (codes as keys); returns the decoded answer."""
        wire = self._core.prepare(function_id, values)
        if function_id == LOGIN:
            return self._send(LOGIN, wire, None)
        session_id = self.session.get()
        try:
            return self._send_with_retries(function_id, wire, session_id)
        except SessionExpiredError:
            # -9: log in again once and repeat; the expired request was refused, not processed.
            fresh = self.session.get(stale=session_id)
            return self._send_with_retries(function_id, wire, fresh)

    def _send_with_retries(self, function_id: str, wire: dict[str, Any], session_id: str) -> dict[str, Any]:
        attempts = 1 + (self._core.settings.query_retries if FUNCTIONS[function_id].read_only else 0)
        for attempt in range(attempts):
            try:
                return self._send(function_id, wire, session_id)
            except (TransportError, OutcomeUnknownError):
                if attempt + 1 == attempts:
                    raise
                time.sleep(self._core.settings.retry_backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _send(self, function_id: str, wire: dict[str, Any], session_id: str | None) -> dict[str, Any]:
        body = encode(function_id, "request", wire, session_id=session_id)
        entry = self._core.begin(function_id, body, wire)
        started = time.perf_counter()
        try:
            raw = transport.post(self._http, self._core.settings.url, body)
        except TransportError as exc:
            raise self._core.transport_failed(entry, function_id, exc, started) from exc
        return self._core.complete(entry, function_id, raw, started)

    def _login(self) -> str:
        values = self._send(LOGIN, self._core.prepare(LOGIN, self._core.login_values()), None)
        return str(values["session_id"])


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
        self.session = AsyncSession(self._login)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def journal(self) -> Journal:
        return self._core.journal

    async def acall(
        self, function_id: str, request: BaseModel, response_type: type[ResponseT]
    ) -> ResponseT:
        values = await self.call_wire(function_id, model_to_wire(request))
        return response_type.model_validate(values)

    async def call_wire(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]:
        wire = self._core.prepare(function_id, values)
        if function_id == LOGIN:
            return await self._send(LOGIN, wire, None)
        session_id = await self.session.get()
        try:
            return await self._send_with_retries(function_id, wire, session_id)
        except SessionExpiredError:
            fresh = await self.session.get(stale=session_id)
            return await self._send_with_retries(function_id, wire, fresh)

    async def _send_with_retries(
        self, function_id: str, wire: dict[str, Any], session_id: str
    ) -> dict[str, Any]:
        attempts = 1 + (self._core.settings.query_retries if FUNCTIONS[function_id].read_only else 0)
        for attempt in range(attempts):
            try:
                return await self._send(function_id, wire, session_id)
            except (TransportError, OutcomeUnknownError):
                if attempt + 1 == attempts:
                    raise
                await asyncio.sleep(self._core.settings.retry_backoff * 2**attempt)
        raise AssertionError("unreachable")

    async def _send(self, function_id: str, wire: dict[str, Any], session_id: str | None) -> dict[str, Any]:
        body = encode(function_id, "request", wire, session_id=session_id)
        entry = self._core.begin(function_id, body, wire)
        started = time.perf_counter()
        try:
            raw = await transport.apost(self._http, self._core.settings.url, body)
        except TransportError as exc:
            raise self._core.transport_failed(entry, function_id, exc, started) from exc
        return self._core.complete(entry, function_id, raw, started)

    async def _login(self) -> str:
        values = await self._send(LOGIN, self._core.prepare(LOGIN, self._core.login_values()), None)
        return str(values["session_id"])
