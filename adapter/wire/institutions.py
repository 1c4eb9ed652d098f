"""Several institutions in one deployment: one Settings per institution, secrets outside the file.

A hospital group or a vendor declares its institutions in the GDWI_CONFIG file, one table each,
keyed by the institution code akb020 (the one name the province knows them by):

    base_url = "https://province.example:8080"
    journal = "postgresql://gdwi@db/gdwi"

    [institutions.H44190000001]
    userid = "ss0028"
    password_file = "/etc/gdwi/H44190000001.password"     # or GDWI_H44190000001_PASSWORD
    token_file = "/etc/gdwi/H44190000001.token"           # the gateway token bound to it

    [institutions.H44190000002]
    userid = "ss0029"                                     # password from GDWI_H44190000002_PASSWORD

or, without a file, `GDWI_INSTITUTIONS=H44190000001,H44190000002` with `GDWI_<akb020>_USERID` and
`GDWI_<akb020>_PASSWORD` for each. Every other key is shared (base_url, journal, timeouts ...);
a table may set its own TLS files and city. Per institution the environment wins over the table,
and the table over the shared keys. A password or token is never written in the table itself:
the environment or a secret file (owner-only, like the token file) holds it. A configuration
without `institutions` is the single institution of GDWI_AKB020 / GDWI_USERID / GDWI_PASSWORD,
exactly as before.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from adapter.errors import ConfigError
from adapter.wire.config import (
    CONFIG_ENV,
    ENV_PREFIX,
    REQUIRED,
    SECRET_KEYS,
    Settings,
    check_akb020,
    describe_error,
    load_values,
)

__all__ = ["INSTITUTIONS_ENV", "Institution", "each_institution", "institution_env", "load_institutions",
           "read_secret_file", "settings_for"]

INSTITUTIONS_ENV = f"{ENV_PREFIX}INSTITUTIONS"
# Keys a table may hold besides the shared ones: secrets by file, and the gateway's token file.
_FILE_KEYS = {"password_file": "password", "client_key_password_file": "client_key_password"}
_TOKEN_FILE = "token_file"
# What stays shared: one journal for the deployment, and the code is the table's own name.
_SHARED_ONLY = frozenset({"journal", "akb020"})
_PER_INSTITUTION = frozenset(Settings.model_fields) - _SHARED_ONLY - SECRET_KEYS


@dataclass(frozen=True)
class Institution:
    """One institution of the deployment: its full client settings and where its gateway token is.

    `token_file` and `token_env` are for the gateway (adapter.gateway.auth reads them); neither
    is read here."""

    akb020: str
    settings: Settings
    token_file: Path | None
    token_env: str


def institution_env(akb020: str, key: str) -> str:
    """The environment variable of one institution's key: GDWI_H44190000001_PASSWORD."""
    return f"{ENV_PREFIX}{akb020.upper()}_{key.upper()}"


