"""gdwi: the hand-written runtime around the generated contract.

The public surface, re-exported here (the implementation modules are private in spirit):

    from adapter import Client, Settings
    with Client(Settings.from_env()) as client:
        answer = client.bizh120001(request)   # generated.functions.bizh120001.Request -> .Answer

generated/ holds models, stubs and the registry, all derived from spec/; this package adds
what is not per-function: codec, transport, session, journal, errors, CLI. It never imports
codegen/.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapter.errors import (
        BusinessError,
        ContractError,
        GdwiError,
        InputError,
        OutcomeUnknownError,
        ServerFaultError,
        SessionExpiredError,
        TransportError,
        XmlRefusedError,
    )
    from adapter.wire.client import AsyncClient, Client
    from adapter.wire.config import ConfigError, Settings
    from adapter.wire.journal import Journal, Status

# Imported on first use (PEP 562): `gdwi --help` and every subpackage import go through this
# package, and the client alone pulls in httpx, pydantic and every generated model.
_HOMES = {
    "AsyncClient": "adapter.wire.client",
    "Client": "adapter.wire.client",
    "ConfigError": "adapter.wire.config",
    "Settings": "adapter.wire.config",
    "Journal": "adapter.wire.journal",
    "Status": "adapter.wire.journal",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        home = _HOMES[name]
    elif name in __all__:
        home = "adapter.errors"
    else:
        raise AttributeError(f"module 'adapter' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = [
    "AsyncClient",
    "BusinessError",
    "Client",
    "ConfigError",
    "ContractError",
    "GdwiError",
    "InputError",
    "Journal",
    "OutcomeUnknownError",
    "ServerFaultError",
    "SessionExpiredError",
    "Settings",
    "Status",
    "TransportError",
    "XmlRefusedError",
]
