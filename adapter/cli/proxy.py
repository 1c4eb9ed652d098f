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
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from adapter.wire.database import mask_dsn
from adapter.wire.masking import scrub

__all__ = ["proxy_app"]

proxy_app = typer.Typer(
    help="Validation, journal and spec drift for a HIS that already speaks the wire", no_args_is_help=True
)

DEFAULT_JOURNAL = "gdwi-journal.sqlite"
DB_HELP = (f"journal file or postgresql:// URL [default: the journal setting, GDWI_JOURNAL, or "
           f"./{DEFAULT_JOURNAL}]")


def _journal_path(db: str | None) -> str:
    """`--db`, else the `journal` setting from the sources every gdwi command reads (a file path
    or a postgresql:// URL)."""
    from adapter.cli import context

    return context.journal_setting(db)


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
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
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
               f"  journal: {mask_dsn(config.journal_path)}")
    serve(config, host, port)


def _open_journal(db: str | None) -> Any:
    from adapter.wire.database import is_postgres
    from adapter.wire.journal import open_journal

    target = _journal_path(db)
    if not is_postgres(target) and not Path(target).is_file():
        typer.echo(f"no journal at {mask_dsn(target)} (use --db or set GDWI_JOURNAL)", err=True)
        raise typer.Exit(2)
    return open_journal(target)


DATE_OPTION = typer.Option(None, "--date", formats=["%Y-%m-%d"], help="only this local day")
FUNCTION_OPTION = typer.Option(None, "--function", help="only this function_id")
LIMIT_OPTION = typer.Option(1000, "--limit", min=1, help="at most this many of the newest")


@proxy_app.command("replay")
def proxy_replay(
    target: str = typer.Option(..., "--target", help="base URL to replay against, e.g. http://127.0.0.1:8080"),
    include_state_changing: bool = typer.Option(
        False, "--include-state-changing", help="also state-changing requests (only with --to-mock)"
    ),
    to_mock: bool = typer.Option(False, "--to-mock", help="the target is gdwi's mock province (checked)"),
    date: datetime | None = DATE_OPTION,
    function: str | None = FUNCTION_OPTION,
    limit: int = LIMIT_OPTION,
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Re-send recorded read-only requests to TARGET under a fresh login and diff the answers.

    Login settings (GDWI_USERID, GDWI_PASSWORD, GDWI_AKB020, TLS) come from the environment as
    for `gdwi call`. Exit 0 when every answer is the same, 1 when any differs or fails.
    """
    from adapter.proxy.recorded import ReplayError, is_mock, recorded, replay
    from adapter.wire import transport
    from adapter.wire.config import ConfigError, Settings

    if include_state_changing and not to_mock:
        typer.echo("--include-state-changing needs --to-mock: state-changing requests are never "
                   "replayed at a real platform", err=True)
        raise typer.Exit(2)
    try:
        settings = Settings.from_env({**os.environ, "GDWI_BASE_URL": target})
    except ConfigError as exc:
        typer.echo(f"settings: {exc}", err=True)
        raise typer.Exit(2) from None
    if to_mock:
        with transport.sync_client(settings) as client:
            if not is_mock(client, target):
                typer.echo(f"{target} is not gdwi's mock province (no /admin/state)", err=True)
                raise typer.Exit(2)
    with _open_journal(db) as journal:
        entries = recorded(journal, day=date.date() if date else None, function_id=function, limit=limit,
                           state_changing=include_state_changing)
    try:
        results = list(replay(settings, entries))
    except ReplayError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    for result in results:
        typer.echo(f"{result.entry_id} {result.function_id} {result.outcome}")
        for difference in result.differences:
            typer.echo(f"    {scrub(difference)}")
    same = sum(result.outcome == "same" for result in results)
    typer.echo(f"replayed {len(results)}: {same} same, {len(results) - same} different or failed")
    raise typer.Exit(0 if same == len(results) else 1)


@proxy_app.command("export")
def proxy_export(
    out: Path = typer.Option(..., "--out", file_okay=False, help="directory for the fixture files"),
    date: datetime | None = DATE_OPTION,
    function: str | None = FUNCTION_OPTION,
    limit: int = LIMIT_OPTION,
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Write recorded exchanges (not logins) as JSON fixtures, personal data masked."""
    from adapter.proxy.recorded import export, recorded

    with _open_journal(db) as journal:
        entries = recorded(journal, day=date.date() if date else None, function_id=function, limit=limit,
                           state_changing=True)
        written = export(journal, out, entries)
    typer.echo(f"exported {len(written)} exchange(s) to {out}")
