"""PII masking, driven by the PII class the registry gives each wire code.

Three layers, from precise to blunt:
- `mask_value` / `mask_wire`: structured data, masked by `FIELDS[code].pii`.
- `mask_xml_text`: an XML body, masked element by element, then `scrub`bed.
- `scrub`: a safety net for any text (log lines, error messages): every run that looks like a
  citizen ID number is masked, whatever field it came from.

The password (sys0001) has PII class `none` on purpose (decisions.md D11): it is a secret, not
personal data, so it is removed by name (`redact_password`), never shown even masked.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from generated.registry import FIELDS

__all__ = [
    "PASSWORD_MASK",
    "PII_CLASSES",
    "MaskingFilter",
    "install_log_masking",
    "mask_value",
    "mask_wire",
    "mask_xml_text",
    "redact_password",
    "scrub",
]

PASSWORD_MASK = "******"
_FREE_TEXT_MASK = "***"
_STAR = "*"


def _keep(value: str, head: int, tail: int) -> str:
    """Keep `head` leading and `tail` trailing characters, star the middle.

    A value too short to hide at least one character is starred whole: showing
    head + tail of it would show all of it.
    """
    if len(value) <= head + tail:
        return _STAR * len(value)
    return value[:head] + _STAR * (len(value) - head - tail) + value[len(value) - tail :]


def _mask_id_number(value: str) -> str:
    # 6 + 4 is the usual public form of a citizen ID (region code ... check digits); below 11
    # characters that would leave almost nothing hidden, so only the first character stays.
    if len(value) < 11:
        return _keep(value, 1, 0)
    return _keep(value, 6, 4)


_MASKERS: dict[str, Callable[[str], str]] = {
    "id_number": _mask_id_number,
    "name": lambda value: _keep(value, 1, 0),
    "phone": lambda value: _keep(value, 3, 2),
    "card_no": lambda value: _keep(value, 2, 2),
    "address": lambda value: _FREE_TEXT_MASK,
    "free_text": lambda value: _FREE_TEXT_MASK,
    "none": lambda value: value,
}

PII_CLASSES: frozenset[str] = frozenset(_MASKERS)
"""Every PII class this module knows; a test checks the registry uses no other."""


def mask_value(pii_class: str, value: str) -> str:
    """`value` masked for its PII class. An empty value stays empty (nothing to hide).

    An unknown class (a spec that grew a new one) masks the value whole: fail closed.
    """
    if value == "":
        return value
    masker = _MASKERS.get(pii_class)
    return masker(value) if masker else _FREE_TEXT_MASK


def _pii_class(code: str) -> str:
    field = FIELDS.get(code)
    return field.pii if field else "none"


def _mask_wire_item(key: str, value: Any) -> Any:
    if key.lower() == "password":
        return PASSWORD_MASK
    if isinstance(value, Mapping):
        return mask_wire(value)
    if isinstance(value, list):
        return [mask_wire(row) if isinstance(row, Mapping) else row for row in value]
    pii_class = _pii_class(key)
    if value is None or pii_class == "none":
        return value
    return mask_value(pii_class, str(value))


def mask_wire(values: Mapping[str, Any]) -> dict[str, Any]:
    """A masked copy of a wire-shaped dict (code -> str, dataset name -> list of row dicts).

    Every field is masked by its registry PII class; `password` is always replaced. The input
    is not modified.
    """
    return {key: _mask_wire_item(key, value) for key, value in values.items()}


# --- XML ----------------------------------------------------------------------------------

# The opening tag of <password>, then its text (plain or CDATA) up to the next tag. The closing
# tag is not required, so a truncated or malformed body still loses its password. Case-blind:
# a secret is worth a false positive.
_PASSWORD_RE = re.compile(
    r"(<password(?:\s[^<>]*?)?(?<!/)>)(?:<!\[CDATA\[.*?\]\]>|[^<])*",
    re.IGNORECASE | re.DOTALL,
)

_PII_CODES = sorted(code for code, field in FIELDS.items() if field.pii != "none")

# <code attr="...">text</code> for every PII code; `(?<!/)>` keeps self-closing <code/> out.
_PII_ELEMENT_RE = re.compile(
    r"<(?P<tag>" + "|".join(map(re.escape, _PII_CODES)) + r")(?P<attrs>(?:\s[^<>]*?)?)(?<!/)>"
    r"(?P<text>.*?)</(?P=tag)\s*>",
    re.DOTALL,
)
_CDATA_RE = re.compile(r"<!\[CDATA\[(.*)\]\]>", re.DOTALL)
_PADDED_RE = re.compile(r"(\s*)(.*?)(\s*)", re.DOTALL)


def redact_password(xml: str) -> str:
    """`xml` with the text of every <password> element replaced by `PASSWORD_MASK`."""
    return _PASSWORD_RE.sub(lambda match: match.group(1) + PASSWORD_MASK, xml)


def _mask_element_text(pii_class: str, text: str) -> str:
    """Mask an element's text, keeping surrounding whitespace and a CDATA wrapper readable."""
    cdata = _CDATA_RE.fullmatch(text)
    if cdata:
        return "<![CDATA[" + _mask_element_text(pii_class, cdata.group(1)) + "]]>"
    padded = _PADDED_RE.fullmatch(text)
    assert padded is not None  # the pattern matches any string
    lead, core, trail = padded.groups()
    return lead + mask_value(pii_class, core) + trail


