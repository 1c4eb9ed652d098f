from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def fixture_spec(tmp_path: Path) -> Path:
    """A writable copy of the small fixture spec (v1)."""
    target = tmp_path / "spec"
    shutil.copytree(FIXTURES / "spec_v1", target)
    return target
