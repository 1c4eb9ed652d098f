"""The reliability table of docs/reliability.md (issue 11), measured with real processes, sockets and
a real small disk: `python tests/benchmarks/reliability.py [trials]`.

Each scenario runs in a process of its own (its peak RSS is that process's VmHWM) against a real
MockServer on 127.0.0.1, repeats `trials` times and counts, from the province's own books:
lost (a fee row or step the HIS sent and believes done that the province does not hold) and
duplicated (held more than once). Time is the median per trial.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from faulty_net import DroppingProxy, FakeProvince, flood, trickle  # noqa: E402
from real_world import ATTRIBUTE_FLOOD, fill_when_pending, mock_process, peak_rss_kb, tmpfs, wait_pending  # noqa: E402

from adapter.errors import OutcomeUnknownError, UnresolvedEntryError  # noqa: E402
from adapter.his import FeeItem, InpatientService, Operator  # noqa: E402
from adapter.mock.server import MockServer  # noqa: E402
from adapter.ops.recovery import recover  # noqa: E402
from adapter.wire.client import Client  # noqa: E402
from adapter.wire.config import Settings  # noqa: E402
from adapter.wire.journal import Status  # noqa: E402

USERID, PASSWORD, AKB020 = "ss0028", "mock-pass-1", "H44190000001"
ADMISSION = {"aac001": "1000000002", "aka130": "42", "bka006": "420", "bka014": "T001", "bka015": "测试操作员",
             "bka017": "20190508", "bka019": "ZYK01", "bka020": "内科", "bka021": "BQ01", "bka022": "内科病区",
             "bka023": "ZY2019001", "bka025": "12", "bka026": "S62.501"}
OPERATOR = Operator("T001", "测试操作员")
LOOKUP = {"bka895": "aac001", "bka896": "1000000002", "aka130": "42", "bka006": "420"}


def settings(url: str, journal: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {"base_url": url, "userid": USERID, "password": PASSWORD, "akb020": AKB020,
                              "journal_path": str(journal), "retry_backoff": 0.2, **changes}
    return Settings(**values)


def fee_items(count: int) -> list[FeeItem]:
    return [FeeItem(item_code="XY0001", item_name="测试药品甲片", unit_price=Decimal("1.0000"),
                    quantity=Decimal(n + 1), amount=Decimal(n + 1).quantize(Decimal("0.01")),
                    fee_date=date(2019, 5, 8), hospital_fee_id=f"F{n:06d}", entered_by=OPERATOR)
            for n in range(count)]


def wire_rows(count: int) -> list[dict[str, str]]:
    return [{"ake005": "XY0001", "ake006": "测试药品甲片", "bka056": "1.0000", "bka057": f"{n + 1}.00",
             "bka058": f"{n + 1}.00", "bka051": "20190508", "bka063": "T001", "bka064": "测试操作员",
             "bka071": f"F{n:06d}"} for n in range(count)]


def held(mock: MockServer, aaz218: str) -> Counter[str]:
    stay = mock.province.snapshot()["stays"][aaz218]
    return Counter(str(row.get("bka071")) for row in stay["fees"])


def verdict(mock: MockServer, aaz218: str, sent: int) -> tuple[int, int]:
    """(lost, duplicated) fee rows of the stay against the `sent` distinct rows."""
    rows = held(mock, aaz218)
    return sent - len(rows), sum(count - 1 for count in rows.values())


def fresh(mock: MockServer) -> MockServer:
    mock.province.reset()
    mock.faults.clear()
    mock.requests.clear()
    return mock


# --------------------------------------------------------------------------- scenarios: one trial each

CHILD = """
import json, sys
from adapter.wire.client import Client
from adapter.wire.config import Settings
config, aaz218, rows = json.loads(sys.argv[1])
with Client(Settings(**config)) as client:
    client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": rows})
