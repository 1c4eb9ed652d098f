"""One figure per `bench` line: `bench <name>: <value> <unit> (goal <goal>) PASS|MISS`."""

from __future__ import annotations

from dataclasses import dataclass

from measure import Paired, Spread


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    goal: float
    baseline: str  # what the value is measured against, with its own value
    low: float | None = None  # spread: min and max of the pair ratios or repeated runs
    high: float | None = None
    runs: int = 0
    at_least: bool = False  # the goal is a floor (throughput), not a ceiling

    @classmethod
    def ratio(cls, name: str, paired: Paired, goal: float, baseline: str, *, at_least: bool = False) -> Figure:
        spread = paired.ratios
        return cls(name, spread.median, "x", goal, baseline, spread.low, spread.high, len(spread.values),
                   at_least)

    @classmethod
    def of(cls, name: str, spread: Spread, unit: str, goal: float, baseline: str, *,
           at_least: bool = False) -> Figure:
        return cls(name, spread.median, unit, goal, baseline, spread.low, spread.high, len(spread.values),
                   at_least)

    @property
    def passed(self) -> bool:
        return self.value >= self.goal if self.at_least else self.value <= self.goal

    def line(self) -> str:
        verdict = "PASS" if self.passed else "MISS"
        sign = ">=" if self.at_least else "<="
        head = f"bench {self.name}: {_number(self.value)} {self.unit} (goal {sign} {self.goal:g}) {verdict}"
        spread = ""
        if self.low is not None and self.high is not None:
            what = "pairs" if self.unit == "x" else "runs"
            spread = f"min-max {_number(self.low)}-{_number(self.high)} over {self.runs} {what}; "
        return f"{head}  [{spread}{self.baseline}]"


def _number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"
