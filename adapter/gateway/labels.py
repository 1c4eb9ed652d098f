"""The Chinese label of each dataclass attribute, read from the class docstring.

The HIS model's docstrings name every attribute with its 中文名 (`person_no 电脑号, …`); the
gateway's schemas show them as descriptions, so /docs and the OpenAPI document speak both languages
without a second list to keep in step.
"""

from __future__ import annotations

import re
from dataclasses import fields
from typing import Any, cast

__all__ = ["labels_of"]

_HAN = re.compile(r"[\u4e00-\u9fff]")


def labels_of(cls: type) -> dict[str, str]:
    """attribute -> the first Chinese word its class docstring puts right after its name."""
    doc = cls.__doc__ or ""
    labels: dict[str, str] = {}
    for item in fields(cast(Any, cls)):
        pattern = rf"(?<![\w.]){re.escape(item.name)}\s+([^\s,.;:()（）]+)"
        chinese = (m.group(1) for m in re.finditer(pattern, doc) if _HAN.search(m.group(1)))
        label = next(chinese, None)
        if label is not None:
            labels[item.name] = label
    return labels
