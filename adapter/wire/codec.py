"""The wire codec: `<program>` XML bodies <-> wire-shaped dicts, and HIS values -> wire text.

A wire-shaped dict has wire codes as keys: a scalar code maps to its text, a dataset name maps
to a list of rows (each a dict of code -> text). Which codes a message may carry comes from the
generated registry; this module never looks at `spec/` or `codegen/`.

Reading follows what real provincial and hospital peers send (reference 01 §1): element order
is free, an empty element means absent, an element the spec does not know is a warning and
never a failure, and a dataset with one `<row>` is still a list. Everything that reads XML in
gdwi goes through `make_parser`, and every body goes through `parse_document`, which refuses
hostile input (DTDs, entities, other encodings, oversized or deeply nested bodies) before or
while parsing, in linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from lxml import etree  # type: ignore[import-untyped]  # no lxml-stubs in the venv
from pydantic import BaseModel

from adapter.errors import XmlRefusedError
from adapter.wire.validation import unknown_function
from generated import _convert
from generated._types import DatasetMeta, FieldMeta, MessageMeta
from generated.registry import FIELDS, FUNCTIONS, SPEC, field_label

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MAX_DEPTH",
    "MAX_WARNINGS",
    "Decoded",
    "decode",
    "encode",
    "format_value",
    "make_parser",
    "model_to_wire",
    "parse_document",
    "to_wire",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# program / dataset / row / field is the deepest the protocol goes (4 levels counting the
# root); 16 leaves room for surprises while keeping hostile nesting out.
MAX_DEPTH = 16
# Elements per body: a 3,000-row fee list has about 40,000; far beyond that is a flood, refused
# by counting "<" before libxml2 builds a tree for it.
MAX_ELEMENTS = 250_000
# The protocol has no attributes. A start tag holding name="value" (the declaration <?xml ...?>
# starts with <? and is not one). Requests with one are refused before parsing (300,000
# attributes in 4 MB would cost a tree ten times that); answers are read and warned about.
_ATTRIBUTE = re.compile(rb"<[A-Za-z_][^<>]*?\s[^<>\s=/]+\s*=")
# A body of nothing but unknown elements must not turn into millions of warning strings.
MAX_WARNINGS = 100
# Written by hand rather than by lxml, whose declaration uses single quotes: this is the exact
# declaration the vendor's own client sends.
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'

Part = Literal["request", "response"]

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_ACCEPTED_ENCODINGS = frozenset({"utf-8", "utf8"})
_DECLARED_ENCODING = re.compile(
    rb"""<\?xml\s+version\s*=\s*["'][^"']*["']\s+encoding\s*=\s*["']([^"']*)["']"""
)
# The province runs on Beijing time (UTC+8, no daylight saving); aware datetimes are shown there.
# A decimal field without `digits` is bounded by Python's default decimal precision.
_DEFAULT_DIGITS = 28


# --------------------------------------------------------------------------- parsing


def make_parser() -> etree.XMLParser:
    """The one hardened parser: no DTDs, no entities, no network, no huge-tree lifting."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_document(
    body: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, refuse_attributes: bool = False
) -> etree._Element:
    """Parse one `<program>` body, or raise XmlRefusedError saying what was wrong.

    The cheap byte-level checks run first, so hostile bodies are refused before libxml2 sees
    them; the tree-level checks repeat the DOCTYPE refusal as a second line of defence.
    `refuse_attributes`: for requests (strict in what is accepted as one).
    """
    _refuse_oversized(body, max_bytes)
    _refuse_element_flood(body)
    if refuse_attributes:
        _refuse_attributes(body)
    _refuse_other_encodings(body)
    _refuse_declarations_in_prolog(body)
    _refuse_invalid_utf8(body)
    root = _parse_with_hardened_parser(body)
    _refuse_doctype_in_tree(root)
    _refuse_wrong_root(root)
    _refuse_deep_nesting(root)
    return root


def _refuse_oversized(body: bytes, max_bytes: int) -> None:
    if len(body) > max_bytes:
        raise XmlRefusedError(f"body is {len(body)} bytes, larger than the limit of {max_bytes} bytes")


def _refuse_element_flood(body: bytes) -> None:
    tags = body.count(b"<")
    if tags > 2 * MAX_ELEMENTS:
        raise XmlRefusedError(f"about {tags // 2} elements, more than the limit of {MAX_ELEMENTS}")


