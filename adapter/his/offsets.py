"""Refund rows (冲减): how saved fee rows are taken back where a city offers no fee deletion.

"有些地市不允许删除费用、只能退费做冲减" (bizh120004 in the reference): where a city's profile
(spec/cities.yaml, `Settings.city`) offers no deletion, every saved row is answered by a refund row
through the fee upload — the same item, price and date, quantity and amount negated — so the stay's
totals net back to what they were before those rows. The province keeps both rows; the fee list
(bizh120113) shows them, and every total counts them.

The province cannot give the rows back with their item codes (bizh120113 lists names, not ake005),
so the caller passes the rows it saved: the typed rows of the chunks the province accepted
(`refund_typed_rows`), or their wire rows as the journal holds them (`refund_rows`). The workflows
(adapter.his.workflows) send what this module builds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from generated.cities import CITIES, DEFAULT_CITY, CityMeta
from generated.registry import FIELDS, SPEC

__all__ = ["city_named", "refund_chunks", "refund_rows", "refund_typed_rows"]

# Quantity and amount change sign; everything else of the saved row is sent back as it was.
NEGATED = ("bka057", "bka058")


def city_named(key: str | None) -> CityMeta:
    """The profile of spec/cities.yaml named `key` (None: the spec's default)."""
    chosen = key or DEFAULT_CITY
    if chosen not in CITIES:
        raise ValueError(f"city {chosen!r}: not a profile of spec/cities.yaml (one of {', '.join(CITIES)})")
    return CITIES[chosen]


def refund_rows(saved: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """One refund row per saved wire row: quantity and amount negated, the rest unchanged."""
    return [{**row, **{code: _negated(row[code]) for code in NEGATED if code in row}} for row in saved]


def refund_chunks(visit_no: str, saved: Sequence[Mapping[str, str]]) -> list[dict[str, object]]:
    """The fee-upload messages offsetting `saved`: ≤ SPEC.fee_rows_per_call refund rows each."""
    rows = refund_rows(saved)
    size = SPEC.fee_rows_per_call
    return [{"aaz218": visit_no, "feeinfo": rows[start:start + size]} for start in range(0, len(rows), size)]


def refund_typed_rows(saved: Sequence[Any]) -> tuple[Any, ...]:
    """refund_rows for generated typed request rows: the same rows, quantity and amount negated."""
    names = [FIELDS[code].python_name for code in NEGATED]
    return tuple(replace(row, **{name: _negated_value(getattr(row, name)) for name in names})
                 for row in saved)


def _negated_value(value: object) -> object:
    """A typed amount negated (never -0); text as the HIS gave it, negated as text."""
    if isinstance(value, str):
        return _negated(value)
    if isinstance(value, Decimal):
        return value.copy_abs() if value.is_zero() else -value
    if isinstance(value, int) and not isinstance(value, bool):
        return -value
    return value


def _negated(text: str) -> str:
    value = -Decimal(text)
    return f"{value.copy_abs() if value.is_zero() else value:f}"  # never "-0.00"
