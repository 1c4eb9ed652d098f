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
from adapter.errors import TokenError

if TYPE_CHECKING:
    from adapter.ops.nodes import NodeTiming
    from adapter.wire.config import Settings

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
    node: str | None = typer.Option(
        None, "--node", help="this node's name in a PostgreSQL journal [default: host, pid, a random part]"),
    dead_after: float = typer.Option(
        15.0, "--dead-after", min=0.5, help="seconds without a heart-beat after which a node counts as dead "
        "and another settles its entries (PostgreSQL journal)"),
    beat: float = typer.Option(2.0, "--beat", min=0.1, help="seconds between heart-beats"),
    recovery_every: float = typer.Option(
        5.0, "--recovery-every", min=0.1, help="seconds between recovery rounds (0 entries: one query)"),
) -> None:
    """Serve the HIS endpoints, /functions/{id}, /openapi.json and /docs until Ctrl+C.

    Province settings come from the environment as for every gdwi command (GDWI_BASE_URL, ...).
    A configuration that declares `institutions` serves each of them (or only --institution's),
    each with its own login and its own bearer token. On a PostgreSQL journal the node heart-beats
    and settles what dead nodes left (docs/deployment.md).
    """
    from adapter import logs
    from adapter.gateway import is_loopback
    from adapter.gateway.auth import read_token
    from adapter.ops.nodes import NodeTiming
    from adapter.wire.config import load_values
    from adapter.wire.institutions import chosen as only_chosen
    from adapter.wire.institutions import load_institutions

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
        chosen = {settings.akb020: settings}
        tokens = {token: settings.akb020}
    else:
        if token_file is not None:
            raise TokenError("--token-file: this configuration declares institutions; each has its own "
                             "token (token_file in its table, or GDWI_<akb020>_GATEWAY_TOKEN)")
        options = context.OPTIONS
        declared = only_chosen(load_institutions(config=options.config, overrides=options.overrides),
                               options.institution)
        chosen = {code: each.settings for code, each in declared.items()}
        tokens = {read_token(each.token_file, variable=each.token_env): code
                  for code, each in declared.items()}
        if len(tokens) != len(chosen):
            raise TokenError("two institutions were given the same gateway token: each needs its own")
    logs.configure(context.OPTIONS.log_level or "info")
    first = next(iter(chosen.values()))
    shown = f", institutions: {', '.join(chosen)}" if group else ""
    typer.echo(f"gdwi HIS gateway: http://{host}:{port}  (docs: /docs, province: {first.base_url}{shown})")
    timing = NodeTiming(beat=beat, every=recovery_every, dead_after=dead_after)
    _serve(chosen, tokens, group=group, host=host, port=port, node=node, timing=timing)


def _serve(chosen: Mapping[str, Settings], tokens: Mapping[str, str], *, group: bool, host: str, port: int,
           node: str | None, timing: NodeTiming) -> None:
    """One journal and a client per institution; on PostgreSQL the node's heart-beat and recovery."""
    from dataclasses import replace

    from adapter.gateway import create_gateway, create_group_gateway, serve
    from adapter.ops.nodes import NodeWorker, lease_for
    from adapter.wire.client import Client
    from adapter.wire.journal import open_journal

    first = next(iter(chosen.values()))
    with ExitStack() as stack:
        journal = stack.enter_context(open_journal(first.journal_path, node=node))
        clients = {code: stack.enter_context(Client(settings, journal=journal))
                   for code, settings in chosen.items()}
        if group:
            app = create_group_gateway(list(clients.values()), tokens)
        else:
            [token] = tokens
            app = create_gateway(clients[first.akb020], token=token)
        if journal.postgres:
            stack.enter_context(NodeWorker(journal, clients, replace(timing, lease=lease_for(clients))))
        serve(app, host, port)


