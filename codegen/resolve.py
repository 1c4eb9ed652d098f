"""A field as one function uses it, and the wire constraints that follow from it.

This is the single place where a spec type becomes a pattern / length / enum:
the JSON Schemas (and so the Pydantic models), the example checks and the
registry all read constraints from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codegen.spec_model import CodeList, FieldDef, FieldUse

# [0-9], never \d: pydantic's regex engine (and Python's) take \d as any Unicode digit, so a
# full-width １２.５０ or a date in Arabic-Indic digits would pass and reach the province.
_DATE_TOKENS = {
    "yyyy": r"[0-9]{4}",
    "MM": r"(0[1-9]|1[0-2])",
    "dd": r"(0[1-9]|[12][0-9]|3[01])",
    "HH": r"([01][0-9]|2[0-3])",
    "mm": r"[0-5][0-9]",
    "ss": r"[0-5][0-9]",
}
_TOKEN_RE = re.compile("|".join(_DATE_TOKENS))


def date_pattern(fmt: str) -> str:
    """Regex for a date format such as yyyyMMdd or yyyy-MM-dd HH:mm:ss."""
    parts: list[str] = []
    position = 0
    for match in _TOKEN_RE.finditer(fmt):
        parts.append(re.escape(fmt[position : match.start()]))
        parts.append(_DATE_TOKENS[match.group(0)])
        position = match.end()
    parts.append(re.escape(fmt[position:]))
    return "^" + "".join(parts) + "$"


@dataclass(frozen=True)
class ResolvedField:
    """Dictionary definition merged with one function's use of the field."""

    code: str
    name: str
    meaning: str
    python_name: str
    type: str
    required: bool
    max_length: int | None
    min_length: int | None
    digits: int | None
    scale: int | None
    format: str | None
    code_list: str | None
    closed_values: tuple[str, ...] | None
    pii: str
    confidence: str
    sources: tuple[str, ...]
    notes: str | None
    needed: bool = False
    also_read: tuple[str, ...] = ()

    @property
    def pattern(self) -> str | None:
        if self.type == "decimal":
            assert self.digits is not None and self.scale is not None
            whole = max(self.digits - self.scale, 1)
            fraction = rf"(\.[0-9]{{1,{self.scale}}})?" if self.scale else ""
            return rf"^-?[0-9]{{1,{whole}}}{fraction}$"
        if self.type == "integer":
            count = f"{{1,{self.max_length}}}" if self.max_length else "+"
            return rf"^-?[0-9]{count}$"
        if self.type in ("date", "datetime"):
            assert self.format is not None
            return date_pattern(self.format)
        return None

    @property
    def length_applies(self) -> bool:
        """Lengths bound text; for numbers and dates the pattern already bounds them."""
        return self.type in ("string", "code")


def resolve_use(use: FieldUse, definition: FieldDef, codes: dict[str, CodeList]) -> ResolvedField:
    list_name = None if use.no_code_list else (use.code_list or definition.code_list)
    code_list = codes.get(list_name) if list_name else None
    closed = tuple(v.code for v in code_list.values) if code_list and code_list.closed else None
    return ResolvedField(
        code=use.code,
        name=definition.name,
        meaning=definition.meaning,
        python_name=definition.python_name,
        type="string" if use.no_code_list and definition.type == "code" else definition.type,
        required=use.required,
        max_length=use.max_length or definition.max_length,
        min_length=definition.min_length,
        digits=definition.digits,
        scale=definition.scale,
        format=definition.format,
        code_list=list_name,
        closed_values=closed,
        pii=definition.pii,
        confidence=definition.confidence,
        sources=tuple(definition.sources),
        notes=use.notes or definition.notes,
        needed=use.needed,
        also_read=tuple(use.also_read),
    )


def check_value(field: ResolvedField, value: object) -> list[str]:
    """Problems of one wire value (text, or None for absent) against the field."""
    if value is None or value == "":
        return ["required field missing"] if field.required else []
    if not isinstance(value, str):
        return [f"must be text on the wire, got {type(value).__name__}"]
    problems: list[str] = []
    if field.length_applies and field.max_length is not None and len(value) > field.max_length:
        problems.append(f"longer than {field.max_length}")
    if field.length_applies and field.min_length is not None and len(value) < field.min_length:
        problems.append(f"shorter than {field.min_length}")
    pattern = field.pattern
    if pattern is not None and not re.match(pattern, value):
        problems.append(f"does not match {field.type} format {pattern}")
    if field.closed_values is not None and value not in field.closed_values:
        problems.append(f"{value!r} is not in code list {field.code_list}")
    return problems
