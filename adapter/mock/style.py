"""How the mock writes its XML answers: to the letter of spec/ ("strict") or as a production
platform plausibly does ("real").

The strict style is the codec's `encode`: registry order, no empty elements, amounts with the
spec's scale, `text/xml; charset=utf-8`. The real style writes the same answer the way a Java
platform behind a servlet tends to, within what the reference allows (issue 10):

- amounts and quantities with 4 decimal places (the province's columns are decimal(12,4)):
  `174.68` -> `174.6800`, `-2.00` -> `-2.0000`;
- an indented document with newlines, `encoding="UTF-8"` in capitals, served as
  `text/html;charset=UTF-8`;
- elements the spec does not list (`aab034` 经办机构, `aae100` 有效标志), in the program and in
  every row;
- an empty element for every declared field the answer leaves unset (success answers only: a
  refusal carries the envelope and nothing else);
- now and then a code value outside the closed list (`bka888` 3 where the list says 9 未参保;
  the reference says other values are shown as 未参保). Which occurrences change is decided by
  a hash of the style's seed and the value's place in the answer, so a given seed answers the
  same request the same way, whatever the order of requests.

Values never change meaning: a substituted code stands for the listed one it replaces, and
`decode` of a real-style body gives the strict answer once decimals are compared as numbers,
unknown elements ignored and substituted codes mapped back (tests/test_mock_style.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args
from xml.sax.saxutils import escape

from adapter.wire.codec import encode
from generated._types import DatasetMeta, MessageMeta, UseMeta
from generated.registry import FIELDS, FUNCTIONS, LOGIN, SPEC

__all__ = [
    "EXTRA_PROGRAM_ELEMENTS",
    "EXTRA_ROW_ELEMENTS",
    "STRICT",
    "STYLE_NAMES",
    "UNLISTED_CODES",
    "AnswerStyle",
    "StyleName",
    "style_named",
]

StyleName = Literal["strict", "real"]
STYLE_NAMES: tuple[str, ...] = get_args(StyleName)

REAL_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
REAL_MEDIA_TYPE = "text/html;charset=UTF-8"
REAL_PLACES = Decimal("0.0001")
INDENT = "  "
# Elements a production platform adds that spec/ does not list (plausible social-insurance
# codes: 社会保险经办机构编码, 有效标志); none of them is in spec/fields.yaml.
EXTRA_PROGRAM_ELEMENTS: tuple[tuple[str, str], ...] = (("aab034", "441900"), ("aae100", "1"))
EXTRA_ROW_ELEMENTS: tuple[tuple[str, str], ...] = (("aae100", "1"),)
# Closed-list values a production platform may answer instead of a listed one of the same
# meaning: field -> {listed value: unlisted value}.
UNLISTED_CODES: dict[str, dict[str, str]] = {
    "bka888": {"9": "3"},  # 个人基金状态: other values are shown as 未参保 (reference 01 §3)
    "aac004": {"9": "0"},  # 性别: GB/T 2261.1 writes 未知的性别 as 0, the spec lists 9 未说明
}


@dataclass(frozen=True)
class AnswerStyle:
    """How answers are written. `seed` and `unlisted_rate` only matter to the real style."""

    name: StyleName = "strict"
    seed: int = 0
    unlisted_rate: float = 0.5

    def __post_init__(self) -> None:
        if self.name not in STYLE_NAMES:
            raise ValueError(f"answer style {self.name!r}: one of {', '.join(STYLE_NAMES)}")
        if not 0.0 <= self.unlisted_rate <= 1.0:
            raise ValueError(f"unlisted_rate {self.unlisted_rate}: must be between 0 and 1")

    @property
    def media_type(self) -> str:
        return REAL_MEDIA_TYPE if self.name == "real" else SPEC.content_type

    def render(self, function_id: str, answer: dict[str, Any]) -> bytes:
        """One answer (wire values, text only) as the bytes of the HTTP body."""
        if self.name == "strict":
            return encode(function_id, "response", answer)
        encode(function_id, "response", answer)  # the same refusals as strict: unknown keys, non-text
        return _RealWriter(self, function_id).document(answer).encode("utf-8")

    def substitutes(self, function_id: str, path: str, code: str, value: str) -> str:
        """The value the real style writes for a closed-list value at `path` of an answer."""
        unlisted = UNLISTED_CODES.get(code, {}).get(value)
        if unlisted is None or not self._draw(function_id, path, value):
            return value
        return unlisted

    def _draw(self, *parts: str) -> bool:
        """A deterministic coin with probability unlisted_rate, keyed by the seed and `parts`."""
        key = "\x1f".join((str(self.seed), *parts)).encode("utf-8")
        number = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
        return number < self.unlisted_rate * 2**64


STRICT = AnswerStyle()


def style_named(name: str, seed: int = 0) -> AnswerStyle:
    """'strict' or 'real' (with its seed); ValueError naming the choices otherwise."""
    if name not in STYLE_NAMES:
        raise ValueError(f"answer style {name!r}: one of {', '.join(STYLE_NAMES)}")
    return AnswerStyle(name, seed)  # type: ignore[arg-type]  # checked against STYLE_NAMES above


class _RealWriter:
    """Writes one answer in the real style (see the module docstring)."""

    def __init__(self, style: AnswerStyle, function_id: str) -> None:
        self.style = style
        self.function_id = function_id
        self.lines: list[str] = [REAL_DECLARATION, f"<{SPEC.root_element}>"]

    def document(self, answer: dict[str, Any]) -> str:
        message = _response_meta(self.function_id)
        success = answer.get("return_code") == SPEC.success_code
        for code in SPEC.response_envelope:
            self.leaf(1, code, answer.get(code), code)
        for use in message.fields:
            if use.code not in SPEC.response_envelope and (success or use.code in answer):
                self.leaf(1, use.code, answer.get(use.code), use.code)
        if success:
            for dataset in message.datasets:
                self.dataset(dataset, answer.get(dataset.name) or [])
            for code, value in EXTRA_PROGRAM_ELEMENTS:
                self.leaf(1, code, value, code)
        self.lines.append(f"</{SPEC.root_element}>")
        return "\n".join(self.lines) + "\n"

    def dataset(self, dataset: DatasetMeta, rows: list[dict[str, str]]) -> None:
        if not rows:
            self.lines.append(f"{INDENT}<{dataset.name}/>")
            return
        self.lines.append(f"{INDENT}<{dataset.name}>")
        for index, row in enumerate(rows):
            self.lines.append(f"{INDENT * 2}<{SPEC.row_element}>")
            for use in dataset.fields:
                self.leaf(3, use.code, row.get(use.code), f"{dataset.name}[{index}].{use.code}", use)
            for code, value in EXTRA_ROW_ELEMENTS:
                self.leaf(3, code, value, code)
            self.lines.append(f"{INDENT * 2}</{SPEC.row_element}>")
        self.lines.append(f"{INDENT}</{dataset.name}>")

    def leaf(self, depth: int, code: str, value: object, path: str, use: UseMeta | None = None) -> None:
        pad = INDENT * depth
        if value is None or value == "":
            self.lines.append(f"{pad}<{code}/>" if depth > 1 else f"{pad}<{code}></{code}>")
            return
        text = self.text(code, str(value), path, use)
        self.lines.append(f"{pad}<{code}>{escape(text)}</{code}>")

    def text(self, code: str, value: str, path: str, use: UseMeta | None) -> str:
        meta = FIELDS.get(code)
        if meta is not None and meta.type == "decimal":
            return _four_places(value)
        closed = use.closed_values if use is not None else _closed_values(self.function_id, code)
        if closed and value in closed:
            return self.style.substitutes(self.function_id, path, code, value)
        return value


def _four_places(value: str) -> str:
    """'174.68' -> '174.6800'; text that is not a number is left as it is."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    if not number.is_finite():
        return value
    return f"{number.quantize(REAL_PLACES):f}"


def _closed_values(function_id: str, code: str) -> tuple[str, ...] | None:
    for use in _response_meta(function_id).fields:
        if use.code == code:
            return use.closed_values
    return None


def _response_meta(function_id: str) -> MessageMeta:
    # An unknown function_id is answered with the login's envelope, as the strict style does.
    meta = FUNCTIONS.get(function_id) or FUNCTIONS[LOGIN]
    return meta.response
