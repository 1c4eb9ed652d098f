"""make bench: one line per figure, `bench <name>: <value> <unit> (goal <goal>) PASS|MISS`.

Every ratio is measured interleaved (A, B, A, B...) and reported as the median of its pair
ratios with their min-max; servers under test run in their own processes on 127.0.0.1. The
lines, the machine and the spread go to docs/benchmarks.md. `BENCH_SUITE=1 make bench` also
times `make test`; otherwise the last timed `make test` on this checkout is reported.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import journal_backends  # noqa: E402
import journal_scale  # noqa: E402
import nodes  # noqa: E402
import proxy  # noqa: E402
import servers  # noqa: E402
import wire  # noqa: E402
from measure import Spread, interleave  # noqa: E402
from report import Figure  # noqa: E402

# Bench modules with their own `figures(scratch) -> (figures, notes)`, run after the wire figures,
# in this order: a new module is one line here.
MODULES = [journal_scale, journal_backends, proxy]
RUNS = 5
# What `gdwi call` cannot start without: importing these alone is its floor (README: dependencies).
CALL_LIBRARIES = "import httpx, pydantic, pydantic_settings, typer, lxml.etree, sqlite3"
SUITE_TIMING = ROOT / ".venv" / "last-make-test"  # written by `make test`


def _wall_ms(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True, env=env)
    return (time.perf_counter() - started) * 1000


def _import_ms(statement: str) -> float:
    """Wall time (ms) of running `statement` in a fresh interpreter, imports included."""
    timed = f"import time\n_t = time.perf_counter()\n{statement}\nprint((time.perf_counter() - _t) * 1000)"
    result = subprocess.run([sys.executable, "-c", timed], check=True, cwd=ROOT, capture_output=True, text=True)
    return float(result.stdout.strip().splitlines()[-1])


def _repeat(action: Callable[[], float], runs: int = RUNS) -> Spread:
    return Spread([action() for _ in range(runs)])


def import_figures() -> list[Figure]:
    python_start = _repeat(lambda: _wall_ms([sys.executable, "-c", "pass"])).median
    with tempfile.TemporaryDirectory() as scratch:
        generate = _repeat(lambda: _wall_ms([sys.executable, "-m", "codegen", "generate", "--out", scratch]) / 1000,
                           3)
    pydantic = _repeat(lambda: _import_ms("import pydantic; pydantic.BaseModel")).median
    against = f"import pydantic {pydantic:.0f} ms"
    return [
        Figure.of("generate", generate, "s", 15, f"python startup {python_start:.0f} ms"),
        Figure.of("import_adapter", _repeat(lambda: _import_ms("import adapter")), "ms", 300, against),
        Figure.of("import_generated", _repeat(lambda: _import_ms("import generated.registry, generated.client")),
                  "ms", 300, against),
        Figure.of("import_all_30_models", _repeat(lambda: _import_ms(
            "import generated.registry as r\nfor f in r.FUNCTIONS: r.models_for(f)")), "ms", 1000, against),
    ]


def cold_start_figures(mock: servers.Running, scratch: Path) -> list[Figure]:
    """`gdwi --help` and `gdwi call` as whole processes, interleaved with a bare python start."""
    gdwi = str(Path(sys.executable).parent / "gdwi")
    env = {**os.environ, **servers.client_env(mock.url, scratch / "cli.sqlite")}
    data = '{"bka895": "aac002", "bka896": "44190019900101001X", "bka006": "410"}'
    bare = [sys.executable, "-c", "pass"]
    libraries = _repeat(lambda: _wall_ms([sys.executable, "-c", CALL_LIBRARIES])).median
    out = []
    for name, command in (("cold_start_gdwi_help", [gdwi, "--help"]),
                          ("cold_start_gdwi_call", [gdwi, "call", "bizh110001", "--data", data])):
        paired = interleave(lambda c=command: _wall_ms(c, env), lambda: _wall_ms(bare), pairs=5, batch=3, warm=1)
        spread = Spread([statistics.median(paired.a_ms[i:i + 3]) for i in range(0, len(paired.a_ms), 3)])
        out.append(Figure.of(name, spread, "ms", 250, f"python startup median {paired.b_median:.0f} ms; "
                             f"python importing httpx, pydantic(-settings), typer, lxml alone {libraries:.0f} ms"))
    return out


def codec_figures() -> list[Figure]:
    """300-row fee message: encode + decode + check (what the client, the mock and the proxy run)
    vs a bare lxml parse + serialize, interleaved."""
    from lxml import etree

    from adapter.wire.codec import decode, encode, make_parser
    from adapter.wire.validation import check_message

    wire_values = {"akb020": servers.AKB020, "aaz218": "44190000012019000002", "feeinfo": wire.fee_rows(300)}
    body = encode("bizh120002", "request", wire_values, session_id="00000000-0000-0000-0000-000000000001")
    parser = make_parser()

    def codec_round() -> None:
        encoded = encode("bizh120002", "request", wire_values, session_id="s")
        decoded = decode(encoded, "bizh120002", "request")
        check_message("bizh120002", "request", decoded.values)

    paired = interleave(codec_round, lambda: etree.tostring(etree.fromstring(body, parser)), batch=60)
    bare = f"bare lxml parse + serialize median {paired.b_median:.2f} ms"
    return [
        Figure.ratio("codec_300_rows_vs_bare_lxml", paired, 2.5, bare),
        Figure("codec_300_rows_p99", paired.a_percentile(0.99), "ms", 4,
               f"codec median {paired.a_median:.2f} ms; {bare}"),
    ]


def upload_figures() -> list[Figure]:
    result = subprocess.run([sys.executable, str(Path(__file__).parent / "wire.py"), "upload", "10000"],
                            check=True, cwd=ROOT, capture_output=True, text=True)
    seconds, peak_mb = (float(part) for part in result.stdout.split())
    code = "print(next(int(l.split()[1]) / 1024 for l in open('/proc/self/status') if l.startswith('VmHWM:')))"
    bare = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return [
        Figure("upload_10000_rows_in_process", seconds, "s", 3, "client + in-process mock thread, 34 calls"),
        Figure("upload_10000_rows_peak_rss", peak_mb, "MB", 200, f"bare python {float(bare.stdout):.0f} MB"),
    ]


def suite_figure() -> Figure:
    if os.environ.get("BENCH_SUITE") == "1":
        seconds = _wall_ms(["make", "--no-print-directory", "test"]) / 1000
        return Figure("make_test", seconds, "s", 120, "timed now (BENCH_SUITE=1)")
    if not SUITE_TIMING.exists():
        return Figure("make_test", float("nan"), "s", 120, "never timed: run `make test` first")
    seconds_text, when = SUITE_TIMING.read_text().split()[:2]
    return Figure("make_test", float(seconds_text), "s", 120, f"last `make test` on this checkout, {when}")


def figures() -> tuple[list[Figure | proxy.Figure], list[str]]:
    notes: list[str] = []
    out: list[Figure | proxy.Figure] = [*import_figures(), *codec_figures(), *upload_figures()]
    with tempfile.TemporaryDirectory(dir=ROOT / ".venv") as scratch_name:
        scratch = Path(scratch_name)  # on the same disk as a journal would be: fsync is real
        with servers.mock() as mock:
            out += wire.client_figures(mock, scratch)
            out += cold_start_figures(mock, scratch)
            mock_figures, mock_notes = wire.mock_figures(mock, scratch)
            gateway_figures, gateway_notes = wire.gateway_figures(mock, scratch)
        stay_figures, stay_notes = wire.big_stay_figures(scratch)
        out += [*mock_figures, *gateway_figures, *stay_figures]
        notes += [*mock_notes, *gateway_notes, *stay_notes]
        for module in MODULES:
            module_figures, module_notes = module.figures(scratch)
            out += module_figures
            notes += module_notes
    more, more_notes = nodes.figures()  # several gateway nodes on PostgreSQL (issue 15)
    return [*out, *more, suite_figure()], [*notes, *more_notes]


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


BOUNDS = "\n## What bounds the misses\n"  # written by hand; kept when the figures are rewritten


def _hand_written(report: Path) -> str:
    text = report.read_text(encoding="utf-8") if report.exists() else ""
    return text[text.index(BOUNDS):] if BOUNDS in text else ""


def main() -> int:
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    results, notes = figures()
    lines = [figure.line() for figure in results]
    print("\n".join(lines))
    print("\n".join(f"scale {note}" for note in notes))
    elapsed = time.perf_counter() - started
    print(f"bench took {elapsed:.0f} s")
    report = ROOT / "docs" / "benchmarks.md"
    kept = _hand_written(report)
    report.write_text(
        "# Benchmarks\n\n"
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {_machine()}; "
        f"the run took {elapsed:.0f} s; 1-minute load average {load_before:.1f} at its start, "
        f"{os.getloadavg()[0]:.1f} at its end.\n\n"
        "Every ratio is measured interleaved (A, B, A, B...): the value is the median of the pair ratios, "
        "min-max is their spread. Servers under test run in their own processes on 127.0.0.1. The machine "
        "is shared, so read the spread before reading a PASS or MISS.\n\n```\n"
        + "\n".join(lines) + "\n```\n\n## Scale\n\n" + "\n".join(f"- {note}" for note in notes) + "\n"
        + kept,
        encoding="utf-8",
    )
    return 0 if all(figure.passed for figure in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