def _refuse_attributes(body: bytes) -> None:
    # An attribute needs "="; most bodies have none past the declaration, and a find is ~400x
    # cheaper than the regex over a 300-row upload.
    start = len(_UTF8_BOM) if body.startswith(_UTF8_BOM) else 0
    if body.startswith(b"<?xml", start):
        start = body.find(b"?>", start) + 2
    if body.find(b"=", start) < 0:
        return
    found = _ATTRIBUTE.search(body)
    if found is not None:
        raise XmlRefusedError(f"attribute at byte offset {found.start()}: the protocol has no attributes")


def _refuse_other_encodings(body: bytes) -> None:
    # UTF-16/32 text is valid UTF-8 byte-wise (NULs included), so it must be caught by shape.
    if body.startswith(_UTF16_32_BOMS) or b"\x00" in body[:4]:
        raise XmlRefusedError("body looks like UTF-16 or UTF-32: only UTF-8 is accepted")
    declared = _DECLARED_ENCODING.match(body.removeprefix(_UTF8_BOM))
    if declared is None:
        return  # no encoding declared: XML's default is UTF-8
    name = declared.group(1).decode("ascii", errors="replace")
    if name.lower() not in _ACCEPTED_ENCODINGS:
        raise XmlRefusedError(f"declared encoding {name!r}: only UTF-8 is accepted")


def _refuse_declarations_in_prolog(body: bytes) -> None:
    """Refuse `<!DOCTYPE` / `<!ENTITY` before the root element, without parsing.

    Walks the prolog's processing instructions and comments with `bytes.find`, so the cost is
    linear in the prolog. Anything else starting with `<!` there is a markup declaration; none
    belongs in a protocol message (entity expansion is how billion-laughs and XXE work).
    """
    position = 0
    while (start := body.find(b"<", position)) >= 0:
        if body.startswith(b"<?", start):
            position = _end_of(body, b"?>", start)
        elif body.startswith(b"<!--", start):
            position = _end_of(body, b"-->", start)
        elif body.startswith(b"<!", start):
            kind = _declaration_kind(body, start)
            raise XmlRefusedError(f"{kind} refused: DTDs and entities are not accepted")
        else:
            return  # the root element starts here: the prolog is over
        if position < 0:
            return  # unterminated PI or comment: the parser reports it as malformed


def _end_of(body: bytes, terminator: bytes, start: int) -> int:
    end = body.find(terminator, start)
    return end + len(terminator) if end >= 0 else -1


def _declaration_kind(body: bytes, start: int) -> str:
    head = body[start : start + 9].upper()
    if head.startswith(b"<!DOCTYPE"):
        return "DOCTYPE"
    if head.startswith(b"<!ENTITY"):
        return "ENTITY declaration"
    return "markup declaration"


def _refuse_invalid_utf8(body: bytes) -> None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XmlRefusedError(
            f"invalid UTF-8 at byte offset {exc.start} (0x{body[exc.start]:02x}): only UTF-8 is accepted"
        ) from None


def _parse_with_hardened_parser(body: bytes) -> etree._Element:
    try:
        return etree.fromstring(body, make_parser())
    except etree.XMLSyntaxError as exc:
        if _hit_depth_limit(exc):
            raise XmlRefusedError(f"nesting deeper than {MAX_DEPTH} levels") from None
        raise XmlRefusedError(f"malformed XML: {exc}") from None


def _hit_depth_limit(exc: etree.XMLSyntaxError) -> bool:
    # libxml2 stops at its own depth limit (256 without huge_tree) long before Python could
    # recurse; that stop is the same refusal as our smaller limit, so say so. Only the
    # exception's own code counts: its error_log can hold entries from earlier parses.
    return bool(exc.code == etree.ErrorTypes.ERR_RESOURCE_LIMIT and "depth" in str(exc).lower())


def _refuse_doctype_in_tree(root: etree._Element) -> None:
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlRefusedError("DOCTYPE refused: DTDs and entities are not accepted")


def _refuse_wrong_root(root: etree._Element) -> None:
    if root.tag != SPEC.root_element:
        raise XmlRefusedError(f"root element is <{root.tag}>, expected <{SPEC.root_element}>")


# Compiled once: XPath runs in C, far faster than an ElementPath probe from Python.
_HAS_ATTRIBUTES = etree.XPath("boolean(//@*)")
_TOO_DEEP = etree.XPath("boolean(/" + "/".join(["*"] * (MAX_DEPTH + 1)) + ")")
# Non-blank text beside child elements in <program>, a dataset or a row (the containers a
# reader checks; deeper, an element holding elements is ignored whole): stray text, rare in real
# messages. Three fixed levels rather than //*[*], which visits every field (~8x slower).
_STRAY_TEXT = etree.XPath("boolean(/*/text()[normalize-space()] | /*/*[*]/text()[normalize-space()]"
                          " | /*/*/*[*]/text()[normalize-space()])")
