"""The admin router: faults, session expiry, stage jumps, the request log, reset and state, as
plain JSON (a bad request is a 400 with {"error": ...}); behind a bearer token when one is set.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapter.errors import MockError
from adapter.mock.context import MockContext, json_response
from adapter.mock.faults import FaultError
from adapter.mock.refusal import Refusal


class _AdminError(MockError):
    """A bad admin request: answered 400 with the message."""


class Admin:
    """Test and demo controls. Plain JSON; a bad request is a 400 with {"error": ...}."""

    def __init__(self, context: MockContext, token: str | None = None) -> None:
        self.context = context
        self._token = token

    def routes(self) -> list[Route]:
        return [
            Route("/admin/faults", self._guard(self.add_fault), methods=["POST"]),
            Route("/admin/faults", self._guard(self.list_faults), methods=["GET"]),
            Route("/admin/faults", self._guard(self.clear_faults), methods=["DELETE"]),
            Route("/admin/sessions/expire", self._guard(self.expire_sessions), methods=["POST"]),
            Route("/admin/stays/{aaz218}/stage", self._guard(self.jump), methods=["POST"]),
            Route("/admin/requests", self._guard(self.list_requests), methods=["GET"]),
            Route("/admin/reset", self._guard(self.reset), methods=["POST"]),
            Route("/admin/state", self._guard(self.state), methods=["GET"]),
        ]

    def _guard(
        self, handler: Callable[[Request], Awaitable[Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if self._token is not None and not _bearer_matches(request, self._token):
                return json_response({"error": "admin token required (Authorization: Bearer <token>)"},
                             status_code=401)
            try:
                return json_response(await handler(request))
            except (_AdminError, FaultError) as exc:
                return json_response({"error": str(exc)}, status_code=400)
            except Refusal as refusal:
                return json_response({"error": refusal.message, "code": refusal.code}, status_code=400)

        return endpoint

    async def add_fault(self, request: Request) -> dict[str, Any]:
        rule = self.context.faults.add_json(await _admin_json(request))
        return {"rule": rule.as_json()}

    async def list_faults(self, request: Request) -> dict[str, Any]:
        del request
        return {"rules": self.context.faults.as_json()}

    async def clear_faults(self, request: Request) -> dict[str, Any]:
        del request
        return {"cleared": self.context.faults.clear()}

    async def expire_sessions(self, request: Request) -> dict[str, Any]:
        del request
        self.context.province.expire_sessions()
        return {"expired": True}

    async def jump(self, request: Request) -> dict[str, Any]:
        aaz218 = str(request.path_params["aaz218"])
        data = await _admin_json(request)
        stage = data.get("stage") if isinstance(data, dict) else None
        if not isinstance(stage, str) or not stage:
            raise _AdminError('body must be {"stage": "<stage name>"}')
        try:
            self.context.province.jump(aaz218, stage)
        except (KeyError, ValueError) as exc:
            raise _AdminError(f"{aaz218}: cannot jump to {stage!r}: {exc}") from None
        return {"aaz218": aaz218, "stage": self.context.province.stage_of(aaz218)}

    async def list_requests(self, request: Request) -> dict[str, Any]:
        function_id = request.query_params.get("function_id")
        records = self.context.requests.records(function_id)
        return {"requests": [asdict(record) for record in records]}

    async def reset(self, request: Request) -> dict[str, Any]:
        """Province back to its seed, no faults, empty request log."""
        del request
        self.context.province.reset()
        self.context.faults.clear()
        self.context.requests.clear()
        return {"reset": True}

    async def state(self, request: Request) -> dict[str, Any]:
        del request
        return self.context.province.snapshot()


def _bearer_matches(request: Request, token: str) -> bool:
    given = request.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


async def _admin_json(request: Request) -> Any:
    body = await request.body()
    if not body:
        return {}
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise _AdminError(f"body is not JSON: {exc}") from None
