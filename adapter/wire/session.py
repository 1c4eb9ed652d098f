"""The sys0001 session: log in on first use, reuse until 24:00 Asia/Shanghai, single-flight.

The province invalidates session_id at midnight Beijing time (UTC+8, no DST), and
answers -9 when it has expired earlier; the client then calls `invalidate` and
logs in again once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


def next_midnight(now: datetime) -> datetime:
    local = now.astimezone(BEIJING)
    return (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class _Held:
    session_id: str
    expires_at: datetime


class _SessionState:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._held: _Held | None = None
        self.logins = 0

    def valid(self, stale: str | None) -> str | None:
        """The held session if still good (and not the one just reported expired)."""
        held = self._held
        if held is None or self._clock() >= held.expires_at or held.session_id == stale:
            return None
        return held.session_id

    def store(self, session_id: str) -> str:
        self._held = _Held(session_id, next_midnight(self._clock()))
        self.logins += 1
        return session_id

    def invalidate(self, session_id: str) -> None:
        if self._held is not None and self._held.session_id == session_id:
            self._held = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SyncSession(_SessionState):
    """Thread-safe: concurrent callers share one login."""

    def __init__(self, login: Callable[[], str], clock: Callable[[], datetime] = _utc_now) -> None:
        super().__init__(clock)
        self._login = login
        self._lock = threading.Lock()

    def get(self, stale: str | None = None) -> str:
        current = self.valid(stale)
        if current is not None:
            return current
        with self._lock:
            # Another thread may have logged in while this one waited.
            current = self.valid(stale)
            return current if current is not None else self.store(self._login())


class AsyncSession(_SessionState):
    """Task-safe within one event loop: concurrent tasks share one login."""

    def __init__(
        self, login: Callable[[], Awaitable[str]], clock: Callable[[], datetime] = _utc_now
    ) -> None:
        super().__init__(clock)
        self._login = login
        self._lock = asyncio.Lock()

    async def get(self, stale: str | None = None) -> str:
        current = self.valid(stale)
        if current is not None:
            return current
        async with self._lock:
            current = self.valid(stale)
            return current if current is not None else self.store(await self._login())
