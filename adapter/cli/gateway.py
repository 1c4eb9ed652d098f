"""`gdwi gateway serve`: the HIS gateway (HTTP JSON) in front of the province.

The bearer token comes from GDWI_GATEWAY_TOKEN or --token-file, never from an argument (the
process list shows arguments to every user of the machine). Without a token the gateway does not
start. It listens on 127.0.0.1 unless told otherwise; any other address needs --allow-remote,
because the gateway speaks plain HTTP: token and patient data would cross the network readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from adapter.cli import context
from adapter.errors import ConfigError, TokenError

if TYPE_CHECKING:
    from adapter.wire.institutions import Institution

gateway_app = typer.Typer(help="The HIS gateway: one HTTP JSON call per business step", no_args_is_help=True)

TOKEN_ENV = "GDWI_GATEWAY_TOKEN"


@gateway_app.command("serve")
def gateway_serve(
    host: str = typer.Option("127.0.0.1", help="address to listen on (loopback unless --allow-remote)"),
    port: int = typer.Option(8090, help="port to listen on"),
    token_file: Path | None = typer.Option(
        None, "--token-file", dir_okay=False, help=f"file holding the bearer token (else ${TOKEN_ENV})"
    ),
    allow_remote: bool = typer.Option(
        False, "--allow-remote", help="allow a non-loopback address (plain HTTP: put TLS in front)"
    ),
) -> None:
    """Serve the HIS endpoints, /functions/{id}, /openapi.json and /docs until Ctrl+C.

    Province settings come from the environment as for every gdwi command (GDWI_BASE_URL, ...).
    A configuration that declares `institutions` serves each of them (or only --institution's),
    each with its own login and its own bearer token (docs/deployment.md).
    """
    from adapter import logs
    from adapter.gateway import create_gateway, create_group_gateway, is_loopback, serve
    from adapter.gateway.auth import read_token
    from adapter.wire.client import Client
    from adapter.wire.config import load_values
    from adapter.wire.institutions import load_institutions
    from adapter.wire.journal import Journal

    group = bool(load_values(config=context.OPTIONS.config, overrides=context.OPTIONS.overrides)
                 .get("institutions"))
    token = None if group else read_token(token_file)  # TokenError: a configuration error (exit 3)
    if not is_loopback(host):
        if not allow_remote:
            typer.echo(f"refusing to listen on {host}: not a loopback address. The gateway speaks plain "
                       "HTTP; pass --allow-remote to do it anyway (behind TLS or a firewall).", err=True)
            raise typer.Exit(2)
        typer.echo(f"warning: listening on {host}: the bearer token and patient data cross the network "
                   "unencrypted unless a TLS proxy is in front", err=True)
    if token is not None:
        settings = context.settings()
        logs.configure(context.OPTIONS.log_level or "info")
        typer.echo(f"gdwi HIS gateway: http://{host}:{port}  (docs: /docs, province: {settings.base_url})")
        with Client(settings) as client:
            serve(create_gateway(client, token=token), host, port)
        return
    if token_file is not None:
        raise TokenError("--token-file: this configuration declares institutions; each has its own token "
                         "(token_file in its table, or GDWI_<akb020>_GATEWAY_TOKEN)")
    chosen = _chosen(load_institutions(config=context.OPTIONS.config, overrides=context.OPTIONS.overrides))
    tokens = {read_token(each.token_file, variable=each.token_env): code for code, each in chosen.items()}
    if len(tokens) != len(chosen):
        raise TokenError("two institutions were given the same gateway token: each needs its own")
    logs.configure(context.OPTIONS.log_level or "info")
    first = next(iter(chosen.values())).settings
    typer.echo(f"gdwi HIS gateway: http://{host}:{port}  (docs: /docs, province: {first.base_url}, "
               f"institutions: {', '.join(chosen)})")
    with ExitStack() as stack:
        journal = stack.enter_context(Journal(first.journal_path))
        clients = [stack.enter_context(Client(each.settings, journal=journal)) for each in chosen.values()]
        serve(create_group_gateway(clients, tokens), host, port)


def _chosen(declared: Mapping[str, Institution]) -> Mapping[str, Institution]:
    """Every declared institution, or the one --institution names."""
    wanted = context.OPTIONS.institution
    if wanted is None:
        return declared
    if wanted not in declared:
        raise ConfigError(f"--institution {wanted}: not an institution of this configuration "
                          f"(one of {', '.join(declared)})")
    return {wanted: declared[wanted]}
