"""Journal write latency, PostgreSQL vs SQLite: one state-changing entry written ahead (durable
commit, the guard's check) and its outcome recorded, the two journals taking turns.

PostgreSQL is a throwaway cluster of tests/pg_cluster.py with fsync on (a real commit), over TCP
on 127.0.0.1; SQLite is a file on the same disk. Without PostgreSQL binaries the figure says so.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from measure import interleave
from pg_cluster import Cluster, ClusterUnavailable
from report import Figure

from adapter.wire.journal import Journal, Status, open_journal

GOAL = 3.0  # PostgreSQL may cost up to 3x SQLite's write; both stay far below a province call
REQUEST = "<program><function_id>bizh120002</function_id><aaz218>{}</aaz218>{}</program>"
ROWS = "".join(f"<row><ake005>X{i:04d}</ake005><bka058>{i}.50</bka058></row>" for i in range(20))


def _writer(journal: Journal) -> Callable[[], None]:
    serials = itertools.count()

    def write() -> None:
        aaz218 = f"4419{next(serials):016d}"
        entry = journal.begin("bizh120002", "state_changing", REQUEST.format(aaz218, ROWS), aaz218=aaz218,
                              akb020="H44190000001", exclusive=True)
        journal.finish(entry, Status.OK, response_xml="<program><return_code>1</return_code></program>",
                       return_code="1")
    return write


def figures(scratch: Path) -> tuple[list[Figure], list[str]]:
    try:
        cluster = Cluster(durable=True)
    except ClusterUnavailable as exc:
        nan = Figure("journal_write_postgresql_vs_sqlite", float("nan"), "x", GOAL, f"not measured: {exc}")
        return [nan], []
    try:
        with open_journal(cluster.url()) as pg, open_journal(scratch / "backends.sqlite") as lite:
            paired = interleave(_writer(pg), _writer(lite), pairs=7, batch=40, warm=10)
    finally:
        cluster.stop()
    baseline = (f"begin (durable, guarded) + finish: PostgreSQL median {paired.a_median:.2f} ms, "
                f"SQLite median {paired.b_median:.2f} ms")
    return [Figure.ratio("journal_write_postgresql_vs_sqlite", paired, GOAL, baseline)], []


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        for figure in figures(Path(folder))[0]:
            print(figure.line())