def read_secret_file(path: Path, what: str) -> str:
    """A secret from a file that only its owner may read (else anyone on the host could use it)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what}: cannot read {path}: {type(exc).__name__}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{what}: {path} is open to other users (mode {stat.filemode(mode)}): "
                          f"`chmod 600 {path}`")
    if not text:
        raise ConfigError(f"{what}: {path} is empty")
    return text


def load_institutions(
    env: Mapping[str, str] | None = None, *, config: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Institution]:
    """Every institution of the configuration, by akb020 (one, for a configuration without
    `institutions`); ConfigError names each missing or bad key."""
    declared: dict[str, Institution] = {}
    for outcome in each_institution(env, config=config, overrides=overrides).values():
        if isinstance(outcome, ConfigError):
            raise outcome
        declared[outcome.akb020] = outcome
    return declared


def each_institution(
    env: Mapping[str, str] | None = None, *, config: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Institution | ConfigError]:
    """Every declared institution by akb020, or the ConfigError of the one that cannot be built
    (`gdwi doctor` reports each; the others still work). A problem of the shared keys raises."""
    environ = os.environ if env is None else env
    values = load_values(environ, config=config, overrides=overrides)
    tables = declared_tables(values.pop("institutions", None))
    if not tables:
        single = Settings.from_env(environ, config=config, overrides=overrides)
        return {single.akb020: Institution(single.akb020, single, None, "GDWI_GATEWAY_TOKEN")}
    clashing = [key for key in ("akb020", "userid", "password") if values.get(key)]
    if clashing:
        raise ConfigError(f"{', '.join(clashing)}: set per institution when `institutions` is declared "
                          f"(in its table or {institution_env('<akb020>', clashing[0])}), not shared")
    outcomes: dict[str, Institution | ConfigError] = {}
    for code, table in tables.items():
        try:
            outcomes[code] = _institution(code, table, values, environ)
        except ConfigError as exc:
            outcomes[code] = exc
    return outcomes


def settings_for(
    institution: str | None, env: Mapping[str, str] | None = None, *, config: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """The settings of one institution: `institution` (its akb020), or the only one there is."""
    declared = load_institutions(env, config=config, overrides=overrides)
    if institution is None:
        if len(declared) > 1:
            raise ConfigError(f"this configuration declares {len(declared)} institutions "
                              f"({', '.join(declared)}): choose one with `gdwi --institution CODE`")
        return next(iter(declared.values())).settings
    if institution not in declared:
        raise ConfigError(f"--institution {institution}: not an institution of this configuration "
                          f"(one of {', '.join(declared)})")
    return declared[institution].settings


def declared_tables(raw: object) -> dict[str, dict[str, Any]]:
    """The `institutions` value: TOML tables by akb020, or GDWI_INSTITUTIONS' comma list."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        return {code.strip(): {} for code in raw.split(",") if code.strip()}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"institutions: a table per institution ([institutions.<akb020>]) or "
                          f"{INSTITUTIONS_ENV}=code,code; got {type(raw).__name__}")
    tables: dict[str, dict[str, Any]] = {}
    for code, table in raw.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"institutions.{code}: must be a table ([institutions.{code}])")
        tables[str(code)] = dict(table)
    return tables


def _institution(code: str, table: dict[str, Any], shared: dict[str, Any],
                 environ: Mapping[str, str]) -> Institution:
    try:
        check_akb020(code)
    except ConfigError as exc:
        raise ConfigError(f"institutions.{code}: {exc}") from None
    own = _own_values(code, table, environ)
    token_file = own.pop(_TOKEN_FILE, None)
    values = {**shared, **own, "akb020": code}
    missing = [key for key in REQUIRED if not values.get(key)]
    if missing:
        names = ", ".join(institution_env(code, key) if key != "base_url" else "GDWI_BASE_URL"
                          for key in missing)
        raise ConfigError(f"institution {code}: missing settings: {names} (or its table in the "
                          f"{CONFIG_ENV} file; a password by password_file)")
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(f"institution {code}: {describe_error(exc)}") from None
    return Institution(code, settings, Path(token_file) if token_file else None,
                       institution_env(code, "gateway_token"))


def _own_values(code: str, table: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The table's keys, its secret files read, then this institution's environment variables."""
    own: dict[str, Any] = {}
    for key, value in table.items():
        if key in SECRET_KEYS or key == "token":
            raise ConfigError(f"institutions.{code}.{key}: never in the file; set "
                              f"{institution_env(code, key)} or {key}_file (a file only its owner reads)")
        if key in _FILE_KEYS:
            own[_FILE_KEYS[key]] = read_secret_file(Path(str(value)), f"institutions.{code}.{key}")
        elif key in _PER_INSTITUTION or key == _TOKEN_FILE:
            own[key] = value
        else:
            raise ConfigError(f"institutions.{code}.{key}: not a per-institution setting (one of "
                              f"{', '.join(sorted(_PER_INSTITUTION | set(_FILE_KEYS) | {_TOKEN_FILE}))})")
    for key in _PER_INSTITUTION | SECRET_KEYS:
        value = environ.get(institution_env(code, key))
        if value:
            own[key] = value
    return own


Declared = TypeVar("Declared")


def chosen(declared: Mapping[str, Declared], wanted: str | None) -> Mapping[str, Declared]:
    """Every declared institution, or the one `gdwi --institution` names (ConfigError if none)."""
    if wanted is None:
        return declared
    if wanted not in declared:
        raise ConfigError(f"--institution {wanted}: not an institution of this configuration "
                          f"(one of {', '.join(declared)})")
    return {wanted: declared[wanted]}
