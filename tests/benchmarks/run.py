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
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = 5


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    goal: float
    baseline_name: str
    baseline: float

    @property
    def passed(self) -> bool:
        return self.value <= self.goal

    def line(self) -> str:
        ratio = self.value / self.baseline if self.baseline else float("nan")
        verdict = "PASS" if self.passed else "MISS"
        return (
            f"bench {self.name}: {self.value:.3g} {self.unit} (goal <= {self.goal:g}) {verdict}"
            f"  [{ratio:.1f}x {self.baseline_name} = {self.baseline:.3g} {self.unit}]"
        )


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
    return [
        Figure("generate", generate, "s", 15, "python startup", python_start),
        Figure("import_generated", generated_import, "ms", 300, "import pydantic", pydantic_import),
        Figure("import_all_30_models", models_import, "ms", 1000, "import pydantic", pydantic_import),
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