# An element below a row's fields (program/dataset/row/field is as deep as messages go).
_BELOW_FIELDS = etree.XPath("boolean(/*/*/*/*/*)")


def _refuse_deep_nesting(root: etree._Element) -> None:
    if _TOO_DEEP(root):
        raise XmlRefusedError(f"nesting deeper than {MAX_DEPTH} levels")


# --------------------------------------------------------------------------- decoding

_UNKNOWN = "unknown_element"
_EMPTY = "empty_element"


@dataclass
class Decoded:
    """A decoded body.

    `function_id` / `session_id` are what the body's envelope says (requests carry them; a
    response normally carries neither, so they are None). They are never in `values`, except
    where the message itself lists the code (sys0001's response returns `session_id`).
    Response envelope elements (`return_code`, `return_code_message`) are ordinary values.
    """

    function_id: str | None
    values: dict[str, Any]
    warnings: list[str]
    session_id: str | None = None
    # What the body carries beyond the message, as (path, code, kind): unknown and empty
    # elements. The client records them as deviations (adapter.wire.deviations).
    found: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class _Reader:
    """Maps the children of `<program>` onto one message's fields and datasets."""

    where: str  # e.g. "bizh120002 request", the prefix of every warning
    message: MessageMeta
    values: dict[str, Any] = field(default_factory=dict)
    envelope: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    warnings_not_shown: int = 0
    found: list[tuple[str, str, str]] = field(default_factory=list)
    # Checked per element only when the document has stray text at all (one XPath up front).
    check_stray_text: bool = True
    # No stray text and nothing nested below row fields: rows can take the fast path.
    plain_rows: bool = False
    # An answer's unknown elements are only noted: the client journals and reports them as
    # deviations, and a second warning per element would say the same thing twice.
    unknown_noted_only: bool = False

    def read(self, root: etree._Element) -> None:
        self.check_stray_text = bool(_STRAY_TEXT(root))
        self.plain_rows = not self.check_stray_text and not _BELOW_FIELDS(root)
        if self.check_stray_text and _has_stray_text(root):
            self.warn("text directly inside <program> ignored")
        scalars = {use.code for use in self.message.fields}
        datasets = {dataset.name: dataset for dataset in self.message.datasets}
        for child in root:
            tag = child.tag
            if tag in scalars:
                self.read_scalar(child)
            elif tag in datasets:
                self.read_dataset(child, datasets[tag])
            elif tag in SPEC.request_envelope:
                self.read_envelope(child)
            else:
                if not self.unknown_noted_only:
                    self.warn(f"unknown element <{tag}> ignored")
                self.note(tag, tag, _UNKNOWN)

    def read_envelope(self, element: etree._Element) -> None:
        # Recognised in either direction and never warned about: a peer echoing its envelope
        # is harmless. The first non-empty value wins.
        text = _leaf_text(element)
        if text is not None:
            self.envelope.setdefault(element.tag, text)

    def read_scalar(self, element: etree._Element) -> None:
        tag = element.tag
        if len(element):
            self.warn(f"element <{tag}> should hold text but holds elements; ignored")
            return
        text = _leaf_text(element)
        if text is None:
            self.note(tag, tag, _EMPTY)
            return  # an empty element means absent
        if tag in self.values:
            self.warn(f"element <{tag}> appears more than once; the first value is kept")
            return
        self.values[tag] = text

    def read_dataset(self, element: etree._Element, dataset: DatasetMeta) -> None:
        if self.check_stray_text and _has_stray_text(element):
            self.warn(f"{dataset.name}: text outside <{SPEC.row_element}> ignored")
        rows: list[dict[str, str]] = self.values.get(dataset.name, [])
        if rows:
            self.warn(f"element <{dataset.name}> appears more than once; its rows are merged")
        known = _dataset_codes(dataset)
        for child in element:
            if child.tag != SPEC.row_element:
                self.warn(f"{dataset.name}: element <{child.tag}> is not a <{SPEC.row_element}>; ignored")
                continue
            row = self.read_plain_row(child, known) if self.plain_rows else None
            if row is None:
                row = self.read_row(child, known, dataset.name, len(rows) + 1)
            if row:  # an empty <row/> is an empty element: absent
                rows.append(row)
        if rows:
            self.values[dataset.name] = rows

    @staticmethod
    def read_plain_row(element: etree._Element, known: frozenset[str]) -> dict[str, str] | None:
        """A row of known, distinct leaf fields in one pass; None sends it to `read_row`.

        This is the hot path of a 300-row upload: one comprehension, no per-field checks.
        """
        row = {child.tag: text for child in element if (value := child.text) and (text := value.strip())}
        if len(row) != len(element) or not known.issuperset(row):
            return None  # empty, duplicate or unknown elements: read_row sorts them out
        return row

    def read_row(
        self, element: etree._Element, known: frozenset[str], dataset: str, number: int
    ) -> dict[str, str]:
        if self.check_stray_text and _has_stray_text(element):
            self.warn(f"{dataset} row {number}: text outside any element ignored")
        row: dict[str, str] = {}
        for child in element:
            tag = child.tag
            if tag in known and tag not in row and not len(child):
                text = child.text
                if text and (text := text.strip()):
                    row[tag] = text
                else:
                    self.note(f"{dataset}[{number - 1}].{tag}", tag, _EMPTY)
            else:
                self.warn_row_element(child, tag in known, f"{dataset} row {number}")
                if tag not in known:
                    self.note(f"{dataset}[{number - 1}].{tag}", tag, _UNKNOWN)
        return row

    def warn_row_element(self, child: etree._Element, known: bool, label: str) -> None:
        tag = child.tag
        if not known:
            if not self.unknown_noted_only:
                self.warn(f"{label}: unknown element <{tag}> ignored")
        elif len(child):
            self.warn(f"{label}: element <{tag}> should hold text but holds elements; ignored")
        else:
            self.warn(f"{label}: element <{tag}> appears more than once; the first value is kept")

    def note(self, path: str, code: str, kind: str) -> None:
        if len(self.found) < MAX_WARNINGS * 10:
            self.found.append((path, code, kind))

    def warn(self, text: str) -> None:
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(f"{self.where}: {text}")
        else:
            self.warnings_not_shown += 1

    def finish(self) -> list[str]:
        if self.warnings_not_shown:
            self.warnings.append(f"{self.where}: {self.warnings_not_shown} more warnings not shown")
        return self.warnings


