"""Recovery on every gateway node (issue 15): heart-beats, leases, and settling what a dead node left.

Each node of a group (several `gdwi gateway serve` on one PostgreSQL journal) runs a NodeWorker:

- a heart-beat thread writes the node's beat every `beat` seconds (Journal.heartbeat), on its own,
  so a node busy settling a slow entry never looks dead;
- a recovery thread, every `every` seconds, claims with a lease (Journal.claim_orphans: rows locked
  `FOR UPDATE SKIP LOCKED`) the entries of nodes whose beat is older than `dead_after`, and this
  node's own unknown outcomes, then settles each by asking the province through the client of
  the entry's institution (adapter.ops.recovery.settle). An entry goes to one claimer per lease,
  and `resolve` records an outcome only over `unknown`, so an entry is settled exactly once even
  when a lease runs out while its claimer still works on it.

The lease must outlast one settlement, answer window included (recovery may wait for the
sender's read timeout before it concludes "not committed"): `lease_for` derives it from the
clients' read timeouts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from adapter.ops.recovery import RecoveryResult, settle
from adapter.wire.client import Client
from adapter.wire.journal import Entry, Journal, Status

__all__ = ["NodeTiming", "NodeWorker", "lease_for"]

log = logging.getLogger("gdwi.nodes")


@dataclass(frozen=True)
class NodeTiming:
    """How often a node beats and looks for work, and when a silent node counts as dead."""

    beat: float = 2.0
    every: float = 5.0
    dead_after: float = 15.0
    lease: float = 600.0


def lease_for(clients: Mapping[str, Client], margin: float = 120.0) -> float:
    """A lease long enough for one settlement: the longest answer window, plus the queries."""
    return max(client.settings.read_timeout for client in clients.values()) + margin


@dataclass
class NodeWorker:
    """The heart-beat and recovery threads of one node. `clients` by institution (akb020)."""

    journal: Journal
    clients: Mapping[str, Client]
    timing: NodeTiming = NodeTiming()
    on_result: Callable[[RecoveryResult], None] | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def node(self) -> str:
        return self.journal.node

    def start(self) -> NodeWorker:
        self._say_alive()  # alive from the start, before any entry of ours is written
        for name, loop in (("beat", self._beat), ("recovery", self._recover)):
            thread = threading.Thread(target=loop, name=f"gdwi-node-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("node %s: heart-beat every %.1f s, recovery every %.1f s (dead after %.0f s)",
                 self.node, self.timing.beat, self.timing.every, self.timing.dead_after)
        return self

    def stop(self) -> None:
        """Stop both threads, then say goodbye: `gdwi journal nodes` shows the node as stopped, not
        dead (its leftover entries are still claimed by the others once its beat is old)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        try:
            self.journal.goodbye()
        except Exception as exc:  # the database is away: the node just looks dead, as after a crash
            log.error("node %s: goodbye not recorded: %s", self.node, type(exc).__name__)

    def _say_alive(self) -> None:
        self.journal.heartbeat(dead_after=self.timing.dead_after)

    def __enter__(self) -> NodeWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_once(self) -> list[RecoveryResult]:
        """One recovery round: claim, then settle each claimed entry."""
        claimed = self.journal.claim_orphans(lease=timedelta(seconds=self.timing.lease),
                                             dead_after=timedelta(seconds=self.timing.dead_after))
        return [result for entry in claimed if (result := self._settle(entry)) is not None]

    def _settle(self, entry: Entry) -> RecoveryResult | None:
        client = self.clients.get(entry.institution or "")
        if client is None:  # an institution this node does not serve: leave it to one that does
            self.journal.release_lease(entry.id)
            return None
        result = settle(client, entry, Status.UNKNOWN)
        log.info("node %s settled entry %s (%s): %s -> %s", self.node, entry.id, entry.function_id,
                 result.before, result.after)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _beat(self) -> None:
        while not self._stop.wait(self.timing.beat):
            try:
                self._say_alive()
            except Exception as exc:  # the database is away: keep trying, say so
                log.error("node %s: heart-beat failed: %s", self.node, type(exc).__name__)

    def _recover(self) -> None:
        while not self._stop.wait(self.timing.every):
            started = time.monotonic()
            try:
                results = self.run_once()
            except Exception as exc:  # the next round tries again; an entry stays unknown meanwhile
                log.error("node %s: recovery round failed: %s: %s", self.node, type(exc).__name__, exc)
                continue
            if results:
                log.info("node %s: %d entr%s settled in %.1f s", self.node, len(results),
                         "y" if len(results) == 1 else "ies", time.monotonic() - started)
