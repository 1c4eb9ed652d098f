"""One error handler for every `gdwi` command: one line per problem, an exit code by outcome.

| code | outcome                                   | what a script should do                  |
|------|-------------------------------------------|------------------------------------------|
| 0    | ok                                        |                                          |
| 1    | internal error (a gdwi bug)               | report it, with `--debug` output         |
| 2    | bad input or usage                        | fix the command or the data              |
| 3    | configuration                             | fix the settings (`gdwi doctor`)         |
| 4    | refused by the province (return_code < 0) | nothing changed there; read the message  |
| 5    | not sent                                  | safe to retry                            |
| 6    | outcome unknown                           | never resend: run `gdwi journal recover` |
| 7    | ran, and found differences                | reconcile, sheet sums, recover left some |

The traceback is shown only with `--debug` or GDWI_DEBUG=1. Messages are the errors' own (never
holding a password), scrubbed of citizen ID numbers.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import traceback
from enum import IntEnum
from typing import Any

import typer
from typer._click.exceptions import UsageError  # typer's own copy of click, the one it raises
from typer.core import TyperGroup

from adapter.errors import (
    BusinessError,
    ChromiumError,
    CompensationFailed,
    ConfigError,
    ContractError,
    FaultError,
    GdwiError,
    HisWorkflowError,
    InputError,
    JournalError,
    NotSentError,
    OutcomeUnknownError,
    SeedError,
    TransportError,
    UnresolvedEntryError,
    XmlRefusedError,
)

__all__ = ["ExitCode", "GdwiGroup", "exit_code_of", "report"]


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    INPUT = 2
    CONFIG = 3
    REFUSED = 4
    NOT_SENT = 5
    OUTCOME_UNKNOWN = 6
    DIFFERENCES = 7


# First match wins: subclasses before their bases.
_CODES: tuple[tuple[type[BaseException], ExitCode, str], ...] = (
    (InputError, ExitCode.INPUT, "bad input"),
    (XmlRefusedError, ExitCode.INPUT, "bad input"),
    (SeedError, ExitCode.INPUT, "bad input"),
    (FaultError, ExitCode.INPUT, "bad input"),
    (ChromiumError, ExitCode.CONFIG, "configuration"),
    (ConfigError, ExitCode.CONFIG, "configuration"),
    (JournalError, ExitCode.CONFIG, "journal"),
    (BusinessError, ExitCode.REFUSED, "refused by the province"),
    (UnresolvedEntryError, ExitCode.REFUSED, "not sent: an earlier change is unresolved"),
    (CompensationFailed, ExitCode.OUTCOME_UNKNOWN, "not undone, see the journal"),
    (HisWorkflowError, ExitCode.REFUSED, "not done"),
    (NotSentError, ExitCode.NOT_SENT, "not sent (safe to retry)"),
    (OutcomeUnknownError, ExitCode.OUTCOME_UNKNOWN, "never resend"),
    (ContractError, ExitCode.OUTCOME_UNKNOWN, "never resend (the answer breaks the spec)"),
    (TransportError, ExitCode.OUTCOME_UNKNOWN, "outcome unknown (never resend: run `gdwi journal recover`)"),
    (GdwiError, ExitCode.INTERNAL, "error"),
    (OSError, ExitCode.INPUT, "file"),
    (UnicodeDecodeError, ExitCode.INPUT, "bad input"),
)


def exit_code_of(exc: BaseException) -> ExitCode:
    return _classify(exc)[0]


def _classify(exc: BaseException) -> tuple[ExitCode, str]:
    for exc_type, code, label in _CODES:
        if isinstance(exc, exc_type):
            return code, label
    return ExitCode.INTERNAL, "internal error"


def debugging() -> bool:
    from adapter.cli.context import OPTIONS

    return OPTIONS.debug or os.environ.get("GDWI_DEBUG", "") not in ("", "0")


def lines_of(exc: BaseException) -> list[str]:
    """The error as one or more lines (one per field problem), scrubbed."""
    from adapter.wire.masking import scrub

    code, label = _classify(exc)
    if isinstance(exc, InputError) and len(exc.problems) > 1:
        prefix = f"{exc.function_id}: " if exc.function_id else ""
        texts = [f"{prefix}{problem}" for problem in exc.problems]
    elif isinstance(exc, OSError) and exc.filename is not None:
        texts = [f"{exc.filename}: {exc.strerror or type(exc).__name__}"]
    elif code is ExitCode.INTERNAL and not isinstance(exc, GdwiError):
        texts = [f"{type(exc).__name__}: {exc} (a gdwi bug: run with --debug and report the traceback)"]
    else:
        texts = [str(exc)]
    notes = [str(note) for note in getattr(exc, "__notes__", ())]
    return [scrub(" ".join(f"{label}: {text}".split())) for text in (*texts, *notes)]


def report(exc: BaseException) -> ExitCode:
    """Print the error (stderr, one line per problem) and return its exit code."""
    if debugging():
        traceback.print_exception(exc, file=sys.stderr)
    for line in lines_of(exc):
        typer.echo(line, err=True)
    return exit_code_of(exc)


class GdwiGroup(TyperGroup):
    """The root command: every exception a command raises ends here, as lines and an exit code;
    a usage mistake (unknown option, bad choice, bad --data) too, as one line instead of click's
    usage block and boxed error."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None,
                     **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as exc:  # the root's own options
            raise typer.Exit(report_usage(exc)) from None

    def invoke(self, ctx: Any) -> Any:  # click's Context (typer vendors click privately)
        try:
            return super().invoke(ctx)
        except UsageError as exc:  # a command's options and arguments
            raise typer.Exit(report_usage(exc)) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as exc:  # the one place every failure is reported
            raise typer.Exit(report(exc)) from None


_NOT_ONE_OF = re.compile(r"'(?P<value>[^']*)' is not one of (?P<choices>.+?)\.?$")
_NO_SUCH_COMMAND = re.compile(r"No such command '(?P<value>[^']*)'")


def usage_line(exc: UsageError) -> str:
    """A usage error as one line: the problem, a close value when there is one, where help is."""
    message = " ".join(exc.format_message().replace("Value error, ", "").split()).rstrip(".")
    ctx: Any = exc.ctx
    candidates: list[str] = []
    value = ""
    if found := _NOT_ONE_OF.search(message):
        value, candidates = found["value"], re.findall(r"'([^']*)'", found["choices"])
    elif (found := _NO_SUCH_COMMAND.search(message)) and ctx is not None \
            and isinstance(ctx.command, TyperGroup):
        value, candidates = found["value"], list(ctx.command.list_commands(ctx))
    already = "did you mean" in message.lower()  # click's own, for a subcommand
    close = difflib.get_close_matches(value, candidates, n=1, cutoff=0.6) if value and not already else []
    hint = f" (did you mean {close[0]}?)" if close else ""
    where = f" — see `{_shown_path(ctx)} --help`" if ctx is not None else ""
    return f"bad input: {message}{hint}{where}"


def _shown_path(ctx: Any) -> str:
    """The command path as the user typed it (`gdwi journal list`), whatever the program's name."""
    names: list[str] = []
    while ctx is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(["gdwi", *reversed(names[:-1])])


def report_usage(exc: UsageError) -> int:
    typer.echo(usage_line(exc), err=True)
    return int(ExitCode.INPUT)
