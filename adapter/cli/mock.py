"""`gdwi mock ...`: run the mock provincial server, show its seed."""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

import typer

from adapter import logs
from adapter.cli import context

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
    style: str | None = typer.Option(
        None, "--style", help="answers as the spec writes them (strict) or as a production platform "
        "plausibly does (real: 4-decimal amounts, indentation, extra and empty elements, unlisted "
        "codes); default: the seed's, else strict",
    ),
    style_seed: int = typer.Option(0, "--style-seed", help="real style: which unlisted codes appear"),
    city: str | None = typer.Option(
        None, "--city", help="city profile of spec/cities.yaml (fee deletion, later-month cancellation); "
        "default: the seed's, else the spec's",
    ),
    allow_remote: bool = typer.Option(
        False, "--allow-remote", help="listen on a non-loopback address; /admin then needs the token in "
        "$GDWI_MOCK_ADMIN_TOKEN (one is generated and printed when unset)",
    ),
) -> None:
    """Serve the XML wire at the spec's path, a JSON view and /admin endpoints until Ctrl+C.

    Loopback only unless --allow-remote: the mock has synthetic data but open /admin controls.
    """
    from adapter.mock.seed import SeedError
    from adapter.mock.server import serve
    from adapter.mock.style import style_named
    from generated.cities import CITIES
    from generated.registry import SPEC

    try:
        chosen = style_named(style, style_seed) if style is not None else None
    except ValueError as exc:
        typer.echo(f"--style: {exc}", err=True)
        raise typer.Exit(2) from None
    if city is not None and city not in CITIES:
        typer.echo(f"--city: {city!r} is not one of {', '.join(CITIES)}", err=True)
        raise typer.Exit(2)
    admin_token = _admin_token(host, allow_remote)
    logs.configure(context.OPTIONS.log_level or "info")
    shown = f", {chosen.name} answers" if chosen else ""
    typer.echo(f"gdwi mock province: http://{host}:{port}{SPEC.path}  (JSON view: /openapi.json{shown})")
    try:
        serve(host, port, seed_path=seed, persist_path=state, style=chosen, city=city,
              admin_token=admin_token)
    except SeedError as exc:
        typer.echo(f"seed: {exc}", err=True)
        raise typer.Exit(2) from None


def _admin_token(host: str, allow_remote: bool) -> str | None:
    """None on loopback; beyond it, refuse without --allow-remote, else the /admin token."""
    if _is_loopback(host):
        return None
    if not allow_remote:
        typer.echo(f"--host {host}: not a loopback address; the mock's /admin controls would be open to "
                   "the network. Pass --allow-remote to listen there (then /admin needs a token).", err=True)
        raise typer.Exit(2)
    token = os.environ.get("GDWI_MOCK_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    if "GDWI_MOCK_ADMIN_TOKEN" not in os.environ:
        typer.echo(f"/admin token (Authorization: Bearer ...): {token}", err=True)
    return token


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


@mock_app.command("seed")
def mock_seed(
    seed: Path | None = SEED_OPTION,
    output: str = typer.Option("table", "--format", help="table (to read), yaml or json (a seed file "
                               "that --seed accepts; format: docs/mock-seed.md)"),
) -> None:
    """Print the seed: institutions, users and passwords, insured persons, fee catalogue."""
    import json

    from adapter.mock.seed import default_seed, load_seed, seed_as_data, seed_as_text, seed_as_yaml

    if output not in ("table", "yaml", "json"):
        raise typer.BadParameter("must be table, yaml or json", param_hint="--format")
    loaded = load_seed(seed) if seed is not None else default_seed()  # SeedError: bad input (exit 2)
    if output == "yaml":
        typer.echo(seed_as_yaml(loaded), nl=False)
    elif output == "json":
        typer.echo(json.dumps(seed_as_data(loaded), ensure_ascii=False, indent=2))
    else:
        typer.echo(seed_as_text(loaded), nl=False)
