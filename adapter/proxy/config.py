"""What one proxy process needs: the upstream, the journal, the mode per function, the limits.

Limits and timeouts default to the client's (adapter/wire/config.py `Settings`), so a HIS behind
the proxy meets the same body cap and deadlines as one using the client. TLS to the upstream is
built by the client's `transport.tls_context`. The proxy needs no login settings: the HIS keeps
its own sys0001 session, and the proxy only relays it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from adapter.errors import ProxyConfigError
from adapter.wire.config import Settings
from generated.registry import FUNCTIONS, SPEC

__all__ = ["Mode", "ProxyConfig", "ProxyConfigError", "parse_overrides"]

_CLIENT_DEFAULTS: dict[str, Any] = {name: info.default for name, info in Settings.model_fields.items()}


class Mode(StrEnum):
    OBSERVE = "observe"  # forward everything, record what breaks the spec
    ENFORCE = "enforce"  # answer a request that breaks the spec locally; it never leaves


@dataclass(frozen=True)
class ProxyConfig:
    upstream: str  # the province's base URL (scheme://host:port); the HIS's path is appended
    journal_path: str = str(_CLIENT_DEFAULTS["journal"])
    mode: Mode = Mode.OBSERVE
    overrides: Mapping[str, Mode] = field(default_factory=dict)
    path: str = SPEC.path
    connect_timeout: float = float(_CLIENT_DEFAULTS["connect_timeout"])
    read_timeout: float = float(_CLIENT_DEFAULTS["read_timeout"])
    max_body_bytes: int = int(_CLIENT_DEFAULTS["max_body_bytes"])
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    client_key_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Plain strings are accepted ("enforce"); stored as Mode so comparisons are exact.
        object.__setattr__(self, "mode", Mode(self.mode))
        object.__setattr__(self, "overrides", {fid: Mode(mode) for fid, mode in self.overrides.items()})
        if not self.upstream.startswith(("http://", "https://")):
            raise ProxyConfigError(f"--upstream: must start with http:// or https://, got {self.upstream!r}")
        unknown = sorted(set(self.overrides) - set(FUNCTIONS))
        if unknown:
            raise ProxyConfigError(f"--override: unknown function_id {', '.join(unknown)}")
        if self.max_body_bytes <= 0:
            raise ProxyConfigError("--max-body-bytes: must be positive")

    def mode_for(self, function_id: str) -> Mode:
        return self.overrides.get(function_id, self.mode)

    @property
    def upstream_url(self) -> str:
        """upstream + path; an upstream given as the full endpoint URL (what the HIS has now) is
        taken as is, as the client's base_url is."""
        base = self.upstream.rstrip("/")
        return base if base.endswith(self.path) else base + self.path

    @classmethod
    def with_tls_from_env(
        cls, upstream: str, env: Mapping[str, str] | None = None, **options: Any
    ) -> ProxyConfig:
        """The client's TLS variables (GDWI_CA_FILE, GDWI_CLIENT_CERT, ...), never arguments."""
        environ = os.environ if env is None else env
        tls: dict[str, Any] = {name: environ.get(f"GDWI_{name.upper()}") or None
                               for name in ("ca_file", "client_cert", "client_key", "client_key_password")}
        return cls(upstream=upstream, **tls, **options)


def parse_overrides(items: list[str]) -> dict[str, Mode]:
    """`["bizh120002=enforce", ...]` -> {function_id: Mode}; a bad item names itself."""
    overrides: dict[str, Mode] = {}
    for item in items:
        function_id, _, mode = item.partition("=")
        if mode not in set(Mode):
            raise ProxyConfigError(f"--override {item!r}: expected FUNCTION_ID=observe|enforce")
        overrides[function_id.strip()] = Mode(mode)
    return overrides
