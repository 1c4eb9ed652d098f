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


# --- privacy guard: every test runs with DEBUG logging captured -------------------------

import logging  # noqa: E402
import re  # noqa: E402

from adapter.mock.seed import default_seed  # noqa: E402

_CITIZEN_ID = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")
_SEED = default_seed()
_SECRETS = [p.aac003 for p in _SEED.persons] + [u.password for u in _SEED.users]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "logs_pii: the test logs raw PII on purpose (masking tests)")


@pytest.fixture(autouse=True)
def privacy_guard(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> object:
    """No log line of any test may carry an unmasked citizen ID, a seeded name or a password."""
    caplog.set_level(logging.DEBUG)
    # httpcore's DEBUG lines trace connection events (ten a request, a fifth of the suite's
    # logging time) and never carry a body; its INFO and above are still checked.
    caplog.set_level(logging.INFO, logger="httpcore")
    yield
    if request.node.get_closest_marker("logs_pii"):
        return
    for record in caplog.records:
        text = record.getMessage() + (caplog.text if record.exc_info else "")
        assert not _CITIZEN_ID.search(text), f"unmasked citizen ID in log: {text[:200]}"
        for secret in _SECRETS:
            assert secret not in text, f"seeded name or password in log: {text[:200]}"


# --- PostgreSQL: one throwaway cluster per test session (per xdist worker) ------------------

from collections.abc import Iterator  # noqa: E402

from pg_cluster import Cluster, ClusterUnavailable  # noqa: E402


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """Started the first time a test asks for PostgreSQL; skips only where no server is installed."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (the test extra installs it)")
    try:
        cluster = Cluster()
    except ClusterUnavailable as exc:
        pytest.skip(str(exc))
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """A postgresql:// URL of a fresh, empty schema of its own."""
    return pg_cluster.new_schema()


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A journal setting for each backend: a SQLite file path, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "journal.sqlite")
    return str(request.getfixturevalue("pg_url"))
