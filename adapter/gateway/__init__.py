"""The HIS gateway: an HTTP JSON service in front of the HIS layer, for HIS stacks that are not Python.

    gdwi gateway serve --host 127.0.0.1 --port 8090 [--token-file F]     # GDWI_GATEWAY_TOKEN

A HIS (C#, Java, Delphi, PowerBuilder …) makes one HTTP call per business step, in HIS words, and
never sees XML; the gateway calls adapter.his services through one adapter.Client (validation,
journal, session, the province's wire). docs/gateway.md walks through it with curl and C#.

Modules:
  app        create_gateway(client, token=...) -> Starlette app; body reading, threads, answers;
             create_group_gateway(clients, tokens) for several institutions, a token bound to each
  endpoints  the endpoint table (path, body shape, service call, transactions) used by app and openapi
  bodies     request bodies and result shapes as dataclasses
  convert    JSON <-> dataclasses through pydantic models derived from them: Decimal as strings,
             dates YYYY-MM-DD, every problem named by its location
  labels     the 中文名 of each attribute, from the class docstrings
  health     /health and /ready: the province login and a journal write; the start line
  idempotency  Idempotency-Key: the same key and call replays the saved answer
  memory     after a large body, memory back to the operating system
  errors     exceptions -> status + one JSON error shape (field details, masked messages)
  auth       bearer-token middleware (constant-time compare); docs stay public
  openapi    the OpenAPI 3.1 document built from the table, and the self-contained /docs page
  server     uvicorn in the foreground (serve) or in a thread (GatewayServer, for tests)
"""

from adapter.gateway.app import create_gateway, create_group_gateway
from adapter.gateway.server import GatewayServer, is_loopback, serve

__all__ = ["GatewayServer", "create_gateway", "create_group_gateway", "is_loopback", "serve"]
