"""Hostile XML against both sides, in a process of its own: refused fast, clearly, no blow-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from test_codec import HOSTILE

HERE = Path(__file__).resolve().parent
BUDGET_MS = 100
# A bare interpreter with these imports peaks near 75 MB here, and the 50 MB attack body must
# exist in memory to be refused; anything past this means parsing blew up.
PEAK_RSS_LIMIT_MB = 200


def run_battery() -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(HERE / "hostile_battery.py")], capture_output=True, text=True, check=True
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_every_attack_refused_on_both_sides_fast_and_without_memory_blow_up() -> None:
    results = run_battery()
    for name, (_make, expected) in HOSTILE.items():
        client_text, client_ms = results[f"client: {name}"]
        mock_text, mock_ms = results[f"mock: {name}"]
        assert expected in client_text, (name, client_text)
        assert mock_text.startswith("-1 ") and expected in mock_text, (name, mock_text)
        assert client_ms < BUDGET_MS and mock_ms < BUDGET_MS, (name, client_ms, mock_ms)
    assert results["peak_rss_mb"] < PEAK_RSS_LIMIT_MB, results["peak_rss_mb"]
