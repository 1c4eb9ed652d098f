"""The mock province as an ASGI app (Starlette): the real XML wire, admin endpoints, a JSON view.

One router per view, each in its module: adapter.mock.wire_view (the wire), adapter.mock.json_view
(the JSON view and its OpenAPI document), adapter.mock.admin (the controls); what they share is in
adapter.mock.context. This module assembles them.

  POST {SPEC.path}               the wire: a raw `<program>` body, whatever the Content-Type
  POST /functions/{function_id}  the JSON view of generated/openapi.json (no session: for tools)
  GET  /openapi.json             that document
  /admin/...                     faults, session expiry, stage jumps, request log, reset, state

Bad input never gets a 5xx: it is answered HTTP 200 with return_code -1 and a message naming
the field by code and 中文名, as the province does. Every answer is built whole and sent with a
content-length in one body message, so it leaves in one write (see server.py for TCP_NODELAY).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from adapter.errors import AnswerDropped
from adapter.mock.admin import Admin
from adapter.mock.context import (
    DROP_EXTENSION,
    MockContext,
    ProvinceAPI,
    RequestLog,
    RequestRecord,
    context_of,
)
from adapter.mock.faults import FaultPlan
from adapter.mock.json_view import JsonView
from adapter.mock.style import AnswerStyle
from adapter.mock.wire_view import WireEndpoint
from generated.registry import SPEC

__all__ = [
    "DROP_EXTENSION",
    "AnswerDropped",
    "MockContext",
    "ProvinceAPI",
    "RequestLog",
    "RequestRecord",
    "context_of",
    "create_app",
]


def create_app(
    province: ProvinceAPI | None = None,
    faults: FaultPlan | None = None,
    *,
    requests: RequestLog | None = None,
    default_akb020: str | None = None,
    style: AnswerStyle | None = None,
    admin_token: str | None = None,
) -> Starlette:
    """The mock province. `default_akb020` (JSON view) defaults to the first seeded institution;
    `style` (how wire answers are written, adapter.mock.style) to the seed's, else strict.
    `admin_token`: /admin answers only requests with `Authorization: Bearer <token>` (set when
    the mock listens beyond loopback)."""
    if province is None:
        from adapter.mock.province import MockProvince  # the default only; tests may pass stand-ins

        province = MockProvince()
    chosen: ProvinceAPI = province
    context = MockContext(
        province=chosen,
        faults=faults if faults is not None else FaultPlan(),
        requests=requests if requests is not None else RequestLog(),
        default_akb020=default_akb020 or _first_institution(chosen),
        style=style or _seeded_style(chosen),
    )
    wire = WireEndpoint(context)
    views = JsonView(context)
    admin = Admin(context, admin_token)
    routes = [
        Route(SPEC.path, wire.post, methods=["POST"]),
        Route("/openapi.json", views.openapi, methods=["GET"]),
        Route("/functions/{function_id}", views.post, methods=["POST"]),
        *admin.routes(),
    ]
    app = Starlette(routes=routes)
    app.state.mock = context
    return app


def _seeded_style(province: ProvinceAPI) -> AnswerStyle:
    """The seed's answer style (MockProvince has `.seed`; a stand-in may not): strict by default."""
    style = getattr(getattr(province, "seed", None), "style", None)
    return style if isinstance(style, AnswerStyle) else AnswerStyle()


def _first_institution(province: ProvinceAPI) -> str | None:
    """The first seeded institution's akb020 (MockProvince has `.seed`; a stand-in may not)."""
    seed = getattr(province, "seed", None)
    institutions = getattr(seed, "institutions", None)
    return next(iter(institutions), None) if institutions else None
