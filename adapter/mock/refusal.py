"""Refusal: the mock province's business "no", answered with a negative return_code."""

from __future__ import annotations

from adapter.errors import Refusal
from generated.registry import field_label

__all__ = ["Refusal", "label"]


def label(code: str) -> str:
    """'aaz218' -> 'aaz218 就医登记号': how a message names a field."""
    return field_label(code)
