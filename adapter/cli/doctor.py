"""`gdwi doctor`: check everything a first call needs, one line per check with how to fix it.

    ✓ settings      base_url http://10.0.0.1:8080, userid ss0028, akb020 H44190000001 …
    ✗ tcp           10.0.0.1:8080: connection refused — fix: check the port in base_url

Checks, in order (a failed step skips the ones that need it): settings; the journal (file mode,
integrity, unresolved entries); DNS, TCP and TLS to the province; a real sys0001 login (the
password comes from the settings, never from the command line; the login is journaled like every
call); the clock against the province's HTTP Date and the Beijing-midnight session expiry;
Chromium for the settlement sheet's PDF; the gateway token. Exit 0 when nothing failed (a
warning does not fail), else the exit code of the first failure (3 configuration, 4 refused,
5 unreachable …).
"""

from __future__ import annotations

import socket
import sqlite3
import ssl
import stat
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import typer

from adapter.cli import context
from adapter.cli.handler import ExitCode, exit_code_of, lines_of
from adapter.cli.output import JSON_HELP, emit_json
from adapter.errors import ConfigError, JournalError
from adapter.wire.database import is_postgres, mask_dsn

if TYPE_CHECKING:
    from adapter.wire.config import Settings
    from adapter.wire.institutions import Institution

__all__ = ["Check", "doctor"]

MAX_CLOCK_SKEW_SECONDS = 60


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | warn | fail | skip
    detail: str
    fix: str = ""
    exit_code: int = 0
    institution: str = ""  # its akb020 when the configuration declares several

    @property
    def line(self) -> str:
        mark = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}[self.status]
        fix = f" — fix: {self.fix}" if self.fix else ""
        who = f"{self.institution}: " if self.institution else ""
        return f"{mark} {self.name:<9} {who}{self.detail}{fix}"


def _fail(name: str, detail: str, fix: str, code: ExitCode = ExitCode.CONFIG) -> Check:
    return Check(name, "fail", detail, fix, int(code))


