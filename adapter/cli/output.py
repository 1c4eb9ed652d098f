"""Output for people and for scripts: tables that stay readable, `--json` that stays stable.

On a terminal a table fits its width (long cells fold); piped or redirected, it is printed at its
natural width, never folded or cut, so `grep` and `cut` see whole values. `--json` prints one JSON
document (UTF-8, not ASCII-escaped) and nothing else on stdout.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich is imported when something is printed with it, not at start
    from rich.console import Console
    from rich.table import Table

__all__ = ["JSON_HELP", "emit_json", "emit_table", "message_console", "stdout_console"]

JSON_HELP = "print JSON instead of a table (for scripts)"


def stdout_console() -> Console:
    """A console on stdout: the terminal's width, or unlimited when piped."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=100_000, soft_wrap=True, highlight=False)


def message_console(*, stderr: bool = False) -> Console:
    """A console for lines of text: wrapped to a terminal's width, never wrapped when piped or
    redirected (rich would fold at 80 columns: `make demo | tail` would cut a URL in two)."""
    from rich.console import Console

    console = Console(stderr=stderr)
    console.soft_wrap = not console.is_terminal
    return console


def emit_table(table: Table, console: Console | None = None) -> None:
    target = console or stdout_console()
    if not target.is_terminal:
        for column in table.columns:
            column.no_wrap = True
            column.overflow = "ignore"
    target.print(table)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
