"""gdwi command line (typer + rich)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

from adapter.cli import context
from adapter.cli.handler import GdwiGroup
from adapter.cli.lazy import Lazy, lazy_group
from adapter.cli.output import JSON_HELP, emit_json, emit_table, message_console

if TYPE_CHECKING:
    from rich.console import Console

    from adapter.wire.codec import Decoded

# Imported when run (adapter/cli/lazy.py): a command that does not need them starts without them.
# Single commands, not groups: `gdwi sheet AAZ218 --html out.html`.
LAZY_COMMANDS = {
    "sheet": Lazy("adapter.cli.sheet:sheet", "Render the settlement sheet of a settled stay "
                  "(bizh120206 + bizh120113); exit 7 if a sum fails."),
    "reconcile": Lazy("adapter.cli.reconcile:reconcile", "Compare the journal, the province and the HIS "
                      "export for one day; exit 0 only if all agree."),
    "doctor": Lazy("adapter.cli.doctor:doctor",
                   "Check settings, journal, network, login, clock, Chromium and the gateway token."),
    "journal": Lazy("adapter.cli.journal:journal_app",
                    "Read the transaction journal (values masked); settle unknown outcomes"),
    "mock": Lazy("adapter.cli.mock:mock_app", "The mock provincial server (synthetic data only)"),
    "codes": Lazy("adapter.cli.codes:codes_app",
                  "Code tables from the province (bizh120205), kept next to the journal"),
    "gateway": Lazy("adapter.cli.gateway:gateway_app",
                    "The HIS gateway: one HTTP JSON call per business step"),
    "proxy": Lazy("adapter.cli.proxy:proxy_app",
                  "Validation, journal and spec drift for a HIS that already speaks the wire"),
}
LAZY_SPEC_COMMANDS = {  # gdwi spec drift: answers vs spec/, from the journal
    "drift": Lazy("adapter.cli.drift:drift", "Summarise the answers' deviations from spec/ per function "
                  "and field, with proposed spec edits."),
}

app = typer.Typer(
    cls=lazy_group(GdwiGroup, LAZY_COMMANDS),
    help="gdwi: Guangdong work-injury insurance settlement adapter. Settings (the same keys "
    "everywhere): GDWI_BASE_URL, GDWI_USERID (sys0001 login, not the institution code), "
    "GDWI_PASSWORD, GDWI_AKB020 (institution code), GDWI_JOURNAL (journal file) in the environment; "
    "base_url, userid, … in a TOML file (GDWI_CONFIG or --config); --set key=value. "
    "Exit codes: 0 ok, 1 internal, 2 bad input, 3 configuration, 4 refused by the province, "
    "5 not sent (safe to retry), 6 outcome unknown (never resend: gdwi journal recover), "
    "7 differences found.",
    no_args_is_help=True,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from generated.registry import SPEC

        try:
            installed = version("gdwi")
        except PackageNotFoundError:  # run from a source tree without installing
            installed = "unknown"
        typer.echo(f"gdwi {installed} (spec {SPEC.version})")
        raise typer.Exit()


@app.callback()
def main(
    config: Path | None = typer.Option(None, "--config", dir_okay=False,
                                       help="TOML settings file [default: $GDWI_CONFIG]"),
    set_: list[str] = typer.Option([], "--set", "-s", metavar="KEY=VALUE",
                                   help="a setting, keys as in the TOML file (never the password)"),
    institution: str | None = typer.Option(
        None, "--institution", metavar="AKB020",
        help="which institution of a configuration that declares several [default: the only one]"),
    # metavar="": a plain flag takes no value (typer would show a <bool> placeholder).
    debug: bool = typer.Option(False, "--debug", metavar="", help="show tracebacks [or GDWI_DEBUG=1]"),
    log_level: str | None = typer.Option(None, "--log-level", envvar="GDWI_LOG_LEVEL",
                                         help="debug, info, warning or error [default: warning]"),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version, metavar="",
                                 help="print the version and exit"),
) -> None:
    """Global options, applied before any command."""
    from adapter import logs

    context.OPTIONS.config = config
    context.OPTIONS.overrides = context.parse_sets(set_)
    context.OPTIONS.institution = institution
    context.OPTIONS.debug = debug
    context.OPTIONS.log_level = log_level
    if log_level is not None and log_level.lower() not in logs.LEVELS:
        raise typer.BadParameter(f"must be one of {', '.join(logs.LEVELS)}", param_hint="--log-level")
    logs.configure(log_level or "warning")
    logs.new_request_id()
spec_app = typer.Typer(cls=lazy_group(TyperGroup, LAZY_SPEC_COMMANDS),
                       help="Work with spec/: check it, compare two versions", no_args_is_help=True)
app.add_typer(spec_app, name="spec")


def console() -> Console:
    """The console of the xml commands and the demo (rich is imported when it prints)."""
    return message_console()


PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _codegen(*args: str) -> int:
    """Run the generator in its own process: adapter/ never imports codegen/."""
    return subprocess.call([sys.executable, "-m", "codegen", *args], cwd=PROJECT_ROOT)


@app.command()
def generate(
    spec: Path = typer.Option(PROJECT_ROOT / "spec", help="spec directory"),
    out: Path = typer.Option(PROJECT_ROOT / "generated", help="output directory (replaced whole)"),
) -> None:
    """Validate spec/ and regenerate generated/ (same as `make generate`)."""
    raise typer.Exit(_codegen("generate", "--spec", str(spec), "--out", str(out)))


@spec_app.command("check")
def spec_check(spec: Path = typer.Option(PROJECT_ROOT / "spec", help="spec directory")) -> None:
    """Validate spec/ against the meta-schema and its cross-checks."""
    raise typer.Exit(_codegen("check", "--spec", str(spec)))


@spec_app.command("diff")
def spec_diff(
    old: str = typer.Argument(..., help="old spec: a directory or a git ref"),
    new: str = typer.Argument(..., help="new spec: a directory or a git ref"),
    fail_on_breaking: bool = typer.Option(False, help="exit 2 when a change breaks callers"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Per function: fields added, removed and changed; breaking changes flagged."""
    for ref in (old, new):
        _check_spec_ref(ref)
    args = ["diff", old, new] + (["--fail-on-breaking"] if fail_on_breaking else [])
    raise typer.Exit(_codegen(*args, *(["--json"] if as_json else [])))


