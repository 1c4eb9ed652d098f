"""Liveness and readiness: `GET /health` (the process answers) and `GET /ready` (it can work).

Ready means both: the gateway's own province login (sys0001) works, and the journal takes a write
(every transaction is journaled before it is sent, so a journal that refuses writes stops every
call). The login is the client's session: a held session is reused (no province call), so a probe
every few seconds costs nothing while the session lives. A failing login is retried at most once
per CACHE_SECONDS however often /ready is asked, so a monitor cannot lock the province account
with repeated wrong passwords.

The same check runs once when the server starts and writes one log line saying what works.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from adapter.errors import JournalError
from adapter.wire.database import connect, db_errors, is_postgres, mask_dsn
from adapter.wire.journal import Journal
from adapter.wire.masking import scrub

__all__ = ["CACHE_SECONDS", "Check", "Readiness", "ReadinessProbe", "journal_writable", "log_start_check"]

log = logging.getLogger("gdwi.gateway")
CACHE_SECONDS = 5.0
_PROBE_SQL = ("CREATE TABLE IF NOT EXISTS gateway_probe (id INTEGER PRIMARY KEY CHECK (id = 1),"
              " probed_at DOUBLE PRECISION NOT NULL)")


class _Session(Protocol):
    def get(self, stale: str | None = None) -> str: ...


class ReadyClient(Protocol):
    """What readiness needs of adapter.wire.client.Client."""

    @property
    def session(self) -> _Session: ...

    @property
    def journal(self) -> Journal: ...


@dataclass(frozen=True)
class Check:
    """One readiness condition: its name, whether it holds, and what was seen (masked)."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {"status": "ready" if self.ready else "not_ready",
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks]}

    def summary(self) -> str:
        return "; ".join(f"{c.name} {'ok' if c.ok else 'FAILED'}: {c.detail}" for c in self.checks)


def province_login(client: ReadyClient, name: str = "province_login") -> Check:
    try:
        client.session.get()
    except Exception as exc:  # any failure is the answer: the message says which
        return Check(name, False, scrub(f"{type(exc).__name__}: {exc}"))
    return Check(name, True, "sys0001 session held")


def journal_writable(target: str | Path) -> Check:
    """A real write (one row, replaced each time) through a connection of its own: a full disk, a
    read-only file or a lock held too long all show here, before a transaction needs the journal.
    `target`: the journal's file, or its postgresql:// URL."""
    name = mask_dsn(str(target)) if is_postgres(target) else Path(target).name
    refusals: tuple[type[BaseException], ...] = (JournalError, *db_errors(target))
    try:
        db = connect(target, timeout=2.0)
        try:
            with db.transaction():
                db.lock_schema()  # several nodes' probes may create the table at once
                db.execute(_PROBE_SQL)
                db.execute("INSERT INTO gateway_probe (id, probed_at) VALUES (1, ?)"
                           " ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at", (time.time(),))
        finally:
            db.close()
    except refusals as exc:
        return Check("journal", False, f"{name} refuses writes: {type(exc).__name__}: {mask_dsn(str(exc))}")
    return Check("journal", True, f"{name} writable")


class ReadinessProbe:
    """The /ready answer (thread-safe). The journal is probed every time (one local write); a failed
    login is remembered for CACHE_SECONDS (a held session costs nothing to ask again).

    `client` is the gateway's one client, or (a group gateway) its clients by institution: each
    institution's login is a check of its own, named `province_login <akb020>`."""

    def __init__(self, client: ReadyClient | Mapping[str, ReadyClient],
                 cache_seconds: float = CACHE_SECONDS) -> None:
        named = {"province_login": client} if not isinstance(client, Mapping) else \
            {f"province_login {akb020}": each for akb020, each in client.items()}
        self._clients = named
        self._journal = next(iter(named.values())).journal
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._failed_logins: dict[str, tuple[float, Check]] = {}

    def check(self) -> Readiness:
        logins = tuple(self._login(name, client) for name, client in self._clients.items())
        return Readiness((*logins, journal_writable(self._journal.target)))

    def _login(self, name: str, client: ReadyClient) -> Check:
        with self._lock:
            now = time.monotonic()
            failed = self._failed_logins.get(name)
            if failed is not None and now - failed[0] < self._cache_seconds:
                return failed[1]
            check = province_login(client, name)
            if check.ok:
                self._failed_logins.pop(name, None)
            else:
                self._failed_logins[name] = (now, check)
            return check


def log_start_check(probe: ReadinessProbe) -> Readiness:
    """The one start line: ready, or what fails and what the HIS will get meanwhile."""
    readiness = probe.check()
    if readiness.ready:
        log.info("gateway ready: %s", readiness.summary())
    else:
        log.error("gateway NOT ready (it serves, and answers 503 until fixed): %s", readiness.summary())
    return readiness
