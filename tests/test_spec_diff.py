"""`gdwi spec diff` on the fixture v1 -> v1.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from codegen.diff import diff_specs, format_diff
from codegen.load import load_spec

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROOT = FIXTURES.parent.parent


def _changes() -> dict[tuple[str, str], tuple[str, bool]]:
    old, new = load_spec(FIXTURES / "spec_v1"), load_spec(FIXTURES / "spec_v1_1")
    return {(c.function_id, c.path): (c.detail, c.breaking) for c in diff_specs(old, new)}


def test_widened_length_is_reported_and_not_breaking() -> None:
    assert _changes()[("bizh110104", "request.akb020")] == ("max_length 20 -> 30", False)


def test_renumbered_code_is_breaking() -> None:
    detail, breaking = _changes()[("bizh110104", "request.bka006")]
    assert detail == "code renumbered 康复门诊: 610 -> 110"
    assert breaking


def test_added_fields_break_only_when_required() -> None:
    changes = _changes()
    assert changes[("bizh110104", "request.bka070")] == ("field added (处方号, optional)", False)
    assert changes[("bizh110105", "request.feeinfo.row.bka070")][1] is True


def test_same_spec_has_no_changes() -> None:
    spec = load_spec(FIXTURES / "spec_v1")
    assert diff_specs(spec, spec) == []
    assert format_diff([], "a", "b") == "spec diff a -> b: no changes"


def test_cli_prints_diff_and_fails_on_breaking_when_asked() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "adapter.cli", "spec", "diff",
         str(FIXTURES / "spec_v1"), str(FIXTURES / "spec_v1_1"), "--fail-on-breaking"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "[BREAKING] changed request.bka006 code renumbered" in result.stdout
