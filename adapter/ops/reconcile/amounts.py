"""Amounts of one business or batch (total, personal, fund) and reading them from typed answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapter.wire.typed import value_of

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Amounts:
    """Total (akc264), personal (bka831) and fund (bka832); None where a side cannot tell."""

    total: Decimal
    personal: Decimal | None = None
    fund: Decimal | None = None

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.total + other.total, _plus(self.personal, other.personal),
                       _plus(self.fund, other.fund))

    def negated(self) -> Amounts:
        return Amounts(-self.total, None if self.personal is None else -self.personal,
                       None if self.fund is None else -self.fund)

    def differences(self, other: Amounts) -> dict[str, Decimal]:
        """self - other per part, where both sides know the part and it is not zero."""
        pairs = {"total": (self.total, other.total), "personal": (self.personal, other.personal),
                 "fund": (self.fund, other.fund)}
        return {name: a - b for name, (a, b) in pairs.items() if a is not None and b is not None and a != b}

    def text(self) -> str:
        """'1392.50 (60.00 / 1332.50)': total (personal / fund), parts only where known."""
        parts = [f"{self.total:.2f}"]
        if self.personal is not None or self.fund is not None:
            parts.append(f"({shown(self.personal)} / {shown(self.fund)})")  # (个人 / 基金)
        return " ".join(parts)


NOTHING = Amounts(ZERO, ZERO, ZERO)


def _plus(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a + b


def shown(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def total_of(amounts: Iterable[Amounts]) -> Amounts:
    total = NOTHING
    for item in amounts:
        total = total + item
    return total


def amounts_of(model: Any, total: str, personal: str, fund: str) -> Amounts | None:
    """Amounts of a typed answer or row; None without a readable total."""
    stated = decimal_or_none(value_of(model, total)) if model is not None else None
    if stated is None:
        return None
    return Amounts(stated, decimal_or_none(value_of(model, personal)), decimal_or_none(value_of(model, fund)))


def decimal_or_none(value: object) -> Decimal | None:
    return value if isinstance(value, Decimal) else None