def _mask_element(match: re.Match[str]) -> str:
    tag, attrs, text = match.group("tag", "attrs", "text")
    return f"<{tag}{attrs}>{_mask_element_text(FIELDS[tag].pii, text)}</{tag}>"


# A session id is a bearer credential for the province until midnight: shown by its first 4
# characters only, enough to tell two sessions apart in a log.
_SESSION_RE = re.compile(r"(<session_id>\s*)([^<\s]{1,200})(\s*</session_id>)")


def mask_session_ids(text: str) -> str:
    """`text` with every `<session_id>` value cut to its first 4 characters and stars."""
    return _SESSION_RE.sub(lambda m: m.group(1) + m.group(2)[:4] + "****" + m.group(3), text)


def mask_xml_text(xml: str) -> str:
    """`xml` for display: password removed, session id and PII elements masked, `scrub`bed.

    Works on text, not a parse tree, so it also masks bodies that are not well-formed (the
    ones most likely to end up in an error report).
    """
    return scrub(mask_session_ids(_PII_ELEMENT_RE.sub(_mask_element, redact_password(xml))))


# --- the safety net -------------------------------------------------------------------------

# A citizen ID: 18 characters (17 digits + a digit or the X check character) or the old
# 15-digit form. The run must not touch another digit on either side, so longer numbers
# (a 20-digit aaz218, a 19-digit timestamp) are left whole instead of being half-masked.
_ID_LIKE_RE = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9])")


def scrub(text: str) -> str:
    """`text` with every citizen-ID-like run masked to first 6 + stars + last 4.

    The rule: a run of exactly 15 digits, or of 17 digits followed by a digit or X/x, not
    preceded or followed by a digit. Other numbers pass unchanged. A 15- or 18-digit number
    that is not an ID (a bill number, say) is masked too: here a false positive is cheap.
    """
    return _ID_LIKE_RE.sub(lambda match: _keep(match.group(0), 6, 4), text)


# --- logging --------------------------------------------------------------------------------


class MaskingFilter(logging.Filter):
    """Scrubs each record before any handler formats it: message, exception text, stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(_full_message(record))
        record.args = None
        if record.exc_info and not record.exc_text:
            # Formatter.format reuses a cached exc_text, so caching the scrubbed form here
            # keeps the raw traceback (whose message may hold an ID) out of every handler.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def _full_message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad %-format must not let the raw arguments through unscrubbed
        return f"{record.msg!r} {record.args!r}"


def _add_once(target: logging.Filterer) -> None:
    if not any(isinstance(existing, MaskingFilter) for existing in target.filters):
        target.addFilter(MaskingFilter())


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Add a `MaskingFilter` to `logger` (default: the root logger) and to its handlers.

    Both, because a logger's filters see only records logged on that logger itself, while
    records propagated from child loggers (`gdwi.transport`, ...) meet only the handlers'
    filters. Handlers added later are not covered: call this after configuring logging.
    Calling it twice adds nothing.
    """
    target = logger if logger is not None else logging.getLogger()
    _add_once(target)
    for handler in target.handlers:
        _add_once(handler)
