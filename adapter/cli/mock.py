"""`gdwi mock ...`: run the mock provincial server, show its seed."""

from __future__ import annotations

from pathlib import Path

import typer

mock_app = typer.Typer(help="The mock provincial server (synthetic data only)", no_args_is_help=True)

SEED_OPTION = typer.Option(
    None, "--seed", exists=True, dir_okay=False, help="seed file (YAML or JSON); default: the built-in seed"
)


@mock_app.command("serve")
def mock_serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8080, help="port to listen on"),
    seed: Path | None = SEED_OPTION,
    state: Path | None = typer.Option(
        None, "--state", dir_okay=False, help="SQLite file keeping the province's state across restarts"
    ),
) -> None:
    """Serve the XML wire at the spec's path, a JSON view and /admin endpoints until Ctrl+C."""
    from adapter.mock.seed import SeedError
    from adapter.mock.server import serve
    from generated.registry import SPEC

    typer.echo(f"gdwi mock province: http://{host}:{port}{SPEC.path}  (JSON view: /openapi.json)")
    try:
        serve(host, port, seed_path=seed, persist_path=state)
    except SeedError as exc:
        typer.echo(f"seed: {exc}", err=True)
        raise typer.Exit(2) from None


@mock_app.command("seed")
def mock_seed(seed: Path | None = SEED_OPTION) -> None:
    """Print the seed: institutions, users and passwords, insured persons, fee catalogue."""
    from adapter.mock.seed import SeedError, default_seed, load_seed, seed_as_text

    try:
        loaded = load_seed(seed) if seed is not None else default_seed()
    except SeedError as exc:
        typer.echo(f"seed: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(seed_as_text(loaded), nl=False)
