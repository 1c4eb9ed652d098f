"""Where an answer of the province differs from spec/: the unit of spec drift.

Answers are read tolerantly (a committed step is never reported as a failure), so a deviation is
not an error: it is recorded with the answer's journal entry and summarised by `gdwi spec drift`,
which is how spec/ converges on the real platform after go-live.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum


class DeviationKind(StrEnum):
    EXTRA_PLACES = "extra_places"  # a decimal with more places than the spec's scale
    UNLISTED_CODE = "unlisted_code"  # a value outside a closed code list
    UNKNOWN_ELEMENT = "unknown_element"  # an element the spec does not list for this answer
    EMPTY_ELEMENT = "empty_element"  # an element present but empty
    MISSING_FIELD = "missing_field"  # a required answer field that is absent
    BAD_VALUE = "bad_value"  # any other value the spec's type does not allow (kept as text)
    BROKEN_INVARIANT = "broken_invariant"  # amounts that break an identity of spec/ (akc264 = …)


@dataclass(frozen=True)
class Deviation:
    """One field of one answer that differs from the spec.

    `path` locates it in the answer (`bka888`, `feeinfo[3].bka058`); `code` is the wire code
    alone; `sample` is the value as received, already masked when the field is PII.
    """

    function_id: str
    path: str
    code: str
    kind: DeviationKind
    sample: str
    detail: str = ""

    def __str__(self) -> str:
        sample = f" {self.sample!r}" if self.sample else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.function_id} {self.path} {self.kind}{sample}{detail}"


# A real 700-row answer repeats the same deviation on every row (an empty optional element, a
# 4-place amount): one record per row swamps the journal and the log without saying more.
_ROW_INDEX = re.compile(r"\[\d+\]")
# Kinds whose value says something of its own (which code, which bad text): one record per value.
_VALUE_KINDS = frozenset({DeviationKind.UNLISTED_CODE, DeviationKind.BAD_VALUE})


def collapse_rows(deviations: Iterable[Deviation]) -> list[Deviation]:
    """One deviation per field and kind across the rows of one answer, in first-seen order.

    Repeats become `feeinfo[*].bka058` with the row count in `detail`; a single occurrence is kept
    as it was. For extra places the sample kept is the one with the most significant digits, so
    `gdwi spec drift` still proposes the scale the rows need.
    """
    groups: dict[tuple[str, str, str, str], list[Deviation]] = {}
    for deviation in deviations:
        shared = deviation.sample if deviation.kind in _VALUE_KINDS else ""
        key = (deviation.function_id, str(deviation.kind), _ROW_INDEX.sub("[*]", deviation.path), shared)
        groups.setdefault(key, []).append(deviation)
    return [_one_for(key[2], group) for key, group in groups.items()]


def _one_for(wildcard_path: str, group: list[Deviation]) -> Deviation:
    if len(group) == 1:
        return group[0]
    kept = max(group, key=_sample_weight) if group[0].kind == DeviationKind.EXTRA_PLACES else group[0]
    rows = f"in {len(group)} rows, first {group[0].path}"
    return replace(kept, path=wildcard_path, detail=f"{rows}: {kept.detail}" if kept.detail else rows)


def _sample_weight(deviation: Deviation) -> tuple[int, int]:
    """(significant decimal places, all decimal places) of a decimal sample."""
    places = deviation.sample.partition(".")[2]
    return len(places.rstrip("0")), len(places)
