"""`gdwi demo` end to end against the embedded mock, with DEBUG logging captured.

The demo checks every answer itself; this test adds privacy: no unmasked citizen ID, no
seeded person's name and no password in any log line.
"""

from __future__ import annotations

import io
import logging
import re

import pytest
from rich.console import Console

from adapter.cli import demo
from adapter.mock.seed import default_seed
from adapter.mock.style import style_named
from generated.registry import FUNCTIONS

CITIZEN_ID = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")


def test_demo_passes_and_logs_nothing_private(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    out = io.StringIO()
    assert demo.run(Console(file=out, width=120)) == 0, out.getvalue()
    assert f"steps hold; every one of the {len(FUNCTIONS)} function_ids called" in out.getvalue()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "send bizh120002" in logged  # DEBUG exchange logging was on
    seed = default_seed()
    assert CITIZEN_ID.search(logged) is None
    for person in seed.persons:
        assert person.aac003 not in logged
    for user in seed.users:
        assert user.password not in logged


@pytest.mark.parametrize("style", ["strict", "real"])
def test_demo_in_process_through_the_asgi_app(style: str) -> None:
    """Every function_id through the client with no socket: InProcessTransport into the app, whose
    answers are written to the letter of spec/ or as a production platform plausibly does."""
    out = io.StringIO()
    chosen = style_named(style, seed=3)
    assert demo.run(Console(file=out, width=120), in_process=True, style=chosen) == 0, out.getvalue()
    assert "mock province in process" in out.getvalue()
    assert f"steps hold; every one of the {len(FUNCTIONS)} function_ids called" in out.getvalue()


def test_demo_piped_folds_no_line() -> None:
    """Piped (`make demo | tail`), the demo's console folds nothing at 80 columns: headings and
    the URL line stay whole."""
    from adapter.cli.output import message_console

    console = message_console()
    out = io.StringIO()
    console.file = out
    assert not console.is_terminal and demo.run(console, in_process=True) == 0, out.getvalue()
    text = out.getvalue()
    assert "── 门诊 outpatient: lookup → registration → trial → settlement → refund → cancel ──" in text
    assert "mock province in process" in text
    assert not [line for line in text.splitlines() if line.startswith("http")]  # no URL cut in two
