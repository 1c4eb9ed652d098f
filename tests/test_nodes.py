"""Several gateway nodes on one PostgreSQL journal (issue 15), every part a real process.

The mock province runs in a process of its own (`gdwi mock serve`), each gateway node is a
`gdwi gateway serve --node …` process on the same PostgreSQL journal (the throwaway cluster of
tests/pg_cluster.py), and the HIS callers are threads speaking HTTP to the nodes. Everything is
counted where it happened: logins and settlements from the mock's own request log, fee rows from
its books, entry outcomes from the journal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from real_world import ROOT, MockProcess, free_port, mock_process
from seed_login import AKB020, OTHER_AKB020, OTHER_PASSWORD, OTHER_USERID, PASSWORD, USERID

from adapter.wire.journal import Status, open_journal
from tests.test_gateway import A_DISCHARGE, OPERATOR, a_stay, fee

TOKENS = {AKB020: "node-test-token-A-0123456789abcdef", OTHER_AKB020: "node-test-token-B-fedcba9876543210"}
# Fast enough for a test of a few seconds: a node silent for 1 s is dead.
NODE_TIMING = ("--dead-after", "1", "--beat", "0.2", "--recovery-every", "0.2")


@dataclass
class Node:
    name: str
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def his(self, akb020: str = AKB020) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {TOKENS[akb020]}"}, timeout=30)


@dataclass
class Group:
    mock: MockProcess
    journal: str
    config: Path
    env: dict[str, str]

    @contextmanager
    def nodes(self, *names: str) -> Iterator[list[Node]]:
        """`gdwi gateway serve --node NAME` per name, started together; stopped afterwards."""
        started: list[Node] = []
        try:
            for name in names:
                port = free_port()
                command = [sys.executable, "-m", "adapter.cli", "--config", str(self.config), "gateway", "serve",
                           "--port", str(port), "--node", name, *NODE_TIMING]
                process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.PIPE, text=True)
                started.append(Node(name, process, port))
            for node in started:
                _wait_until_up(node)
            yield started
        finally:
            for node in started:
                if node.process.poll() is None:
                    node.process.terminate()
            for node in started:
                node.process.wait(timeout=10)
                if node.process.stderr is not None:
                    node.process.stderr.close()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        answer = httpx.request(method, self.mock.base + path, json=body, timeout=10)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def logins(self) -> Counter[str]:
        """Successful sys0001 calls per institution, from the mock's own books: each login opens a
        session there (sessions end only by the admin expiry, which these tests do not use)."""
        sessions = self.admin("GET", "/admin/state")["sessions"]
        return Counter(session["akb020"] for session in sessions.values())

    def requests(self, function_id: str) -> list[dict[str, Any]]:
        return list(self.admin("GET", f"/admin/requests?function_id={function_id}")["requests"])

    def fee_ids(self, stay: str) -> Counter[str]:
        fees = self.admin("GET", "/admin/state")["stays"][stay]["fees"]
        return Counter(str(row.get("bka071")) for row in fees)


def _wait_until_up(node: Node, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.process.poll() is not None:
            error = node.process.stderr.read() if node.process.stderr else ""
            raise AssertionError(f"node {node.name} exited {node.process.returncode}: {error[-2000:]}")
        try:
            if httpx.get(node.url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"node {node.name} did not start")


@pytest.fixture
def group(pg_url: str, tmp_path: Path) -> Iterator[Group]:
    with mock_process() as mock:
        config = tmp_path / "gdwi.toml"
        config.write_text(f"""
base_url = "{mock.base}"
journal = "{pg_url}"
read_timeout = 2
retry_backoff = 0.01

[institutions.{AKB020}]
userid = "{USERID}"

