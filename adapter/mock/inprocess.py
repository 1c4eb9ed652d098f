"""A synchronous httpx transport into the mock's ASGI app: the province with no socket.

`Client(settings, http_transport=InProcessTransport(create_app()))` talks the real XML wire
to an in-memory province, for HIS developers' unit tests and for ours.
"""

from __future__ import annotations

import asyncio

import httpx
from starlette.types import ASGIApp


class InProcessTransport(httpx.BaseTransport):
    def __init__(self, app: ASGIApp) -> None:
        self._asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def exchange() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            body = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=body)

        # One short-lived event loop per call: the app keeps no loop-bound state between calls.
        return asyncio.run(exchange())
