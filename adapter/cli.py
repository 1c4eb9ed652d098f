"""gdwi command line (typer + rich)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="gdwi: Guangdong work-injury insurance settlement adapter", no_args_is_help=True)
spec_app = typer.Typer(help="Work with spec/: check it, compare two versions", no_args_is_help=True)
app.add_typer(spec_app, name="spec")
console = Console()

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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


@app.command()
def demo() -> None:
    """End-to-end demo of what is built so far (see README)."""
    from adapter import demo as demo_module

    raise typer.Exit(demo_module.run(console))


if __name__ == "__main__":
    app()
