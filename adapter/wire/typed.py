"""The generated typed models, reached by wire code, and sent through any caller.

Callers that pick a function by a registry role (recovery asks "the listing query" of a function,
whatever its id) or compare fields by their wire code use these instead of the per-function
attributes: `request_by_codes` fills generated.functions.<id>.Request, `value_of` / `rows_of` read
a typed request, answer or row by code. `send_typed` sends a typed request through the client's
typed path (`Client.send`), or through a caller that only speaks wire dicts (a wrapper, a test
double): there the generated `build_request` writes the wire values and the answer is read as
the client reads it. Either way wire text is written and read by generated code only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from adapter.wire.client import Reply, converters, reply_from_values, write_request
from generated.registry import FIELDS

__all__ = ["WireCaller", "request_by_codes", "rows_of", "send_typed", "value_of"]


class WireCaller(Protocol):
    """The least a caller must offer: adapter.Client has it, and `send`, used when present."""

    def call_wire(self, function_id: str, values: dict[str, Any]) -> dict[str, Any]: ...


def request_by_codes(function_id: str, values: Mapping[str, Any]) -> Any:
    """generated.functions.<id>.Request with `values` keyed by wire code (by python_name)."""
    return converters(function_id).Request(**{FIELDS[code].python_name: value
                                              for code, value in values.items()})


def value_of(model: object, code: str) -> Any:
    """A typed request's, answer's or row's value of wire code `code`; None when absent.

    Text is stripped, and text that is only spacing counts as absent (an empty element).
    """
    value = getattr(model, FIELDS[code].python_name, None)
    if isinstance(value, str):
        return value.strip() or None
    return value


def rows_of(model: object, dataset: str) -> tuple[Any, ...]:
    """The rows of dataset `dataset` (its wire name) in a typed request or answer."""
    attribute = getattr(type(model), "DATASETS", {}).get(dataset)
    return tuple(getattr(model, attribute)) if attribute else ()


def send_typed(caller: WireCaller, function_id: str, request: Any) -> Reply[Any]:
    """Send a generated typed request; the answer typed, with its deviations.

    A caller with `send` (adapter.Client) takes the typed path itself, so deviations and the
    journal entry come with the answer; any other caller gets the generated build's wire values.
    """
    send = getattr(caller, "send", None)
    if callable(send):
        return send(function_id, request)  # type: ignore[no-any-return]
    wire = write_request(function_id, request, converters(function_id).build_request)
    return reply_from_values(function_id, caller.call_wire(function_id, wire))