def decode(
    body: bytes, function_id: str, part: Part, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Decoded:
    """Parse a body and map it onto `function_id`'s request or response, leniently.

    Only parsing can fail (XmlRefusedError); content problems are warnings. Whether the values
    satisfy the spec is the generated models' job (adapter.wire.validation), not the codec's, which
    is also why a negative return_code with nothing but a message decodes for every function.
    """
    refuse_attributes = part == "request"
    root = parse_document(body, max_bytes=max_bytes, refuse_attributes=refuse_attributes)
    return decode_document(root, function_id, part, attributes_refused=refuse_attributes)


def decode_document(
    root: etree._Element, function_id: str, part: Part, *, attributes_refused: bool = False
) -> Decoded:
    """`decode` for a body already parsed by `parse_document` (the mock peeks at it first).

    `attributes_refused`: parsed with refuse_attributes=True, so there is none to warn about.
    """
    message = _message_meta(function_id, part)
    reader = _Reader(f"{function_id} {part}", message, unknown_noted_only=part == "response")
    reader.read(root)
    if not attributes_refused and _HAS_ATTRIBUTES(root):
        reader.warn("attributes ignored: the protocol has none")
    claimed = reader.envelope.get("function_id")
    if claimed is not None and claimed != function_id:
        reader.warn(f"<function_id> says {claimed}; decoded as {function_id}")
    return Decoded(
        function_id=claimed,
        values=reader.values,
        warnings=reader.finish(),
        session_id=reader.envelope.get("session_id"),
        found=reader.found,
    )


def _leaf_text(element: etree._Element) -> str | None:
    text = (element.text or "").strip()
    return text or None


def _has_stray_text(element: etree._Element) -> bool:
    """Non-blank text in an element meant to hold only elements (indentation is fine)."""
    pieces = [element.text, *(child.tail for child in element)]
    return any(piece and piece.strip() for piece in pieces)


# Per dataset of the registry, kept by identity: functools.cache would hash the frozen dataclass,
# all its fields recursively, on every lookup (~20 µs for a small answer's three datasets).
_TAGS: dict[int, tuple[DatasetMeta, tuple[tuple[str, str, str], ...]]] = {}
_CODES: dict[int, tuple[DatasetMeta, frozenset[str]]] = {}


def _dataset_tags(dataset: DatasetMeta) -> tuple[tuple[str, str, str], ...]:
    kept = _TAGS.get(id(dataset))
    if kept is None or kept[0] is not dataset:
        kept = _TAGS[id(dataset)] = (dataset, tuple((use.code, f"<{use.code}>", f"</{use.code}>")
                                                    for use in dataset.fields))
    return kept[1]


def _dataset_codes(dataset: DatasetMeta) -> frozenset[str]:
    kept = _CODES.get(id(dataset))
    if kept is None or kept[0] is not dataset:
        kept = _CODES[id(dataset)] = (dataset, frozenset(use.code for use in dataset.fields))
    return kept[1]


def _message_meta(function_id: str, part: Part) -> MessageMeta:
    meta = FUNCTIONS.get(function_id)
    if meta is None:
        raise unknown_function(function_id)
    if part not in ("request", "response"):
        raise ValueError(f"part must be 'request' or 'response', not {part!r}")
    return meta.request if part == "request" else meta.response


# --------------------------------------------------------------------------- encoding


def encode(
    function_id: str, part: Part, values: dict[str, Any], *, session_id: str | None = None
) -> bytes:
    """Write a wire-shaped dict (text values only) as a UTF-8 `<program>` body.

    Scalars and datasets follow the registry's order; None and "" are left out, since the
    protocol reads an empty element as absent anyway. A key the message does not know, or a
    value that is not text yet, raises instead of being dropped or guessed at.

    The body is built as text rather than through lxml elements: element names come from the
    registry and values are escaped here, and it is several times faster for 300-row uploads.
    """
    message = _message_meta(function_id, part)
    where = f"{function_id} {part}"
    _refuse_unknown_keys(where, message, values)
    out: list[str] = [f"<{SPEC.root_element}>"]
    if part == "request":
        _write_request_envelope(out, function_id, session_id)
    for use in message.fields:
        _write_text(out, use.code, values.get(use.code), where)
    for dataset in message.datasets:
        _write_dataset(out, dataset, values.get(dataset.name), where)
    out.append(f"</{SPEC.root_element}>")
    document = "".join(out)
    # One check of the whole body; the field is named only on the rare failure. Cheaper than a
    # regex over the text: a lone surrogate fails the UTF-8 encoding, a C0 control is a byte
    # translate() deletes, U+FFFE/U+FFFF a substring.
    try:
        encoded = document.encode("utf-8")
    except UnicodeEncodeError:
        encoded = b""
    if not encoded or len(encoded.translate(None, _NOT_XML_BYTES)) != len(encoded) \
            or "\ufffe" in document or "\uffff" in document:
        _refuse_unencodable(where, message, values)
        raise ValueError(f"{where}: text holds characters XML cannot carry")  # if it named none
    return XML_DECLARATION + encoded


def _refuse_unencodable(where: str, message: MessageMeta, values: dict[str, Any]) -> None:
    for use in message.fields:
        _write_text([], use.code, values.get(use.code), where)
    for dataset in message.datasets:
        for number, row in enumerate(values.get(dataset.name) or [], start=1):
            for code, value in row.items():
                _write_text([], code, value, f"{where}: {dataset.name} row {number}")


def _refuse_unknown_keys(where: str, message: MessageMeta, values: dict[str, Any]) -> None:
    known = {use.code for use in message.fields} | {dataset.name for dataset in message.datasets}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: not part of this message: {', '.join(unknown)}")


def _write_request_envelope(out: list[str], function_id: str, session_id: str | None) -> None:
    # The login is what obtains a session, so it never carries one.
    envelope = {
        "session_id": None if FUNCTIONS[function_id].kind == "login" else session_id,
        "function_id": function_id,
    }
    for code in SPEC.request_envelope:
        _write_text(out, code, envelope.get(code), f"{function_id} request")


def _write_dataset(out: list[str], dataset: DatasetMeta, rows: object, where: str) -> None:
    if rows is None:
        return
    if not isinstance(rows, list | tuple):
        kind = type(rows).__name__
        raise TypeError(f"{where}: {dataset.name} {dataset.title}: expected a list of rows, got {kind}")
    if not rows:
        return
    known = _dataset_codes(dataset)
    tags = _dataset_tags(dataset)
    row_open, row_close = f"<{SPEC.row_element}>", f"</{SPEC.row_element}>"
    # The registry's field order restricted to the codes a row has, worked out once per set of
    # keys (rows of one upload share one): a row is written by visiting its own fields only.
    plans: dict[tuple[str, ...], tuple[tuple[str, str, str], ...]] = {}
    out.append(f"<{dataset.name}>")
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            _refuse_row(row, known, f"{where}: {dataset.name} row {number}")
        keys = tuple(row)
        plan = plans.get(keys)
        if plan is None:
            if not known.issuperset(row):
                _refuse_row(row, known, f"{where}: {dataset.name} row {number}")
            plan = plans[keys] = tuple(tag for tag in tags if tag[0] in row)
        out.append(row_open)
        for code, open_tag, close_tag in plan:
            value = row[code]
            if value is None or value == "":
                continue
            if type(value) is not str:
                _write_text(out, code, value, f"{where}: {dataset.name} row {number}")  # raises
            if "&" in value or "<" in value or ">" in value or "\r" in value:  # rare: no call
                value = _escape(value)
            out += (open_tag, value, close_tag)
        out.append(row_close)
    out.append(f"</{dataset.name}>")


def _refuse_row(row: object, known: frozenset[str], where: str) -> None:
    if not isinstance(row, dict):
        raise TypeError(f"{where}: expected a dict, got {type(row).__name__}")
    unknown = sorted(set(row) - known)
    raise ValueError(f"{where}: not part of this dataset: {', '.join(unknown)}")


# What XML 1.0 cannot carry: most C0 controls, lone surrogates, U+FFFE/U+FFFF.
_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_XML_BYTES = bytes(code for code in range(0x20) if code not in (0x09, 0x0A, 0x0D))  # the C0 ones


def _escape(text: str) -> str:
    # str.replace only when needed: most values hold none of these characters.
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _write_text(out: list[str], code: str, value: object, where: str) -> None:
    if value is None or value == "":
        return
    if type(value) is not str:
        raise TypeError(
            f"{where}: {_label(code)}: expected wire text (str), got {type(value).__name__}; "
            "call format_value / to_wire first"
        )
    if _NOT_XML_TEXT.search(value):
        raise ValueError(f"{where}: {_label(code)}: text holds characters XML cannot carry")
    out.append(f"<{code}>{_escape(value)}</{code}>")


# --------------------------------------------------------------------------- HIS values -> wire text


def format_value(code: str, value: object) -> str:
    """One HIS-side Python value -> the wire text of field `code`.

    Never rounds: a Decimal with more places than the field's scale is refused, because a
    silently rounded amount would settle a different sum than the HIS booked.
    """
    if isinstance(value, str):
        return value
    meta = FIELDS.get(code)
    if meta is None:
        raise ValueError(f"{code}: not a field of the spec; cannot format {type(value).__name__}")
    if meta.type == "decimal":
        return _format_decimal(meta, value)
    if meta.type in ("date", "datetime"):
        return _format_temporal(meta, value)
    if meta.type == "integer" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"{_label(code)}: cannot format {type(value).__name__} for a {meta.type} field")