def _check_spec_ref(ref: str) -> None:
    """A directory or a git commit of this repository; anything else is a usage error, not a traceback."""
    if Path(ref).is_dir():
        return
    command = ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"]
    found = subprocess.run(command, capture_output=True, check=False)
    if found.returncode != 0:
        raise typer.BadParameter(f"{ref!r} is neither a spec directory nor a git ref of this repository")


@app.command()
def functions(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List every transaction the generated layer knows."""
    from generated.registry import FUNCTIONS, SPEC

    if as_json:
        emit_json([{"function_id": m.function_id, "section": m.section, "name": m.name, "kind": m.kind,
                    "requires": list(m.stage.requires) if m.stage else [],
                    "leads_to": m.stage.leads_to if m.stage else None,
                    "compensation": m.compensation} for m in FUNCTIONS.values()])
        return
    from rich.table import Table

    table = Table(title=f"{SPEC.title} {SPEC.version}")
    for column in ("function_id", "§", "名称", "kind", "stage", "compensation"):
        table.add_column(column)
    for meta in FUNCTIONS.values():
        stage = ""
        if meta.stage:
            stage = f"{'/'.join(meta.stage.requires)} → {meta.stage.leads_to or 'same'}"
        table.add_row(
            meta.function_id, meta.section, meta.name, meta.kind, stage, meta.compensation or ""
        )
    emit_table(table)


xml_app = typer.Typer(help="Check and convert <program> XML messages offline", no_args_is_help=True)
app.add_typer(xml_app, name="xml")

FUNCTION_OPTION = typer.Option(..., "--function", "-f", help="function_id, e.g. bizh120002")
KIND_OPTION = typer.Option("request", "--kind", "-k", help="request or response")


def _decode_file(function_id: str, kind: str, path: Path) -> Any:
    from adapter.wire.codec import decode

    if kind not in ("request", "response"):
        raise typer.BadParameter("--kind must be request or response")
    return decode(path.read_bytes(), function_id, kind)  # type: ignore[arg-type]


@xml_app.command("validate")
def xml_validate(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="XML file"),
    function_id: str = FUNCTION_OPTION,
    kind: str = KIND_OPTION,
    strict: bool = typer.Option(
        False, "--strict", help="answers: the letter of the spec, exit 1 on any deviation"
    ),
) -> None:
    """Exit 0 when the message conforms; otherwise one line per problem.

    A request is checked strictly (it is what we send): a problem exits 2. A response is read as
    the client reads it: what the answer policy tolerates is a warning and exits 0; with --strict
    any deviation from the letter of the spec exits 1.
    """
    from adapter.wire.validation import validate_message

    decoded = _decode_file(function_id, kind, file)
    for warning in decoded.warnings:
        console().print(f"[yellow]warning:[/] {warning}")
    if kind == "response":
        _validate_response(function_id, decoded, file, strict=strict)
        return
    validate_message(function_id, kind, decoded.values)
    console().print(f"[green]ok:[/] {file.name} is a valid {function_id} {kind}")


def _validate_response(function_id: str, decoded: Decoded, file: Path, *, strict: bool) -> None:
    from adapter.wire.client import answer_deviations

    deviations = answer_deviations(function_id, decoded)
    colour, label = ("red", "error") if strict else ("yellow", "warning")
    for deviation in deviations:
        console().print(f"[{colour}]{label}:[/] {deviation}")
    if strict and deviations:
        raise typer.Exit(1)
    tolerated = f" ({len(deviations)} tolerated deviation(s))" if deviations else ""
    console().print(f"[green]ok:[/] {file.name} is a readable {function_id} response{tolerated}")


@xml_app.command("to-json")
def xml_to_json(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="XML file"),
    function_id: str = FUNCTION_OPTION,
    kind: str = KIND_OPTION,
) -> None:
    """Print the message as JSON (wire codes as keys, datasets as lists of rows)."""
    decoded = _decode_file(function_id, kind, file)
    typer.echo(json.dumps(_without_session(decoded.values), ensure_ascii=False, indent=2))


@app.command()
def call(
    function_id: str = typer.Argument(..., help="function_id, e.g. bizh110001"),
    data: str = typer.Option(..., "--data", "-d", help="request as JSON, or @file.json"),
) -> None:
    """Call one transaction with the settings; print the answer as JSON."""
    from adapter.errors import InputError
    from adapter.wire.client import Client
    from adapter.wire.validation import unknown_function
    from generated.registry import FUNCTIONS, LOGIN

    if function_id == LOGIN:  # its password would be on the command line, its session id printed
        raise InputError(LOGIN, ["not called by hand: the client logs in by itself with the settings' "
                                 "password; `gdwi doctor` checks the login"])
    if function_id not in FUNCTIONS:  # before the settings: the first mistake to report
        raise unknown_function(function_id)
    text = Path(data[1:]).read_text(encoding="utf-8") if data.startswith("@") else data
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
    if not isinstance(values, dict):
        raise typer.BadParameter("must be a JSON object of wire codes, e.g. '{\"bka896\": \"…\"}'",
                                 param_hint="--data")
    _refuse_numbers_for_text(function_id, values)
    with Client(context.settings()) as client:
        answer = client.call_wire(function_id, values)
    typer.echo(json.dumps(_without_session(answer), ensure_ascii=False, indent=2))


def _refuse_numbers_for_text(function_id: str, values: dict[str, Any]) -> None:
    """A JSON number where the spec has text (`"bka006": 420`): the wire has no numbers, only
    text, and guessing its format (leading zeros, places) could send another value."""
    from adapter.errors import InputError
    from adapter.wire.validation import problem
    from generated.registry import FIELDS

    def numbers(items: dict[str, Any], prefix: str) -> list[tuple[str, str]]:
        found = []
        for code, value in items.items():
            if isinstance(value, list):
                for index, row in enumerate(value):
                    found += numbers(row, f"{prefix}{code}[{index}].") if isinstance(row, dict) else []
            elif (isinstance(value, int | float) and not isinstance(value, bool) and code in FIELDS
                  and FIELDS[code].type not in ("decimal", "integer")):
                found.append((f"{prefix}{code}", code))
        return found

    found = numbers(values, "")
    if found:
        raise InputError(function_id, [problem(path, code, "a JSON number for a text field: send it as a "
                                                        'JSON string (e.g. "420")') for path, code in found])


def _without_session(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer as printed: a session id is a credential until midnight, shown by 4 characters."""
    from adapter.wire.session_table import shown

    if not answer.get("session_id"):
        return answer
    return {**answer, "session_id": shown(str(answer["session_id"]))}


@app.command()
def demo() -> None:
    """End-to-end demo of what is built so far (see README)."""
    from adapter.cli import demo as demo_module

    raise typer.Exit(demo_module.run(console()))

