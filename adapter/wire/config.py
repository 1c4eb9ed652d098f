"""Settings: one model, three sources (pydantic-settings), the same key everywhere.

A key `read_timeout` is `GDWI_READ_TIMEOUT` in the environment, `read_timeout = 30` in the TOML
file and `--set read_timeout=30` on the command line. Precedence: command line, then the
environment, then the TOML file (`GDWI_CONFIG` or `--config`), then the defaults below. Secrets
never from code, and the password never from the command line (the process list shows it).

  base_url      province base URL, e.g. http://10.0.0.1:8080 (a URL that already ends with
                the spec's path is understood)
  path          endpoint path (default: the spec's /hygeia_esb_sj/api/call.action)
  userid        sys0001 login user id (NOT the institution code)
  password      sys0001 password (environment or file only)
  akb020        institution code akb020 sent in every bizh call
  journal       journal SQLite file (default ./gdwi-journal.sqlite)
  ca_file, client_cert, client_key, client_key_password       TLS
  connect_timeout, read_timeout (seconds), max_body_bytes, query_retries, retry_backoff
  city          the city profile of spec/cities.yaml (default: the spec's, huizhou): whether fees
                may be deleted (bizh120004) and settlements cancelled in a later month
  call_deadline (seconds for a whole call, retries included), send_retries (resends of a
                request that certainly never left)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from difflib import get_close_matches
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from adapter.errors import ConfigError as ConfigError
from generated.cities import CITIES, DEFAULT_CITY
from generated.registry import FIELDS, SPEC

__all__ = ["ENV_PREFIX", "ConfigError", "Settings", "check_akb020", "describe_error", "env_name",
           "load_values"]

ENV_PREFIX = "GDWI_"
CONFIG_ENV = "GDWI_CONFIG"
SECRET_KEYS = frozenset({"password", "client_key_password"})
REQUIRED = ("base_url", "userid", "password", "akb020")
# The tables of several institutions (adapter.wire.institutions); not a key of Settings itself.
INSTITUTIONS_KEY = "institutions"
_AKB020_SHAPE = re.compile(r"^[0-9A-Za-z]+$")


def env_name(key: str) -> str:
    """The environment variable of a settings key: `read_timeout` -> `GDWI_READ_TIMEOUT`."""
    return f"{ENV_PREFIX}{key.upper()}"


class Settings(BaseModel):
    """Everything a client needs to reach the province. Built directly in code and tests, or by
    `Settings.from_env()` from the environment, the TOML file and command-line values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    userid: str
    password: str = Field(repr=False)
    akb020: str
    path: str = SPEC.path
    journal: str = "gdwi-journal.sqlite"
    connect_timeout: float = 10.0
    # The vendor's reference client waits up to 600 s; settlement calls can be slow.
    read_timeout: float = 120.0
    max_body_bytes: int = 10 * 1024 * 1024
    query_retries: int = 2
    retry_backoff: float = 0.2
    # A whole call, every retry and a trickling answer included, ends by then (issue 11): the
    # read timeout alone restarts with every byte that arrives.
    call_deadline: float = 300.0
    # Resends of a request that certainly never left (connect refused), any function.
    send_retries: int = 3
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    client_key_password: str | None = Field(default=None, repr=False)
    city: str = DEFAULT_CITY

    # Keyword names code used before the key was called `journal` everywhere.
    _RENAMED: ClassVar[dict[str, str]] = {"journal_path": "journal"}

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            data = {cls._RENAMED.get(key, key): value for key, value in data.items()}
        return data

    @model_validator(mode="after")
    def _checked(self) -> Settings:
        check_akb020(self.akb020)
        check_city(self.city)
        if not self.userid:
            raise ConfigError(f"{env_name('userid')}: the sys0001 login user id is empty")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{env_name('base_url')}: must start with http:// or https://, "
                              f"got {self.base_url!r}")
        if not self.path.startswith("/"):
            raise ConfigError(f"{env_name('path')}: must start with /, got {self.path!r}")
        for key in ("ca_file", "client_cert", "client_key"):
            value = getattr(self, key)
            if value and not Path(value).is_file():
                raise ConfigError(f"{env_name(key)}: no such file: {value}")
        return self

    @property
    def journal_path(self) -> str:
        return self.journal

    @property
    def url(self) -> str:
        """base_url + path; a base URL published with the path already on it is taken as is."""
        base = self.base_url.rstrip("/")
        return base if base.endswith(self.path) else base + self.path

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, config: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Settings from the sources; ConfigError names each missing or bad key."""
        values = load_values(env, config=config, overrides=overrides)
        if values.pop("institutions", None):
            raise ConfigError("this configuration declares `institutions`: choose one (`gdwi --institution "
                              "CODE`, adapter.wire.institutions.settings_for)")
        missing = [key for key in REQUIRED if not values.get(key)]
        if missing:
            names = ", ".join(env_name(key) for key in missing)
            raise ConfigError(f"missing settings: {names} (environment, {CONFIG_ENV} file or --set)")
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(describe_error(exc)) from None


def check_akb020(value: str) -> None:
    """The institution code's shape: a known production bug sent the login user id instead."""
    limit = FIELDS["akb020"].max_length
    if not value or not _AKB020_SHAPE.match(value) or (limit is not None and len(value) > limit):
        raise ConfigError(
            f"{env_name('akb020')} akb020 医疗机构编码: must be 1-{limit} letters or digits, got {value!r}"
        )