"""


def _child(url: str, journal: Path, aaz218: str, rows: list[dict[str, str]], **changes: Any) -> subprocess.Popen[str]:
    config = {"base_url": url, "userid": USERID, "password": PASSWORD, "akb020": AKB020,
              "journal_path": str(journal), **changes}
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps([config, aaz218, rows])], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)


def sigkill_mid_upload(mock: MockServer, folder: Path, trial: int) -> tuple[int, int]:
    """A HIS process SIGKILLed while its 300-row upload is at the province (before or after the
    province commits, at random); `recover` runs at once, then the HIS resends if told to."""
    journal = folder / f"kill-{trial}.sqlite"
    with Client(settings(mock.url, journal)) as his:
        aaz218 = str(his.call_wire("bizh120103", ADMISSION)["aaz218"])
        mock.faults.add("latency", function_id="bizh120002", times=1, ms=300)
        rows = wire_rows(300)
        # read_timeout 2 s: recovery waits out this answer window before "not committed".
        child = _child(mock.url, journal, aaz218, rows, read_timeout=2.0)
        wait_pending(journal, "bizh120002")
        # The mock commits as the request arrives and answers 0.3 s later: the kill lands before
        # the request arrived, after the commit, or after the answer.
        time.sleep(random.uniform(0, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait()
        results = [r for r in recover(his) if r.function_id == "bizh120002"]
        entry = his.journal.list(function_id="bizh120002")[0]
        if not results:  # the kill came after the child had its answer: nothing to recover
            assert entry.status == Status.OK, entry
        else:
            assert len(results) == 1 and results[0].before == Status.PENDING, results
            if results[0].after == Status.FAILED:
                his.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": rows})
    return verdict(mock, aaz218, 300)


def full_disk_after_send(mock: MockServer, folder: Path, trial: int) -> tuple[int, int]:
    """The journal's 2 MB tmpfs is filled while the 300-row upload is at the province."""
    del folder
    with tmpfs("2m") as small:
        journal = small / "journal.sqlite"
        with Client(settings(mock.url, journal)) as his:
            aaz218 = str(his.call_wire("bizh120103", ADMISSION)["aaz218"])
            rows = wire_rows(300)
            mock.faults.add("latency", function_id="bizh120002", times=1, ms=300)
            filling = fill_when_pending(journal, "bizh120002", small)
            with contextlib.suppress(OutcomeUnknownError):
                his.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": rows})
            filling.join()
            # The HIS resends at once: refused while the entry is unresolved (UnresolvedEntryError).
            with contextlib.suppress(UnresolvedEntryError):
                his.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": rows})
            (small / "filler").unlink()
            for result in recover(his):
                if result.function_id == "bizh120002" and result.after == Status.FAILED:
                    his.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": rows})
    return verdict(mock, aaz218, 300)


def refused_connection_mid_upload(mock: MockServer, folder: Path, trial: int) -> tuple[int, int]:
    """3,000 rows in 10 chunks; after chunk 5 the proxy refuses connections for 0.3 s."""
    port = urlsplit(mock.url).port
    assert port is not None
    with DroppingProxy(port) as proxy, Client(settings(proxy.url, folder / f"blip-{trial}.sqlite")) as his:
        aaz218 = str(his.call_wire("bizh120103", ADMISSION)["aaz218"])

        def blip(done: int, total: int) -> None:
            if done == 1500:
                proxy.refuse_for(0.3)

        InpatientService(his).upload_fees(aaz218, fee_items(3000), progress=blip)
    assert not [r for r in mock.requests.records() if r.function_id == "bizh120004"], "compensated"
    return verdict(mock, aaz218, 3000)


def swallowed_chunk_then_resume(mock: MockServer, folder: Path, trial: int) -> tuple[int, int]:
    """Chunk 6 of 10 is read by the proxy and dropped; recover, then the same list again."""
    port = urlsplit(mock.url).port
    assert port is not None
    # read_timeout 2 s: recovery waits out this answer window before "not committed".
    with DroppingProxy(port) as proxy, \
            Client(settings(proxy.url, folder / f"drop-{trial}.sqlite", read_timeout=2.0)) as his:
        aaz218 = str(his.call_wire("bizh120103", ADMISSION)["aaz218"])
        service, items = InpatientService(his), fee_items(3000)

        def drop(done: int, total: int) -> None:
            if done == 1500:
                proxy.swallow_next()

        with contextlib.suppress(OutcomeUnknownError):
            service.upload_fees(aaz218, items, progress=drop)
        recover(his)
        service.upload_fees(aaz218, items)
    return verdict(mock, aaz218, 3000)


def recover_beside_a_live_call(mock: MockServer, folder: Path, trial: int) -> tuple[int, int]:
    """`recover` (with --stale-after 0) runs while another process's upload waits 1.5 s on a slow
    province: it must leave the live entry alone; the live call then finishes ok."""
    journal = folder / f"live-{trial}.sqlite"
    with Client(settings(mock.url, journal)) as his:
        aaz218 = str(his.call_wire("bizh120103", ADMISSION)["aaz218"])
        mock.faults.add("latency", function_id="bizh120002", times=1, ms=1500)
        rows = wire_rows(300)
        child = _child(mock.url, journal, aaz218, rows, read_timeout=10)
        wait_pending(journal, "bizh120002")
        from datetime import timedelta
        touched = [r for r in recover(his, stale_pending_after=timedelta(0)) if r.function_id == "bizh120002"]
        assert touched == [], touched
        assert child.wait(timeout=30) == 0
        entry = his.journal.list(function_id="bizh120002")[0]
        assert entry.status == Status.OK, entry
    return verdict(mock, aaz218, 300)


