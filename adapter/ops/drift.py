"""Spec drift: where the province's answers differ from spec/, summarised for a spec edit.

The client records every deviation of an answer with its journal entry (adapter.wire.deviations,
`Journal.deviations()`); this module groups them by function, field and kind — how often, first and
last seen, the masked samples — and says which edit of spec/ would make the spec match what the
platform sends ("bka888: value 3 seen 12 times, not in the closed list — add it?"). A proposal is
a suggestion for a person to check against the centre, never applied automatically.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from adapter.wire.deviations import Deviation, DeviationKind
from generated.registry import FIELDS, FUNCTIONS

__all__ = ["DriftItem", "summarise"]

SAMPLES_SHOWN = 3


@dataclass
class DriftItem:
    """One (function, field, kind) and what was seen of it."""

    function_id: str
    code: str
    kind: DeviationKind
    count: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    entries: set[int] = field(default_factory=set)
    paths: Counter[str] = field(default_factory=Counter)
    samples: Counter[str] = field(default_factory=Counter)
    details: Counter[str] = field(default_factory=Counter)

    @property
    def label(self) -> str:
        """'bka888 个人基金状态', or the bare code when spec/ does not know it."""
        meta = FIELDS.get(self.code)
        return f"{self.code} {meta.name}" if meta else self.code

    def add(self, seen_at: datetime, entry_id: int, deviation: Deviation) -> None:
        self.count += 1
        self.first_seen = seen_at if self.first_seen is None else min(self.first_seen, seen_at)
        self.last_seen = seen_at if self.last_seen is None else max(self.last_seen, seen_at)
        self.entries.add(entry_id)
        self.paths[deviation.path] += 1
        if deviation.sample:
            self.samples[deviation.sample] += 1
        if deviation.detail:
            self.details[deviation.detail] += 1

    def proposal(self) -> str:
        return _PROPOSALS.get(self.kind, _other)(self)

    def as_json(self) -> dict[str, Any]:
        return {
            "function_id": self.function_id,
            "code": self.code,
            "name": FIELDS[self.code].name if self.code in FIELDS else None,
            "kind": str(self.kind),
            "count": self.count,
            "answers": len(self.entries),
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "paths": dict(self.paths.most_common()),
            "samples": dict(self.samples.most_common()),
            "proposal": self.proposal(),
        }


def summarise(recorded: Iterable[tuple[datetime, int, Deviation]]) -> list[DriftItem]:
    """Group `Journal.deviations()` by function, field and kind; the most frequent first."""
    items: dict[tuple[str, str, str], DriftItem] = {}
    for seen_at, entry_id, deviation in recorded:
        key = (deviation.function_id, deviation.code, str(deviation.kind))
        item = items.setdefault(key, DriftItem(deviation.function_id, deviation.code, deviation.kind))
        item.add(seen_at, entry_id, deviation)
    return sorted(items.values(), key=lambda i: (-i.count, i.function_id, i.code, str(i.kind)))


# --------------------------------------------------------------------------- proposals


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _unlisted(item: DriftItem) -> str:
    meta = FIELDS.get(item.code)
    where = f"spec/codes/{meta.code_list}.yaml" if meta and meta.code_list else "its code list"
    seen = item.samples.most_common(SAMPLES_SHOWN)
    values = "; ".join(f"value {value} seen {_times(n)}" for value, n in seen)
    return f"{item.code}: {values or 'unlisted values'}, not in the closed list — add it to {where}?"


def _extra_places(item: DriftItem) -> str:
    meta = FIELDS.get(item.code)
    scale = meta.scale if meta and meta.scale is not None else 0
    places = max((_places(sample) for sample in item.samples), default=scale)
    significant = [s for s in item.samples if _significant_places(s) > scale]
    if not significant:
        return (f"{item.code}: printed with {places} decimal places ({_times(item.count)}), only trailing "
                f"zeros beyond the spec's {scale} — read exactly; no spec change needed")
    example = significant[0]
    return (f"{item.code}: {len(significant)} value(s) with non-zero digits beyond the spec's {scale} places "
            f"(e.g. {example}) — set scale: {places} in spec/fields.yaml?")


def _unknown_element(item: DriftItem) -> str:
    known = "defined" if item.code in FIELDS else "new"
    return (f"{item.code}: element not in {item.function_id}'s answer, seen {_times(item.count)} — add it "
            f"as an optional answer field in spec/functions/{item.function_id}.yaml ({known} in "
            "spec/fields.yaml)?")


def _empty_element(item: DriftItem) -> str:
    if _required_in_answer(item.function_id, item.code):
        return (f"{item.code}: required but sent empty {_times(item.count)} — make it optional in "
                f"spec/functions/{item.function_id}.yaml?")
    return (f"{item.code}: optional and sent empty {_times(item.count)} — read as absent; no spec change "
            "needed")


def _missing(item: DriftItem) -> str:
    return (f"{item.code}: required answer field missing {_times(item.count)} — make it optional in "
            f"spec/functions/{item.function_id}.yaml, or ask the centre?")


def _bad_value(item: DriftItem) -> str:
    example = next(iter(item.samples), "")
    return (f"{item.code}: value outside the spec's type {_times(item.count)} (e.g. {example!r}) — check its "
            "type, length and pattern in spec/fields.yaml?")


def _broken_invariant(item: DriftItem) -> str:
    detail = next(iter(item.details), "an amount identity")
    return f"{detail}: did not hold {_times(item.count)} — check the identity in spec/spec.yaml invariants?"


def _other(item: DriftItem) -> str:
    return f"{item.code}: {item.kind} seen {_times(item.count)} — check spec/ against the samples"


_PROPOSALS: dict[DeviationKind, Callable[[DriftItem], str]] = {
    DeviationKind.UNLISTED_CODE: _unlisted,
    DeviationKind.EXTRA_PLACES: _extra_places,
    DeviationKind.UNKNOWN_ELEMENT: _unknown_element,
    DeviationKind.EMPTY_ELEMENT: _empty_element,
    DeviationKind.MISSING_FIELD: _missing,
    DeviationKind.BAD_VALUE: _bad_value,
    DeviationKind.BROKEN_INVARIANT: _broken_invariant,
}


def _required_in_answer(function_id: str, code: str) -> bool:
    meta = FUNCTIONS.get(function_id)
    if meta is None:
        return False
    uses = [*meta.response.fields, *(u for d in meta.response.datasets for u in d.fields)]
    return any(u.code == code and u.required for u in uses)


def _places(text: str) -> int:
    try:
        exponent = Decimal(text).as_tuple().exponent
    except InvalidOperation:
        return 0
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _significant_places(text: str) -> int:
    """Places after the point once trailing zeros are dropped: '174.6800' -> 2."""
    try:
        number = Decimal(text)
    except InvalidOperation:
        return 0
    if not number.is_finite():
        return 0
    exponent = number.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0