def _format_decimal(meta: FieldMeta, value: object) -> str:
    # The one converter (generated/_convert.py) writes every decimal: never rounded.
    scale = meta.scale or 0
    whole = (meta.digits or _DEFAULT_DIGITS) - scale
    return _convert.write_decimal(value, scale, whole, _label(meta.code))


def _format_temporal(meta: FieldMeta, value: object) -> str:
    # The spec's Java-style format, translated once by codegen (a date field always has one).
    pattern = meta.strftime or "%Y%m%d"
    if meta.type == "datetime":
        return _convert.write_datetime(value, pattern, _label(meta.code))
    return _convert.write_date(value, pattern, _label(meta.code))


def to_wire(values: dict[str, Any]) -> dict[str, Any]:
    """format_value over a wire-shaped dict of Python values.

    None and "" are dropped: on the wire an empty element means absent, so an HIS that sends ""
    for an optional field means "not given", and a required one is then reported missing.
    """
    wire: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        if isinstance(value, list | tuple):
            wire[key] = [_row_to_wire(row) for row in value]
        else:
            wire[key] = format_value(key, value)
    return wire


def _row_to_wire(row: dict[str, Any]) -> dict[str, str]:
    return {code: format_value(code, value) for code, value in row.items() if value not in (None, "")}


def model_to_wire(model: BaseModel) -> dict[str, Any]:
    """A generated model -> its wire-shaped dict (aliases are the wire codes)."""
    return model.model_dump(by_alias=True, exclude_none=True)


def _label(code: str) -> str:
    """'bka058' -> 'bka058 金额': every message names the field the way the spec does."""
    return field_label(code)