def doctor(
    token_file: Path | None = typer.Option(None, "--token-file", dir_okay=False,
                                           help="the gateway's token file to check"),
    skip_login: bool = typer.Option(False, "--skip-login", help="do not log in to the province"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Check settings, journal, network, login, clock, Chromium and the gateway token.

    A configuration that declares several institutions: each of them, or --institution's."""
    checks = run_checks(token_file, login=not skip_login)
    if as_json:
        emit_json([asdict(check) for check in checks])
    else:
        for check in checks:
            typer.echo(check.line)
    failed = [check for check in checks if check.status == "fail"]
    raise typer.Exit(failed[0].exit_code if failed else ExitCode.OK)


SINGLE_FIX = ("set GDWI_BASE_URL, GDWI_USERID, GDWI_PASSWORD, GDWI_AKB020 (or a GDWI_CONFIG file): "
              "see README")
GROUP_FIX = ("set it in the institution's [institutions.<akb020>] table or its GDWI_<akb020>_* "
             "variables (a password by password_file): see docs/deployment.md")


def run_checks(token_file: Path | None, *, login: bool = True) -> list[Check]:
    """Settings, journal, network and login, Chromium, token; the per-institution checks once for
    each institution checked (every declared one without --institution)."""
    checks: list[Check] = []
    try:
        chosen = _chosen_institutions()
    except Exception as exc:  # every failure is a line here, never a traceback
        chosen = {}
        fix = GROUP_FIX if _declares_institutions() else SINGLE_FIX
        checks.append(_fail("settings", _text(exc), fix, exit_code_of(exc)))
    label = len(chosen) > 1 or _declares_institutions()
    for code, outcome in chosen.items():
        checks.append(_settings_check(outcome, code if label else ""))
    checks.append(_journal_check())
    for code, outcome in chosen.items():
        if not isinstance(outcome, Exception):
            checks += [replace(check, institution=code if label else "")
                       for check in _network(outcome.settings, login)]
    checks.append(_chromium())
    if not chosen:
        checks.append(_token(token_file))
    for code, outcome in chosen.items():
        if not isinstance(outcome, Exception):
            checks.append(replace(_institution_token(outcome, token_file, group=label),
                                  institution=code if label else ""))
    return checks


def _chosen_institutions() -> Mapping[str, Institution | ConfigError]:
    """Every institution the configuration declares (one, without `institutions`), each built or
    its ConfigError; only --institution's when given."""
    from adapter.wire.institutions import chosen, each_institution

    options = context.OPTIONS
    return chosen(each_institution(config=options.config, overrides=options.overrides), options.institution)


def _declares_institutions() -> bool:
    from adapter.wire.config import load_values

    try:
        values = load_values(config=context.OPTIONS.config, overrides=context.OPTIONS.overrides)
    except Exception:  # reported by the settings check itself
        return False
    return bool(values.get("institutions"))


def _settings_check(outcome: Institution | ConfigError, label: str) -> Check:
    if isinstance(outcome, ConfigError):
        text = _text(outcome).removeprefix(f"institution {label}: ")  # the line names it already
        failed = _fail("settings", text, GROUP_FIX if label else SINGLE_FIX)
        return replace(failed, institution=label)
    settings = outcome.settings
    return Check("settings", "ok", f"base_url {settings.base_url}, url {settings.url}, "
                                   f"userid {settings.userid}, akb020 {settings.akb020}", institution=label)


def _journal_check() -> Check:
    try:
        target = context.journal_setting()
    except Exception as exc:  # the settings check names the cause
        return _fail("journal", _text(exc), "fix the settings first", exit_code_of(exc))
    return _journal(target)


def _text(exc: BaseException) -> str:
    return " / ".join(line.split(": ", 1)[-1] for line in lines_of(exc))


# --------------------------------------------------------------------------- journal


def _journal(target: str) -> Check:
    if is_postgres(target):
        return _postgres_journal(target)
    path = Path(target)
    if not path.exists():
        return Check("journal", "warn", f"{path} does not exist yet", "the first call creates it")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return _fail("journal", f"{path} is readable by others (mode {mode:o}); it holds patient data",
                     f"chmod 600 {path}")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
            open_entries = db.execute(
                "SELECT COUNT(*) FROM entries WHERE status IN ('unknown', 'pending')").fetchone()[0]
    except sqlite3.Error as exc:
        return _fail("journal", f"{path}: cannot read ({exc})", "check the file; restore from backup")
    if integrity != "ok":
        return _fail("journal", f"{path}: integrity check failed ({integrity})", "restore from backup")
    if open_entries:
        entries = f"{open_entries} entr{'y' if open_entries == 1 else 'ies'}"
        return _fail("journal", f"{path}: {entries} with an unknown outcome",
                     "gdwi journal recover (never resend them)", ExitCode.OUTCOME_UNKNOWN)
    return Check("journal", "ok", f"{path}: mode {mode:o}, integrity ok, nothing unresolved")


def _postgres_journal(url: str) -> Check:
    """A PostgreSQL journal: it opens (server reachable, schema current) and holds nothing unresolved."""
    from adapter.wire.journal import open_journal

    shown = mask_dsn(url)
    try:
        with open_journal(url) as journal:
            open_entries = int(journal.database.execute(
                "SELECT COUNT(*) FROM entries WHERE status IN ('unknown', 'pending')").fetchone()[0])
    except JournalError as exc:
        return _fail("journal", mask_dsn(str(exc)), "check the URL, the server, and PGPASSWORD or ~/.pgpass")
    if open_entries:
        entries = f"{open_entries} entr{'y' if open_entries == 1 else 'ies'}"
        return _fail("journal", f"{shown}: {entries} with an unknown outcome",
                     "gdwi journal recover (never resend them)", ExitCode.OUTCOME_UNKNOWN)
    if mask_dsn(url) != url:
        return Check("journal", "warn", f"{shown}: reachable, nothing unresolved; the setting holds a "
                     "password",
                     "keep the password in PGPASSWORD or ~/.pgpass, not in the journal setting")
    return Check("journal", "ok", f"{shown}: reachable, schema current, nothing unresolved")


# --------------------------------------------------------------------------- network and login


def _network(settings: Settings, login: bool) -> list[Check]:
    parts = urlsplit(settings.url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    steps: list[Callable[[], Check]] = [lambda: _dns(host, port), lambda: _tcp(host, port, settings)]
    if parts.scheme == "https":
        steps.append(lambda: _tls(host, port, settings))
    steps.append(lambda: _clock(settings))
    if login:
        steps.append(lambda: _login(settings))
    checks: list[Check] = []
    for step in steps:
        checks.append(step())
        if checks[-1].status == "fail" and checks[-1].name in ("dns", "tcp", "tls"):
            break  # the later steps need this one
    return checks


def _dns(host: str, port: int) -> Check:
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except socket.gaierror as exc:
        return _fail("dns", f"{host}: not found ({exc.strerror})", "check the host in base_url",
                     ExitCode.NOT_SENT)
    return Check("dns", "ok", f"{host} -> {', '.join(sorted(addresses))}")


def _tcp(host: str, port: int, settings: Settings) -> Check:
    try:
        with socket.create_connection((host, port), timeout=settings.connect_timeout):
            pass
    except OSError as exc:
        cause = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        return _fail("tcp", f"{host}:{port}: {cause}", "check the port in base_url and the firewall",
                     ExitCode.NOT_SENT)
    return Check("tcp", "ok", f"{host}:{port} accepts connections")


def _tls(host: str, port: int, settings: Settings) -> Check:
    from adapter.wire.transport import ssl_context

    try:
        context_ = ssl_context(settings)
        with socket.create_connection((host, port), timeout=settings.connect_timeout) as raw, \
                context_.wrap_socket(raw, server_hostname=host) as tls:
            version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        return _fail("tls", f"certificate not trusted ({exc.verify_message})",
                     "set ca_file (GDWI_CA_FILE) to the province's CA certificate", ExitCode.CONFIG)
    except (ssl.SSLError, OSError) as exc:
        return _fail("tls", f"handshake failed ({exc})", "is the server plain HTTP? then use http://",
                     ExitCode.CONFIG)
    except Exception as exc:
        return _fail("tls", _text(exc), "check ca_file, client_cert and client_key", exit_code_of(exc))
    return Check("tls", "ok", f"{version}, certificate trusted")


def _clock(settings: Settings) -> Check:
    """The local clock against the Date header of the province's web server."""
    import httpx

    from adapter.wire.transport import sync_client

    try:
        with sync_client(settings) as client:
            response = client.get(settings.url)
        stated = response.headers.get("date")
    except (httpx.HTTPError, OSError) as exc:
        return Check("clock", "warn", f"cannot ask the server ({type(exc).__name__})")
    except Exception as exc:
        return Check("clock", "warn", _text(exc))
    if not stated:
        return Check("clock", "warn", "the server sends no Date header: cannot compare clocks")
    skew = (datetime.now(UTC) - parsedate_to_datetime(stated)).total_seconds()
    if abs(skew) > MAX_CLOCK_SKEW_SECONDS:
        return _fail("clock", f"this machine is {skew:+.0f} s off the province's server",
                     "sync the clock (NTP): sessions expire at Beijing midnight")
    return Check("clock", "ok", f"{skew:+.1f} s from the province's server")


def _login(settings: Settings) -> Check:
    from adapter.wire.client import Client
    from adapter.wire.session import BEIJING, next_midnight

    try:
        with Client(settings) as client:
            client.session.get()
    except Exception as exc:  # the login's own error, as one line
        fix = {ExitCode.REFUSED: "check GDWI_USERID / GDWI_PASSWORD (the user id is not the institution "
                                 "code)",
               ExitCode.CONFIG: "check base_url and path"}.get(exit_code_of(exc), "see the message")
        return _fail("login", _text(exc), fix, exit_code_of(exc))
    now = datetime.now(UTC)
    expiry = next_midnight(now)
    left = expiry - now
    hours, rest = divmod(int(left.total_seconds()), 3600)
    until = f"{expiry.astimezone(BEIJING):%Y-%m-%d %H:%M}"
    return Check("login", "ok", f"sys0001 as {settings.userid}: the session expires {until} Beijing "
                                f"(in {hours} h {rest // 60} min)")


# --------------------------------------------------------------------------- local tools


def _chromium() -> Check:
    from adapter.ops.sheet import CHROMIUM_NAMES, find_chromium

    found = find_chromium()
    if found is None:
        return Check("chromium", "warn", f"not found ({', '.join(CHROMIUM_NAMES)}): "
                     "`gdwi sheet --pdf/--png` will not work", "install Chromium, or use --html only")
    return Check("chromium", "ok", found)


def _institution_token(institution: Institution, token_file: Path | None, *, group: bool) -> Check:
    """The token the gateway would read for this institution: --token-file or GDWI_GATEWAY_TOKEN
    for a single one; its table's token_file or GDWI_<akb020>_GATEWAY_TOKEN in a group."""
    import os

    from adapter.gateway.auth import read_token

    if not group:
        return _token(token_file)
    if token_file is not None:
        return _fail("token", "--token-file: this configuration declares institutions; each has its own "
                     "token", f"token_file in [institutions.{institution.akb020}] or {institution.token_env}")
    if institution.token_file is None and not os.environ.get(institution.token_env):
        return Check("token", "skip", f"no gateway token configured (token_file in its table or "
                                      f"{institution.token_env})")
    try:
        read_token(institution.token_file, variable=institution.token_env)
    except Exception as exc:
        return _fail("token", _text(exc), f"token_file in its table or {institution.token_env} "
                     "(≥ 16 characters, mode 600)")
    where = str(institution.token_file) if institution.token_file else institution.token_env
    return Check("token", "ok", f"gateway token from {where} is usable")


def _token(token_file: Path | None) -> Check:
    import os

    from adapter.gateway.auth import TOKEN_ENV, read_token

    if token_file is None and not os.environ.get(TOKEN_ENV):
        return Check("token", "skip", f"no gateway token configured ({TOKEN_ENV} or --token-file)")
    try:
        read_token(token_file)
    except Exception as exc:
        return _fail("token", _text(exc), f"set {TOKEN_ENV} or a token file (≥ 16 characters, mode 600)")
    where = str(token_file) if token_file else TOKEN_ENV
    return Check("token", "ok", f"gateway token from {where} is usable")