[institutions.{OTHER_AKB020}]
userid = "{OTHER_USERID}"
""", encoding="utf-8")
        env = {**os.environ, f"GDWI_{AKB020}_PASSWORD": PASSWORD, f"GDWI_{OTHER_AKB020}_PASSWORD": OTHER_PASSWORD,
               **{f"GDWI_{code}_GATEWAY_TOKEN": token for code, token in TOKENS.items()}}
        env.pop("GDWI_CONFIG", None)
        yield Group(mock, pg_url, config, env)


def admit(his: httpx.Client, person_no: str) -> str:
    answer = his.post("/inpatient/admit", json={"stay": a_stay(person_no), "operator": OPERATOR})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["visit_no"])


def chunk(stay: str, number: int, rows: int = 3) -> list[dict[str, Any]]:
    """Fee lines with ids unique per stay and chunk (the mock's books count them by bka071)."""
    return [fee(index, hospital_fee_id=f"{stay[-6:]}{number:02d}{index:02d}") for index in range(rows)]


def until_done(his: httpx.Client, path: str, body: Any, key: str, deadline: float) -> httpx.Response:
    """One HIS step sent until it has an answer that is not "wait": 409 in progress / unresolved."""
    while True:
        answer = his.post(path, json=body, headers={"Idempotency-Key": key})
        waiting = answer.status_code == 409 and answer.json().get("error") in (
            "idempotency_in_progress", "unresolved_entry")
        if not waiting or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


# --------------------------------------------------------------------------- the tests


def test_two_nodes_eight_callers_same_stays_every_fee_row_once_one_settlement(group: Group) -> None:
    chunks = 3
    with group.nodes("a", "b") as (a, b), ExitStack() as stack:
        his = [stack.enter_context((a if n % 2 == 0 else b).his()) for n in range(8)]
        stays = [admit(his[0], "1000000002"), admit(his[1], "1000000006")]
        failures: list[str] = []
        start = threading.Barrier(len(his))

        def caller(client: httpx.Client) -> None:
            start.wait()
            deadline = time.monotonic() + 60
            for stay in stays:
                steps: list[tuple[str, dict[str, Any], str]] = [
                (f"/inpatient/{stay}/fees", {"fees": chunk(stay, n)}, f"{stay}-fees-{n}") for n in range(chunks)]
                steps += [(f"/inpatient/{stay}/discharge", {"discharge": A_DISCHARGE, "operator": OPERATOR},
                           f"{stay}-discharge"),
                          (f"/inpatient/{stay}/settle", {"operator": OPERATOR}, f"{stay}-settle")]
                for path, body, key in steps:
                    answer = until_done(client, path, body, key, deadline)
                    if answer.status_code != 200:
                        failures.append(f"{path} {key}: {answer.status_code} {answer.text[:200]}")

        threads = [threading.Thread(target=caller, args=(client,)) for client in his]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        # The other institution's token, on either node, finds none of these stays.
        for node in (a, b):
            with node.his(OTHER_AKB020) as other:
                for stay in stays:
                    refused = other.get(f"/inpatient/{stay}/settlement")
                    assert refused.status_code == 404 and refused.json()["error"] == "not_found"
    assert failures == []
    for stay in stays:
        ids = group.fee_ids(stay)
        assert len(ids) == chunks * 3 and set(ids.values()) == {1}, ids  # every row, each once
    settled = [r for r in group.requests("bizh120106") if r["return_code"] == "1"]
    assert Counter(r["aaz218"] for r in settled) == dict.fromkeys(stays, 1)
    with open_journal(group.journal) as journal:
        uploads = journal.list(function_id="bizh120002", status=Status.OK, limit=1000)
        assert Counter(e.aaz218 for e in uploads) == dict.fromkeys(stays, chunks)
        assert journal.list(status=Status.PENDING) == [] and journal.list(status=Status.UNKNOWN) == []
        assert journal.list(institution=OTHER_AKB020, function_id="bizh120002") == []
    assert group.logins() == {AKB020: 1, OTHER_AKB020: 1}  # one per institution (the start check too)


def test_a_node_killed_mid_upload_is_settled_by_the_other_exactly_once(group: Group) -> None:
    with group.nodes("a", "b") as (a, b), b.his() as his_b:
        stays = [admit(his_b, person) for person in ("1000000002", "1000000006", "1000000007")]
        # The province takes 1.5 s over each upload: node A dies while they are at the province.
        group.admin("POST", "/admin/faults", {"kind": "latency", "function_id": "bizh120002", "ms": 1500,
                                               "times": len(stays)})
        for stay in stays:
            threading.Thread(target=_post_quietly, args=(a.url, stay), daemon=True).start()
        in_flight = _wait_for_pending(group.journal, "a", len(stays))
        a.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        settled = _wait_settled(group.journal, in_flight, timeout=30)
        recovery_s = time.monotonic() - killed
        with open_journal(group.journal) as journal:
            entries = [journal.get(entry_id) for entry_id in in_flight]
        assert all(e is not None and e.status in (Status.OK, Status.FAILED) for e in entries)  # 0 lost
        assert {e.lease_node for e in entries if e is not None} == {"b"}
        # Resend only what was not committed (what recovery marked failed), through node B.
        for entry in entries:
            assert entry is not None and entry.aaz218 is not None
            if entry.status == Status.FAILED:
                answer = his_b.post(f"/inpatient/{entry.aaz218}/fees", json={"fees": chunk(entry.aaz218, 0)})
                assert answer.status_code == 200, answer.text
        for stay in stays:
            ids = group.fee_ids(stay)
            assert len(ids) == 3 and set(ids.values()) == {1}, ids  # 0 duplicated
        assert _node_states(group.journal) == {"a": "dead", "b": "alive"}  # a: silent past its 1 s
    # b was stopped with SIGTERM when the block ended: it said goodbye; a never could
    assert _node_states(group.journal) == {"a": "dead", "b": "stopped"}
    print(f"\nrecovery after SIGKILL: {len(settled)} entries settled in {recovery_s:.2f} s")


def _node_states(journal_url: str) -> dict[str, str]:
    """What `gdwi journal nodes --json` says of each node."""
    import json

    from typer.testing import CliRunner

    from adapter.cli import app as cli_app

    shown = CliRunner().invoke(cli_app, ["journal", "nodes", "--db", journal_url, "--json"])
    assert shown.exit_code == 0, shown.output
    return {node["node"]: node["state"] for node in json.loads(shown.output)["nodes"]}


def _post_quietly(url: str, stay: str) -> None:
    # The node is killed under this call: the HIS sees a broken connection.
    with suppress(httpx.HTTPError):
        httpx.post(url + f"/inpatient/{stay}/fees", json={"fees": chunk(stay, 0)},
                   headers={"Authorization": f"Bearer {TOKENS[AKB020]}"}, timeout=30)


def _wait_for_pending(journal_url: str, node: str, count: int, timeout: float = 20) -> list[int]:
    deadline = time.monotonic() + timeout
    with open_journal(journal_url) as journal:
        while time.monotonic() < deadline:
            pending = [e.id for e in journal.list(function_id="bizh120002", status=Status.PENDING)
                       if e.owner_node == node]
            if len(pending) == count:
                return pending
            time.sleep(0.01)
    raise AssertionError(f"not {count} uploads pending on node {node}")


def _wait_settled(journal_url: str, ids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    with open_journal(journal_url) as journal:
        while time.monotonic() < deadline:
            entries = [journal.get(entry_id) for entry_id in ids]
            if all(e is not None and e.status not in (Status.PENDING, Status.UNKNOWN) for e in entries):
                return ids
            time.sleep(0.02)
    raise AssertionError("the dead node's entries were not settled in time")


def test_one_login_per_institution_across_nodes_also_after_a_forced_minus_nine(group: Group) -> None:
    with group.nodes("a", "b") as (a, b), ExitStack() as stack:
        clients = [stack.enter_context(node.his(code)) for node in (a, b) for code in TOKENS for _ in range(2)]
        lookup = {"patient": {"id_kind": "person_no", "id_value": "1000000002"}}

        def ask_all() -> None:
            start = threading.Barrier(len(clients))
            answers: list[int] = []

            def ask(client: httpx.Client) -> None:
                start.wait()
                answers.append(client.post("/inpatient/lookup", json=lookup).status_code)

            threads = [threading.Thread(target=ask, args=(client,)) for client in clients]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
            assert answers == [200] * len(clients)

        ask_all()
        assert group.logins() == {AKB020: 1, OTHER_AKB020: 1}
        assert len(group.requests("sys0001")) == 2
        # A forced -9 (fault injection) for one call: that node logs in again, the others keep going.
        group.admin("POST", "/admin/faults", {"kind": "session_expired", "function_id": "bizh120001", "times": 1})
        ask_all()
        assert [r["return_code"] for r in group.requests("bizh120001")].count("-9") == 1
        assert len(group.requests("sys0001")) == 3
        # Every session ends at the province (as at midnight): every node gets -9 on its next call,
        # and exactly one node per institution logs in again while the others wait and reuse it.
        group.admin("POST", "/admin/sessions/expire")
        ask_all()
        assert group.logins() == {AKB020: 1, OTHER_AKB020: 1}  # the sessions opened since the expiry
        assert len(group.requests("sys0001")) == 5
