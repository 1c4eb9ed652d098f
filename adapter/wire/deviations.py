"""Where an answer of the province differs from spec/: the unit of spec drift.

Answers are read tolerantly (a committed step is never reported as a failure), so a deviation is
not an error: it is recorded with the answer's journal entry and summarised by `gdwi spec drift`,
which is how spec/ converges on the real platform after go-live.
"""

from __future__ import annotations

from dataclasses import dataclass
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
