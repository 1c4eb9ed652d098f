"""The amount identities of spec/ (akc264 = bka831 + bka832, …), checked in Decimal arithmetic.

The identities live in spec/spec.yaml `invariants`; the registry lists each with the answer scopes
(response scalars, or the rows of one dataset) that carry its total and every part. This is the
one evaluator: the client warns with it, the mock and the settlement sheet check their figures
with it, the tests assert with it. A breach is a warning: the answer stays readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache

from adapter.wire.deviations import Deviation, DeviationKind
from generated._types import InvariantMeta
from generated.registry import INVARIANTS, field_label

__all__ = ["Breach", "breaches", "deviations", "evaluate", "invariant", "invariants_of", "unmet"]

ZERO = Decimal(0)


@dataclass(frozen=True)
class Breach:
    """One scope of one answer where the stated total is not the sum of its parts."""

    function_id: str
    invariant: InvariantMeta
    path: str  # "" for the scalars, "payinfo[0]" for a row
    stated: Decimal
    computed: Decimal

    def __str__(self) -> str:
        where = f" {self.path}" if self.path else ""
        parts = " + ".join(self.invariant.parts)
        return (f"{self.function_id}{where}: {field_label(self.invariant.total)} {self.stated} != "
                f"{parts} = {self.computed} ({self.invariant.title})")


def invariant(name: str) -> InvariantMeta:
    """One identity by its spec name (KeyError names the ones there are)."""
    for meta in INVARIANTS:
        if meta.name == name:
            return meta
    raise KeyError(f"no invariant {name!r}; the spec has {', '.join(m.name for m in INVARIANTS)}")


def evaluate(meta: InvariantMeta, values: Mapping[str, object]) -> tuple[Decimal, Decimal] | None:
    """(stated total, sum of the parts) of one scope; None when a value is absent or not a number.

    Absent is not zero: an answer that leaves a part out cannot show the identity either way.
    """
    amounts = [_amount(values.get(code)) for code in (meta.total, *meta.parts)]
    if any(amount is None for amount in amounts):
        return None
    stated, *parts = amounts
    assert stated is not None
    return stated, sum((part for part in parts if part is not None), ZERO)


@cache
def invariants_of(function_id: str) -> tuple[tuple[InvariantMeta, str | None], ...]:
    """(identity, dataset or None) for every scope of this function's answer the spec checks."""
    return tuple((meta, dataset) for meta in INVARIANTS
                 for fid, dataset in meta.scopes if fid == function_id)


def breaches(function_id: str, answer: Mapping[str, object]) -> list[Breach]:
    """Every identity that does not hold in a decoded answer (wire text or Decimal values)."""
    found: list[Breach] = []
    for meta, dataset in invariants_of(function_id):
        for path, scope in _scopes(answer, dataset):
            result = evaluate(meta, scope)
            if result is not None and result[0] != result[1]:
                found.append(Breach(function_id, meta, path, *result))
    return found


def deviations(function_id: str, answer: Mapping[str, object]) -> list[Deviation]:
    """The breaches as deviations, for the journal's spec-drift record (amounts are not PII)."""
    return [
        Deviation(function_id, f"{b.path}.{b.invariant.total}" if b.path else b.invariant.total,
                  b.invariant.total, DeviationKind.BROKEN_INVARIANT, str(b.stated), str(b))
        for b in breaches(function_id, answer)
    ]


def unmet(values: Mapping[str, object]) -> list[str]:
    """Every identity one scope (an answer's scalars, or one row) carries in full and breaks.

    For callers that hold a scope rather than a whole answer: the mock's own figures, a test's row.
    """
    found = []
    for meta in INVARIANTS:
        result = evaluate(meta, values)
        if result is not None and result[0] != result[1]:
            found.append(f"{field_label(meta.total)} {result[0]} != {' + '.join(meta.parts)} = {result[1]} "
                         f"({meta.title})")
    return found


def _scopes(answer: Mapping[str, object], dataset: str | None) -> list[tuple[str, Mapping[str, object]]]:
    if dataset is None:
        return [("", answer)]
    rows = answer.get(dataset)
    if not isinstance(rows, list):
        return []
    return [(f"{dataset}[{index}]", row) for index, row in enumerate(rows) if isinstance(row, Mapping)]


def _amount(value: object) -> Decimal | None:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None