def check_city(value: str) -> None:
    if value not in CITIES:
        raise ConfigError(f"{env_name('city')}: {value!r} is not a city profile of spec/cities.yaml "
                          f"(one of {', '.join(CITIES)})")


def closest_key(key: str) -> str:
    """' (did you mean journal?)' for a key close to a valid one, else ''."""
    match = get_close_matches(key.lower(), list(Settings.model_fields), n=1, cutoff=0.5)
    return f" (did you mean {match[0]}?)" if match else ""


def load_values(
    env: Mapping[str, str] | None = None, *, config: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The merged raw values of every source (nothing required yet): journal commands read their
    key without needing the province's. Unknown keys in the file or the overrides are refused.
    `institutions` (the file's tables, or GDWI_INSTITUTIONS) is kept as found: see
    adapter.wire.institutions."""
    environ = os.environ if env is None else env
    given = dict(overrides or {})
    for key in given:
        if key not in Settings.model_fields:
            raise ConfigError(f"unknown setting {key!r}{closest_key(key)}")
        if key in SECRET_KEYS:
            raise ConfigError(f"{key}: never on the command line (others can read it in the process "
                              f"list); set {env_name(key)} or put it in the {CONFIG_ENV} file")
    toml_file = Path(config) if config else (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    if toml_file is not None and not toml_file.is_file():
        raise ConfigError(f"{CONFIG_ENV}: no such file: {toml_file}")
    if toml_file is not None:
        check_private(toml_file)
    token = _INPUTS.set((environ, toml_file))
    try:
        raw = _sources_model()(**given)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, toml_file)) from None
    except ValueError as exc:  # a TOML syntax error, raised by the file source as it reads
        raise ConfigError(f"{CONFIG_ENV}: cannot read {toml_file}: {exc}") from None
    finally:
        _INPUTS.reset(token)
    return {key: value for key, value in raw.model_dump().items() if value is not None}


def check_private(toml_file: Path) -> None:
    """A settings file that holds a secret must be its owner's alone, as the password and token
    files are (adapter.wire.institutions.read_secret_file); a file without one may be any mode."""
    import stat
    import tomllib

    mode = toml_file.stat().st_mode
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return
    try:
        document = tomllib.loads(toml_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return  # the settings source reports what is wrong with the file
    held = secrets_in(document)
    if held:
        raise ConfigError(f"{CONFIG_ENV}: {toml_file} holds {held} and is open to other users "
                          f"(mode {stat.filemode(mode)}): `chmod 600 {toml_file}`")


def secrets_in(document: Mapping[str, Any]) -> str:
    """Which secret a settings document holds ('a password', 'a token'), or ''."""
    from adapter.wire.database import mask_dsn

    tables = [document, *(table for table in _mapping(document.get(INSTITUTIONS_KEY)).values()
                          if isinstance(table, Mapping))]
    for table in tables:
        if any(table.get(key) for key in SECRET_KEYS):
            return "a password"
        if table.get("token") or table.get("gateway_token"):
            return "a token"
    journal = document.get("journal")
    if isinstance(journal, str) and mask_dsn(journal) != journal:
        return "a password (in the journal URL)"
    return ""


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# --------------------------------------------------------------------------- sources


class _MappingEnvSource(EnvSettingsSource):
    """The environment source over a given mapping (tests, `from_env(env)`) instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key.lower(): value for key, value in self._environ.items() if value != ""}


# The environment and file of the load under way (a context variable: loads in threads stay apart).
_INPUTS: ContextVar[tuple[Mapping[str, str], Path | None]] = ContextVar("gdwi_settings_inputs")


@cache
def _sources_model() -> type[BaseSettings]:
    """A BaseSettings with Settings' keys, all optional and untyped (Settings checks them), reading
    the command line (init), then the environment, then the TOML file."""

    class _Sources(BaseSettings):
        model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, case_sensitive=False, extra="forbid",
                                          env_ignore_empty=True)

        @classmethod
        def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            environ, toml_file = _INPUTS.get()
            env_source = _MappingEnvSource(settings_cls, environ)
            if toml_file is None:
                return init_settings, env_source
            return init_settings, env_source, TomlConfigSettingsSource(settings_cls, toml_file=toml_file)

    fields: dict[str, Any] = {key: (Any, None) for key in (*Settings.model_fields, INSTITUTIONS_KEY)}
    return create_model("SettingsSources", __base__=_Sources, **fields)


def describe_error(exc: ValidationError, toml_file: Path | None = None) -> str:
    """One line per bad key, named as the environment variable and the file key."""
    lines = []
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "extra_forbidden":
            where = f" in {toml_file}" if toml_file else ""
            lines.append(f"unknown setting {key!r}{where}{closest_key(key)}")
            continue
        shown = "(hidden)" if key in SECRET_KEYS else repr(error.get("input"))
        lines.append(f"{env_name(key)} ({key}): {error['msg'].lower()}, got {shown}")
    return "; ".join(lines)
