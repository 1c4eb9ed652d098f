"""Interleaved timing: A and B alternate call by call, so noise on this shared machine hits both.

Each pair is a batch of alternating calls; its ratio is median(A) / median(B). A figure is the
median of the pair ratios, shown with their min and max.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

PAIRS = 7


@dataclass
class Spread:
    """Several measurements of one quantity: the figure is the median, min–max is the spread."""

    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


@dataclass
class Paired:
    """Pair ratios of A to B, and every A and B time (ms) seen."""

    ratios: Spread = field(default_factory=Spread)
    a_ms: list[float] = field(default_factory=list)
    b_ms: list[float] = field(default_factory=list)

    @property
    def b_median(self) -> float:
        return statistics.median(self.b_ms)

    @property
    def a_median(self) -> float:
        return statistics.median(self.a_ms)

    def a_percentile(self, share: float) -> float:
        ordered = sorted(self.a_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def timed_ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def interleave(
    a: Callable[[], object],
    b: Callable[[], object],
    *,
    pairs: int = PAIRS,
    batch: int = 40,
    warm: int = 10,
    between: Callable[[], object] | None = None,
) -> Paired:
    """`pairs` batches of `batch` A,B alternations (B first in every other batch)."""
    for _ in range(warm):
        a()
        b()
    result = Paired()
    for index in range(pairs):
        if between is not None:
            between()
        a_times, b_times = [], []
        for _ in range(batch):
            if index % 2:
                b_times.append(timed_ms(b))
                a_times.append(timed_ms(a))
            else:
                a_times.append(timed_ms(a))
                b_times.append(timed_ms(b))
        result.ratios.values.append(statistics.median(a_times) / statistics.median(b_times))
        result.a_ms += a_times
        result.b_ms += b_times
    return result
