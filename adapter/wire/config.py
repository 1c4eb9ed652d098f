"""Settings from the environment and an optional TOML file; secrets never from code.

Environment (wins over the file):
  GDWI_BASE_URL      province base URL, e.g. http://10.0.0.1:8080 (no path)
  GDWI_PATH          endpoint path (default: the spec's /hygeia_esb_sj/api/call.action)
  GDWI_USERID        sys0001 login user id (NOT the institution code)
  GDWI_PASSWORD      sys0001 password
  GDWI_AKB020        institution code akb020 sent in every bizh call
  GDWI_JOURNAL       journal SQLite file (default ./gdwi-journal.sqlite)
  GDWI_CONFIG        TOML file with the same keys in lower case (base_url, userid, ...)
  GDWI_CA_FILE, GDWI_CLIENT_CERT, GDWI_CLIENT_KEY, GDWI_CLIENT_KEY_PASSWORD   TLS
  GDWI_CONNECT_TIMEOUT, GDWI_READ_TIMEOUT (seconds), GDWI_MAX_BODY_BYTES
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from adapter.errors import ConfigError as ConfigError
from generated.registry import FIELDS, SPEC

_AKB020_SHAPE = re.compile(r"^[0-9A-Za-z]+$")


@dataclass(frozen=True)
class Settings:
    base_url: str
    userid: str
    password: str = field(repr=False)
    akb020: str
    path: str = SPEC.path
    journal_path: str = "gdwi-journal.sqlite"
    connect_timeout: float = 10.0
    # The vendor's reference client waits up to 600 s; settlement calls can be slow.
    read_timeout: float = 120.0
    max_body_bytes: int = 10 * 1024 * 1024
    query_retries: int = 2
    retry_backoff: float = 0.2
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    client_key_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_akb020(self.akb020)
        if not self.userid:
            raise ConfigError("GDWI_USERID: the sys0001 login user id is empty")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"GDWI_BASE_URL: must start with http:// or https://, got {self.base_url!r}")

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + self.path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if env is None else env
        values: dict[str, Any] = {}
        config_file = environ.get("GDWI_CONFIG")
        if config_file:
            values.update(_read_toml(Path(config_file)))
        for setting in fields(cls):
            raw = environ.get(f"GDWI_{setting.name.upper()}")
            if raw is None and setting.name == "journal_path":
                raw = environ.get("GDWI_JOURNAL")
            if raw is not None:
                values[setting.name] = raw
        missing = [n for n in ("base_url", "userid", "password", "akb020") if not values.get(n)]
        if missing:
            names = ", ".join(f"GDWI_{n.upper()}" for n in missing)
            raise ConfigError(f"missing settings: {names} (environment or GDWI_CONFIG file)")
        return cls(**_coerce(values))


def check_akb020(value: str) -> None:
    """The institution code's shape: a known production bug sent the login user id instead."""
    limit = FIELDS["akb020"].max_length
    if not value or not _AKB020_SHAPE.match(value) or (limit is not None and len(value) > limit):
        raise ConfigError(
            f"GDWI_AKB020 akb020 医疗机构编码: must be 1-{limit} letters or digits, got {value!r}"
        )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return dict(tomllib.load(handle))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"GDWI_CONFIG: cannot read {path.name}: {exc}") from None


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    types = {f.name: f.type for f in fields(Settings)}
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in types:
            raise ConfigError(f"unknown setting {name!r}")
        kind = str(types[name])
        try:
            if kind == "float":
                out[name] = float(value)
            elif kind == "int":
                out[name] = int(value)
            else:
                out[name] = None if value is None else str(value)
        except ValueError:
            raise ConfigError(f"GDWI_{name.upper()}: not a number: {value!r}") from None
    return out
