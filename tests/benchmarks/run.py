"""make bench: one line per figure, `bench <name>: <value> <unit> (goal <goal>) PASS|MISS`.

Each figure is the median of several runs, shown next to a baseline measured in the
same run (this machine is shared and noisy), and written to docs/benchmarks.md.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
RUNS = 5


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    goal: float
    baseline_name: str
    baseline: float
    baseline_unit: str = ""
    at_least: bool = False  # the goal is a floor (throughput), not a ceiling

    @property
    def passed(self) -> bool:
        return self.value >= self.goal if self.at_least else self.value <= self.goal

    def line(self) -> str:
        verdict = "PASS" if self.passed else "MISS"
        sign = ">=" if self.at_least else "<="
        head = f"bench {self.name}: {self.value:.3g} {self.unit} (goal {sign} {self.goal:g}) {verdict}"
        if self.unit == "x":  # the figure is itself a ratio to its baseline
            return f"{head}  [baseline: {self.baseline_name} = {self.baseline:.3g} {self.baseline_unit}]"
        ratio = self.value / self.baseline if self.baseline else float("nan")
        return f"{head}  [{ratio:.1f}x {self.baseline_name} = {self.baseline:.3g} {self.unit}]"


def _wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - started


def _median_wall(command: list[str]) -> float:
    return statistics.median(_wall(command) for _ in range(RUNS))


def _import_ms(statement: str) -> float:
    """Wall time (ms) of running `statement` in a fresh interpreter, imports included."""
    timed = (
        "import time\n_t = time.perf_counter()\n"
        f"{statement}\n"
        "print((time.perf_counter() - _t) * 1000)"
    )
    result = subprocess.run(
        [sys.executable, "-c", timed], check=True, cwd=ROOT, capture_output=True, text=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def _median_import(statement: str) -> float:
    return statistics.median(_import_ms(statement) for _ in range(RUNS))


def _fee_message(rows: int) -> dict[str, object]:
    row = {
        "ake005": "X0001", "ake006": "测试药品&<甲>", "bka056": "3.1250", "bka057": "2.00",
        "bka058": "6.25", "bka051": "20190508", "bka063": "T001", "bka064": "测试操作员",
    }
    return {"akb020": "H44190000001", "aaz218": "44190000012019000002", "feeinfo": [row] * rows}


def _codec_figures() -> list[Figure]:
    """300-row fee message: encode + decode + validate vs a bare lxml parse + serialize."""
    from lxml import etree

    from adapter.wire.codec import decode, encode, make_parser
    from adapter.wire.validation import validate_message

    wire = _fee_message(300)
    body = encode("bizh120002", "request", wire, session_id="00000000-0000-0000-0000-000000000001")
    parser = make_parser()

    def codec_round() -> None:
        encoded = encode("bizh120002", "request", wire, session_id="s")
        decoded = decode(encoded, "bizh120002", "request")
        validate_message("bizh120002", "request", decoded.values)

    def bare_round() -> None:
        etree.tostring(etree.fromstring(body, parser))

    codec_times = _timings(codec_round, 300)
    bare_times = _timings(bare_round, 300)
    codec_median, bare_median = statistics.median(codec_times), statistics.median(bare_times)
    p99 = sorted(codec_times)[int(len(codec_times) * 0.99) - 1]
    return [
        Figure("codec_300_rows_ratio", codec_median / bare_median, "x", 3,
               "bare lxml parse + serialize, median", bare_median, "ms"),
        Figure("codec_300_rows_p99", p99, "ms", 5, "bare lxml parse + serialize, median", bare_median),
    ]


def _timings(action: Callable[[], None], rounds: int) -> list[float]:
    for _ in range(10):  # warm caches before measuring
        action()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _wire_figures() -> list[Figure]:
    """Against the mock province on 127.0.0.1 (tests/benchmarks/wire.py)."""
    import wire

    client_ms, raw_ms = wire.client_overhead()
    throughput = wire.mock_throughput()
    result = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "wire.py"), "upload", "10000"],
        check=True, cwd=ROOT, capture_output=True, text=True,
    )
    seconds, peak_mb = (float(part) for part in result.stdout.split())
    python_rss = _python_rss_mb()
    return [
        Figure("client_call_overhead", client_ms / raw_ms, "x", 1.3,
               "raw httpx POST of prebuilt bytes, median", raw_ms, "ms"),
        Figure("mock_throughput_bizh110001", throughput, "calls/s", 1500,
               "one raw keep-alive round trip, calls/s", 1000 / raw_ms, at_least=True),
        Figure("upload_10000_rows", seconds, "s", 3, "one raw round trip", raw_ms / 1000),
        Figure("upload_10000_rows_peak_rss", peak_mb, "MB", 200, "bare python peak RSS", python_rss),
    ]


def _python_rss_mb() -> float:
    # VmHWM: the child's own peak (ru_maxrss would carry this process's peak across exec).
    code = ("print(next(int(l.split()[1]) / 1024 for l in open('/proc/self/status') "
            "if l.startswith('VmHWM:')))")
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(result.stdout)


def figures() -> list[Figure]:
    python_start = _median_wall([sys.executable, "-c", "pass"])
    with tempfile.TemporaryDirectory() as scratch:
        generate = _median_wall([sys.executable, "-m", "codegen", "generate", "--out", scratch])
    pydantic_import = _median_import("import pydantic; pydantic.BaseModel")
    public = "import generated.registry, generated.client"
    generated_import = _median_import(public)
    all_models = (
        "import generated.registry as r\nfor f in r.FUNCTIONS: r.models_for(f)"
    )
    models_import = _median_import(all_models)
    adapter_import = _median_import("import adapter")
    return [
        Figure("generate", generate, "s", 15, "python startup", python_start),
        Figure("import_adapter", adapter_import, "ms", 300, "import pydantic", pydantic_import),
        Figure("import_generated", generated_import, "ms", 300, "import pydantic", pydantic_import),
        Figure("import_all_30_models", models_import, "ms", 1000, "import pydantic", pydantic_import),
        *_codec_figures(),
        *_wire_figures(),
    ]


def main() -> int:
    results = figures()
    lines = [figure.line() for figure in results]
    print("\n".join(lines))
    report = ROOT / "docs" / "benchmarks.md"
    report.write_text(
        "# Benchmarks\n\nWritten by `make bench` (median of "
        f"{RUNS} runs; the bracket is a baseline measured in the same run).\n\n```\n"
        + "\n".join(lines)
        + "\n```\n",
        encoding="utf-8",
    )
    return 0 if all(figure.passed for figure in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
