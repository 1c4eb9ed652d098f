"""gdwi command line (typer + rich)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from adapter.cli.codes import codes_app
from adapter.cli.gateway import gateway_app
from adapter.cli.journal import journal_app
from adapter.cli.mock import mock_app
from adapter.cli.reconcile import reconcile
from adapter.cli.sheet import sheet

app = typer.Typer(
    help="gdwi: Guangdong work-injury insurance settlement adapter. Settings come from the "
    "environment: GDWI_BASE_URL, GDWI_USERID (sys0001 login, not the institution code), "
    "GDWI_PASSWORD, GDWI_AKB020 (institution code), GDWI_JOURNAL (journal file), "
    "GDWI_CONFIG (a TOML file with the same keys in lower case).",
    no_args_is_help=True,
)
spec_app = typer.Typer(help="Work with spec/: check it, compare two versions", no_args_is_help=True)
app.add_typer(spec_app, name="spec")
app.add_typer(journal_app, name="journal")
app.add_typer(mock_app, name="mock")
app.add_typer(codes_app, name="codes")
app.add_typer(gateway_app, name="gateway")
app.command("sheet")(sheet)  # single commands, not groups: `gdwi sheet AAZ218 --html out.html`
app.command("reconcile")(reconcile)
console = Console()

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
) -> None:
    """Per function: fields added, removed and changed; breaking changes flagged."""
    args = ["diff", old, new] + (["--fail-on-breaking"] if fail_on_breaking else [])
    raise typer.Exit(_codegen(*args))


@app.command()
def functions() -> None:
    """List every transaction the generated layer knows."""
    from generated.registry import FUNCTIONS, SPEC

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
    console.print(table)


xml_app = typer.Typer(help="Check and convert <program> XML messages offline", no_args_is_help=True)
app.add_typer(xml_app, name="xml")

FUNCTION_OPTION = typer.Option(..., "--function", "-f", help="function_id, e.g. bizh120002")
KIND_OPTION = typer.Option("request", "--kind", "-k", help="request or response")


def _decode_file(function_id: str, kind: str, path: Path) -> Any:
    from adapter.errors import XmlRefusedError
    from adapter.wire.codec import decode

    if kind not in ("request", "response"):
        raise typer.BadParameter("--kind must be request or response")
    try:
        return decode(path.read_bytes(), function_id, kind)  # type: ignore[arg-type]
    except XmlRefusedError as exc:
        console.print(f"[red]refused:[/] {exc}")
        raise typer.Exit(1) from None


@xml_app.command("validate")
def xml_validate(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="XML file"),
    function_id: str = FUNCTION_OPTION,
    kind: str = KIND_OPTION,
) -> None:
    """Exit 0 when the message conforms to the spec; 1 with one line per problem."""
    from adapter.wire.validation import InputError, validate_message

    decoded = _decode_file(function_id, kind, file)
    for warning in decoded.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    try:
        validate_message(function_id, kind, decoded.values)
    except InputError as exc:
        for problem in exc.problems:
            console.print(f"[red]error:[/] {problem}")
        raise typer.Exit(1) from None
    console.print(f"[green]ok:[/] {file.name} is a valid {function_id} {kind}")


@xml_app.command("to-json")
def xml_to_json(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="XML file"),
    function_id: str = FUNCTION_OPTION,
    kind: str = KIND_OPTION,
) -> None:
    """Print the message as JSON (wire codes as keys, datasets as lists of rows)."""
    decoded = _decode_file(function_id, kind, file)
    typer.echo(json.dumps(decoded.values, ensure_ascii=False, indent=2))


@app.command()
def call(
    function_id: str = typer.Argument(..., help="function_id, e.g. bizh110001"),
    data: str = typer.Option(..., "--data", "-d", help="request as JSON, or @file.json"),
) -> None:
    """Call one transaction with settings from the environment; print the answer as JSON."""
    from adapter.errors import GdwiError
    from adapter.wire.client import Client
    from adapter.wire.config import Settings

    text = Path(data[1:]).read_text(encoding="utf-8") if data.startswith("@") else data
    try:
        values = json.loads(text)
        with Client(Settings.from_env()) as client:
            answer = client.call_wire(function_id, values)
    except json.JSONDecodeError as exc:
        console.print(f"[red]--data is not JSON:[/] {exc}")
        raise typer.Exit(2) from None
    except GdwiError as exc:
        console.print(f"[red]{type(exc).__name__}:[/] {exc}")
        raise typer.Exit(1) from None
    typer.echo(json.dumps(answer, ensure_ascii=False, indent=2))


@app.command()
def demo() -> None:
    """End-to-end demo of what is built so far (see README)."""
    from adapter.cli import demo as demo_module

    raise typer.Exit(demo_module.run(console))

