"""Several gateway nodes on one PostgreSQL journal (issue 15): calls/s with 1 and 2 nodes, and how
long the survivors take to settle what a SIGKILLed node left.

Every part is a process of its own on 127.0.0.1: the mock province, a throwaway PostgreSQL cluster
(tests/pg_cluster.py, durable: real fsyncs), and `gdwi gateway serve --node …` per node.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import httpx
import load
import servers
from measure import Spread
from report import Figure
from servers import AKB020, PASSWORD, ROOT, TOKEN, USER, Running, free_port

sys.path.insert(0, str(ROOT / "tests"))

from pg_cluster import Cluster, ClusterUnavailable

from adapter.wire.journal import Status, open_journal

PAIRS = 7
WINDOW_S = 1.0
CALLERS = 8
LOOKUP_BODY = b'{"akb020": "' + AKB020.encode() + b'", "bka895": "aac002", "bka896": "44190019900101001X", ' \
    b'"bka006": "410"}'
DEAD_AFTER_S = 1.0
READ_TIMEOUT_S = 2.0
PROVINCE_DELAY_MS = 1000
UPLOADS_IN_FLIGHT = 3
RECOVERY_RUNS = 5
OPERATOR = {"code": "T001", "name": "测试操作员"}


@dataclass
class Node:
    name: str
    port: int
    process: subprocess.Popen[bytes]


@contextmanager
def _node(name: str, env: dict[str, str]) -> Iterator[Node]:
    port = free_port()
    command = [sys.executable, "-m", "adapter.cli", "gateway", "serve", "--port", str(port), "--node", name,
               "--dead-after", str(DEAD_AFTER_S), "--beat", "0.2", "--recovery-every", "0.2"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"node {name} did not start") from None
                time.sleep(0.05)
        yield Node(name, port, process)
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=15)


def _env(mock: Running, journal: str) -> dict[str, str]:
    return {**os.environ, "GDWI_BASE_URL": mock.url, "GDWI_USERID": USER, "GDWI_PASSWORD": PASSWORD,
            "GDWI_AKB020": AKB020, "GDWI_JOURNAL": journal, "GDWI_GATEWAY_TOKEN": TOKEN,
            "GDWI_READ_TIMEOUT": str(READ_TIMEOUT_S), "GDWI_RETRY_BACKOFF": "0.01", "GDWI_LOG_LEVEL": "warning"}


def figures() -> tuple[list[Figure], list[str]]:
    """Both figures, on one cluster and one mock; none (with the reason) where PostgreSQL cannot
    run here."""
    try:
        cluster = Cluster(durable=True)
    except ClusterUnavailable as exc:
        return [], [f"nodes: not measured: {exc}"]
    try:
        with servers.mock() as mock:
            throughput, throughput_notes = _throughput(mock, cluster.new_schema())
            recovery, recovery_notes = _recovery(mock, cluster)
    finally:
        cluster.stop()
    return [*throughput, *recovery], [*throughput_notes, *recovery_notes]


# --------------------------------------------------------------------------- calls/s, 1 vs 2 nodes


def _calls_per_second(ports: list[int]) -> float:
    """CALLERS connections spread over the nodes' ports for one window; the calls/s of all."""
    request = load.request_bytes("/functions/bizh110001", LOOKUP_BODY, "application/json",
                                 f"Authorization: Bearer {TOKEN}\r\n")
    results: list[load.Load] = []

    def run(port: int, callers: int) -> None:
        results.append(load.run(port, request, b'"return_code":', seconds=WINDOW_S, callers=callers))

    share = CALLERS // len(ports)
    threads = [threading.Thread(target=run, args=(port, share)) for port in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if any(result.errors for result in results):
        raise RuntimeError(f"errors under load: {[result.describe() for result in results]}")
    return sum(result.calls_per_second for result in results)


def _throughput(mock: Running, journal: str) -> tuple[list[Figure], list[str]]:
    env = _env(mock, journal)
    with _node("bench-a", env) as a, _node("bench-b", env) as b:
        one, two, ratios = Spread(), Spread(), Spread()
        _calls_per_second([a.port, b.port])  # warm: sessions, connections, caches
        for index in range(PAIRS):
            order = ((1, 2) if index % 2 == 0 else (2, 1))
            seen = {n: _calls_per_second([a.port] if n == 1 else [a.port, b.port]) for n in order}
            one.values.append(seen[1])
            two.values.append(seen[2])
            ratios.values.append(seen[2] / seen[1])
    baseline = (f"{CALLERS} callers on 2 cores, mock and PostgreSQL on the same machine: 1 node "
                f"{one.median:,.0f} calls/s ({one.low:,.0f}-{one.high:,.0f}), 2 nodes {two.median:,.0f} "
                f"({two.low:,.0f}-{two.high:,.0f})")
    figure = Figure.of("nodes_2_vs_1_calls_per_second", ratios, "x", 0.9, baseline, at_least=True)
    return [figure], [f"nodes: gateway /functions/bizh110001, {baseline}, interleaved {WINDOW_S:.0f} s windows"]


# --------------------------------------------------------------------------- recovery after SIGKILL


def _recovery(mock: Running, cluster: Cluster) -> tuple[list[Figure], list[str]]:
    seconds = Spread()
    lost = duplicated = 0
    for run in range(RECOVERY_RUNS):
        settled_in, run_lost, run_duplicated = _one_recovery(mock, cluster.new_schema(), run)
        seconds.values.append(settled_in)
        lost += run_lost
        duplicated += run_duplicated
    goal = DEAD_AFTER_S + READ_TIMEOUT_S + 2
    baseline = (f"{UPLOADS_IN_FLIGHT} fee uploads at the province ({PROVINCE_DELAY_MS} ms) when the node "
                f"is SIGKILLed; --dead-after {DEAD_AFTER_S:g} s, read_timeout {READ_TIMEOUT_S:g} s "
                f"(recovery waits for the answer window); {RECOVERY_RUNS} runs: lost {lost}, duplicated "
                f"{duplicated}")
    return ([Figure.of("nodes_recovery_after_sigkill", seconds, "s", goal, baseline),
             Figure("nodes_recovery_lost_or_duplicated", lost + duplicated, "entries", 0, baseline)],
            [f"nodes: recovery after SIGKILL {seconds.median:.2f} s ({seconds.low:.2f}-{seconds.high:.2f}), "
             f"{baseline}"])


def _one_recovery(mock: Running, journal: str, run: int) -> tuple[float, int, int]:
    env = _env(mock, journal)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    admin = mock.url + "/admin"
    httpx.post(admin + "/reset").raise_for_status()  # the same persons are admitted in every run
    with _node(f"victim-{run}", env) as victim, _node(f"survivor-{run}", env) as survivor:
        base = f"http://127.0.0.1:{survivor.port}"
        stays = [_admit(base, auth, person) for person in ("1000000002", "1000000006", "1000000007")]
        httpx.post(admin + "/faults", json={
            "kind": "latency", "function_id": "bizh120002", "ms": PROVINCE_DELAY_MS, "times": len(stays)})
        for stay in stays:
            threading.Thread(target=_upload_quietly, args=(victim.port, stay, auth), daemon=True).start()
        with open_journal(journal) as reader:
            in_flight = _pending_of(reader, victim.name, len(stays))
            victim.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            while True:
                entries = [reader.get(entry_id) for entry_id in in_flight]
                if all(e is not None and e.status not in (Status.PENDING, Status.UNKNOWN) for e in entries):
                    break
                if time.monotonic() - killed > 60:
                    return float("nan"), len(in_flight), 0
                time.sleep(0.01)
            settled_in = time.monotonic() - killed
        fees = httpx.get(admin + "/state").json()["stays"]
        rows = [len(fees[stay]["fees"]) for stay in stays]
        committed = {e.aaz218 for e in entries if e is not None and e.status == Status.OK}
        duplicated = sum(max(0, count - 3) for count in rows)
        lost = sum(1 for stay, count in zip(stays, rows, strict=True) if (count == 3) != (stay in committed))
        return settled_in, lost, duplicated


def _admit(base: str, auth: dict[str, str], person: str) -> str:
    stay = {"person_no": person, "admission_date": "2019-05-08",
            "diagnosis": {"icd_code": "S62.501", "name": "掌骨骨折"}, "hospital_stay_no": "ZY20190001",
            "ward": {"code": "W03", "name": "骨科病区"}, "department": {"code": "0301", "name": "骨科"},
            "bed_no": "12", "bed_type": "1", "doctor_code": "D0001"}
    answer = httpx.post(base + "/inpatient/admit", json={"stay": stay, "operator": OPERATOR}, headers=auth,
                        timeout=30)
    if answer.status_code != 200:
        raise RuntimeError(f"admission refused: {answer.text[:300]}")
    return str(answer.json()["visit_no"])


def _upload_quietly(port: int, stay: str, auth: dict[str, str]) -> None:
    fees = [{"item_code": "HY0001", "item_name": "测试血常规", "unit_price": "25.0000", "quantity": "1.00",
             "amount": "25.00", "fee_date": "2019-05-08", "hospital_fee_id": f"{stay[-6:]}{n:02d}",
             "entered_by": OPERATOR} for n in range(3)]
    with suppress(httpx.HTTPError):  # the node dies under this call
        httpx.post(f"http://127.0.0.1:{port}/inpatient/{stay}/fees", json={"fees": fees}, headers=auth,
                   timeout=30)


def _pending_of(reader: object, node: str, count: int) -> list[int]:
    from adapter.wire.journal import Journal

    assert isinstance(reader, Journal)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pending = [e.id for e in reader.list(function_id="bizh120002", status=Status.PENDING) if e.owner_node == node]
        if len(pending) == count:
            return pending
        time.sleep(0.005)
    raise RuntimeError(f"not {count} uploads pending on {node}")
