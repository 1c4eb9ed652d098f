"""`gdwi proxy`: sit between a HIS that already speaks the wire and the province.

    gdwi proxy serve --listen 127.0.0.1:8091 --upstream https://province:port [--mode enforce]
    gdwi proxy replay --target http://127.0.0.1:8080 [--to-mock --include-state-changing]
    gdwi proxy export --out fixtures/recorded

The proxy listens on loopback unless --allow-remote: like the gateway it speaks plain HTTP, and
the HIS's bodies carry patient data and the sys0001 password. TLS to the upstream and the
journal file come from the same environment variables as the client (GDWI_CA_FILE,
GDWI_CLIENT_CERT, GDWI_CLIENT_KEY, GDWI_CLIENT_KEY_PASSWORD, GDWI_JOURNAL).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import typer

__all__ = ["proxy_app"]

proxy_app = typer.Typer(
    help="Validation, journal and spec drift for a HIS that already speaks the wire", no_args_is_help=True
)

DEFAULT_JOURNAL = "gdwi-journal.sqlite"
DB_HELP = f"journal file [default: $GDWI_JOURNAL or ./{DEFAULT_JOURNAL}]"


def _journal_path(db: Path | None) -> str:
    return str(db or os.environ.get("GDWI_JOURNAL") or DEFAULT_JOURNAL)


def split_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[::1]:PORT`) -> (host, port); BadParameter names the option."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise typer.BadParameter(f"expected HOST:PORT, got {listen!r}", param_hint="--listen")
    return host.strip("[]"), int(port)


@proxy_app.command("serve")
def proxy_serve(
    upstream: str = typer.Option(..., "--upstream", help="the province's base URL, e.g. https://host:port"),
    listen: str = typer.Option("127.0.0.1:8091", "--listen", help="HOST:PORT to listen on"),
    mode: str = typer.Option("observe", "--mode", help="observe (forward all, record problems) or enforce"),
    override: list[str] = typer.Option(
        [], "--override", help="per function: FUNCTION_ID=observe|enforce (repeatable)"
    ),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="allow a non-loopback --listen address"),
    db: Path | None = typer.Option(None, "--db", help=DB_HELP),
    max_body_bytes: int | None = typer.Option(None, "--max-body-bytes", help="request and answer cap"),
    read_timeout: float | None = typer.Option(None, "--read-timeout", help="seconds to wait for an answer"),
) -> None:
    """Forward the HIS's calls to the province, journaled and checked against the spec, until Ctrl+C."""
    from adapter.proxy import Mode, ProxyConfig, serve
    from adapter.proxy.config import ProxyConfigError, parse_overrides
    from adapter.serving import is_loopback
    from adapter.wire.masking import install_log_masking

    host, port = split_listen(listen)
    if not is_loopback(host) and not allow_remote:
        typer.echo(f"refusing to listen on {host}: not a loopback address. The proxy speaks plain HTTP "
                   "(patient data, the login password); pass --allow-remote to do it anyway.", err=True)
        raise typer.Exit(2)
    options: dict[str, Any] = {"journal_path": _journal_path(db)}
    if max_body_bytes is not None:
        options["max_body_bytes"] = max_body_bytes
    if read_timeout is not None:
        options["read_timeout"] = read_timeout
    try:
        if mode not in set(Mode):
            raise ProxyConfigError(f"--mode: expected observe or enforce, got {mode!r}")
        config = ProxyConfig.with_tls_from_env(
            upstream, mode=Mode(mode), overrides=parse_overrides(override), **options
        )
    except ProxyConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_masking()
    typer.echo(f"gdwi proxy ({config.mode}): http://{host}:{port}{config.path} -> {config.upstream_url}"
               f"  journal: {config.journal_path}")
    serve(config, host, port)