def trickling_province(folder: Path, trial: int) -> float:
    """A province answering 1 byte every 0.2 s; read timeout 1 s, call deadline 2 s (a query,
    retried within the deadline). Returns how long the call took."""
    with FakeProvince(trickle(0.2)) as province, \
            Client(settings(province.url, folder / f"trickle-{trial}.sqlite", read_timeout=1.0,
                            call_deadline=2.0)) as client:
        started = time.monotonic()
        with contextlib.suppress(OutcomeUnknownError):
            client.call_wire("bizh120001", LOOKUP)
        return time.monotonic() - started


def oversized_answer(folder: Path, trial: int) -> float:
    """A 500 MB answer against the default 10 MB limit. Returns the journal's growth in MB."""
    journal = folder / f"big-{trial}.sqlite"
    with FakeProvince(flood(500 * 1024 * 1024)) as province, \
            Client(settings(province.url, journal, query_retries=2)) as client:
        client.session.get()
        before = _size(journal)
        with contextlib.suppress(OutcomeUnknownError):
            client.call_wire("bizh120001", LOOKUP)
        return (_size(journal) - before) / 1e6


def attribute_flood(folder: Path, trial: int) -> float:
    """4.6 MB request with 300,000 attributes to a mock in a process of its own. Returns how much
    the mock's peak RSS grew, in MB."""
    del folder, trial
    import httpx
    with mock_process() as mock:
        before = peak_rss_kb(mock.process.pid)
        answer = httpx.post(mock.url, content=ATTRIBUTE_FLOOD, timeout=30)
        assert "<return_code>-1</return_code>" in answer.text
        return (peak_rss_kb(mock.process.pid) - before) / 1024


def _size(journal: Path) -> int:
    return sum(p.stat().st_size for p in journal.parent.glob(journal.name + "*"))


# --------------------------------------------------------------------------- the harness


def run_scenario(name: str, trials: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="gdwi-rel-"))
    times: list[float] = []
    lost = duplicated = 0
    extra: list[float] = []
    if name in MOCKED:
        with MockServer() as mock:
            for trial in range(trials):
                started = time.monotonic()
                trial_lost, trial_dup = MOCKED[name](fresh(mock), folder, trial)
                times.append(time.monotonic() - started)
                lost += trial_lost
                duplicated += trial_dup
    else:
        for trial in range(trials):
            started = time.monotonic()
            extra.append(BARE[name](folder, trial))
            times.append(time.monotonic() - started)
    return {"name": name, "trials": trials, "lost": lost, "duplicated": duplicated,
            "seconds": statistics.median(times), "extra": statistics.median(extra) if extra else None,
            "peak_mb": _peak_mb()}


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


MOCKED: dict[str, Callable[[MockServer, Path, int], tuple[int, int]]] = {
    "sigkill_mid_upload": sigkill_mid_upload,
    "full_disk_after_send": full_disk_after_send,
    "refused_connection_mid_upload": refused_connection_mid_upload,
    "swallowed_chunk_then_resume": swallowed_chunk_then_resume,
    "recover_beside_a_live_call": recover_beside_a_live_call,
}
BARE: dict[str, Callable[[Path, int], float]] = {
    "trickling_province": trickling_province,
    "oversized_answer": oversized_answer,
    "attribute_flood": attribute_flood,
}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--scenario":
        print(json.dumps(run_scenario(sys.argv[2], int(sys.argv[3]))))
        return
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    for name in (*MOCKED, *BARE):
        if name == "full_disk_after_send" and os.geteuid() != 0:
            print(f"| {name} | skipped: mounting a tmpfs needs root |")
            continue
        done = subprocess.run([sys.executable, __file__, "--scenario", name, str(trials)], cwd=ROOT,
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"| {name} | FAILED: {done.stderr.strip().splitlines()[-1:]} |")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        extra = "" if row["extra"] is None else f" | {row['extra']:.2f}"
        print(f"| {row['name']} | {row['trials']} | {row['lost']} | {row['duplicated']} | "
              f"{row['peak_mb']:.0f} MB | {row['seconds']:.2f} s{extra} |", flush=True)


if __name__ == "__main__":
    main()
