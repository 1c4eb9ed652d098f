"""Every error gdwi raises. One hierarchy, so a HIS can catch `GdwiError` once.

Messages never contain a password; citizen ID numbers in them are masked.
"""

from __future__ import annotations

from adapter.wire.validation import InputError

__all__ = [
    "BusinessError",
    "ContractError",
    "GdwiError",
    "InputError",
    "OutcomeUnknownError",
    "ServerFaultError",
    "SessionExpiredError",
    "TransportError",
    "XmlRefusedError",
]


class GdwiError(Exception):
    """Base of every gdwi error."""


class XmlRefusedError(GdwiError, ValueError):
    """An XML body refused before or while parsing (DOCTYPE, size, encoding, malformed)."""


class ContractError(GdwiError):
    """A response that breaks the spec; `problems` name the fields (code and 中文名)."""

    def __init__(self, function_id: str, problems: list[str]) -> None:
        self.function_id = function_id
        self.problems = problems
        super().__init__(f"{function_id}: response breaks the spec: " + "; ".join(problems))


class BusinessError(GdwiError):
    """The province answered with a negative return_code."""

    def __init__(self, function_id: str, code: str, message: str) -> None:
        self.function_id = function_id
        self.code = code
        self.message = message
        super().__init__(f"{function_id}: return_code {code}: {message}")


class SessionExpiredError(BusinessError):
    """return_code -9: the session_id is no longer valid; log in again."""


class TransportError(GdwiError):
    """The exchange failed before a valid answer arrived (connect, non-200, ...)."""


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
