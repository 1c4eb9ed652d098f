"""gdwi: the hand-written runtime around the generated contract.

The public surface, re-exported here (the implementation modules are private in spirit):

    from adapter import Client, Settings
    with Client(Settings.from_env()) as client:
        answer = client.bizh120001(request)

generated/ holds models, stubs and the registry, all derived from spec/; this package adds
what is not per-function: codec, transport, session, journal, errors, CLI. It never imports
codegen/.
"""

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
