"""The wire codec: round trips for every message, real-world quirks, hostile XML, value formatting.

Round-trip strategies are built from the registry metadata, so a new function or field in the
spec is covered without touching this file. No test sends network traffic: every hostile body
is refused before libxml2 could even try.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree  # type: ignore[import-untyped]

from adapter.errors import XmlRefusedError
from adapter.wire import codec
from adapter.wire.codec import (
    DEFAULT_MAX_BYTES,
    MAX_DEPTH,
    MAX_WARNINGS,
    Decoded,
    decode,
    encode,
    format_value,
    make_parser,
    model_to_wire,
    parse_document,
    to_wire,
)
from adapter.wire.validation import InputError
from codegen.render import strftime_pattern
from generated._types import DatasetMeta, FieldMeta, MessageMeta, UseMeta
from generated.registry import FIELDS, FUNCTIONS, models_for

EXAMPLES: dict[str, Any] = json.loads(
    resources.files("generated").joinpath("examples.json").read_text(encoding="utf-8")
)
DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'
PARTS = ("request", "response")
SESSION = "0a9c782c-d375-4780-a377-ed506ec0cfce"
HOSTILE_BUDGET_SECONDS = 0.1


def program(inner: str) -> bytes:
    return (DECLARATION.decode() + f"<program>{inner}</program>").encode()


def example(function_id: str, part: str, index: int = 0) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(EXAMPLES[function_id][index][part]))
    return copy


# --------------------------------------------------------------------------- strategies

# XML-special characters and Chinese are drawn on purpose; control characters (Cc),
# surrogates (Cs) and non-characters (Cn) cannot travel in XML 1.0 text at all.
WIRE_CHARS = st.one_of(
    st.sampled_from(list("&<>\"'测试甲乙工伤医院；（）")),
    st.characters(exclude_categories=("Cc", "Cs", "Cn")),
)


def free_text(max_length: int | None) -> st.SearchStrategy[str]:
    """Non-empty text with no surrounding whitespace: the codec strips it, the spec allows it."""
    raw = st.text(WIRE_CHARS, min_size=1, max_size=max_length or 30)
    return raw.map(str.strip).filter(bool)


def value_strategy(use: UseMeta) -> st.SearchStrategy[str]:
    if use.closed_values:
        return st.sampled_from(use.closed_values)
    if use.pattern:
        limit = use.max_length
        return st.from_regex(use.pattern, fullmatch=True).filter(
            lambda text: text == text.strip() and (limit is None or len(text) <= limit)
        )
    return free_text(use.max_length)


def fields_strategy(uses: tuple[UseMeta, ...]) -> st.SearchStrategy[dict[str, str]]:
    required = {use.code: value_strategy(use) for use in uses if use.required}
    optional = {use.code: value_strategy(use) for use in uses if not use.required}
    return st.fixed_dictionaries(required, optional=optional)


def dataset_strategy(dataset: DatasetMeta) -> st.SearchStrategy[list[dict[str, str]]]:
    # An empty <row/> decodes as absent, so every generated row carries at least one field.
    row = fields_strategy(dataset.fields).filter(bool)
    return st.lists(row, min_size=max(1, dataset.min_rows), max_size=min(3, dataset.max_rows or 3))


@cache
def message_strategy(message: MessageMeta) -> st.SearchStrategy[dict[str, Any]]:
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for use in message.fields:
        (required if use.required else optional)[use.code] = value_strategy(use)
    for dataset in message.datasets:
        (required if dataset.required else optional)[dataset.name] = dataset_strategy(dataset)
    return st.fixed_dictionaries(required, optional=optional)


def message_meta(function_id: str, part: str) -> MessageMeta:
    meta = FUNCTIONS[function_id]
    return meta.request if part == "request" else meta.response


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_message_round_trips(function_id: str, part: str, data: st.DataObject) -> None:
    values = data.draw(message_strategy(message_meta(function_id, part)), label="values")
    body = encode(function_id, part, values, session_id=SESSION)  # type: ignore[arg-type]
    decoded = decode(body, function_id, part)  # type: ignore[arg-type]
    assert decoded.values == values
    assert decoded.warnings == []
    model_class = models_for(function_id)[0 if part == "request" else 1]
    assert model_to_wire(model_class.model_validate(values)) == values
    if part == "request":
        assert decoded.function_id == function_id
        login = FUNCTIONS[function_id].kind == "login"
        assert decoded.session_id == (None if login else SESSION)


@pytest.mark.parametrize("part", PARTS)
@pytest.mark.parametrize("function_id", sorted(set(EXAMPLES) - {"x-generated"}))
def test_spec_examples_round_trip(function_id: str, part: str) -> None:
    for index in range(len(EXAMPLES[function_id])):
        values = example(function_id, part, index)
        decoded = decode(encode(function_id, part, values, session_id=SESSION), function_id, part)  # type: ignore[arg-type]
        assert decoded == Decoded(
            function_id=function_id if part == "request" else None,
            values=values,
            warnings=[],
            session_id=SESSION if part == "request" and function_id != "sys0001" else None,
        )


# --------------------------------------------------------------------------- encoding


def test_encode_writes_declaration_envelope_and_registry_order() -> None:
    values = {"feeinfo": [{"bka058": "1.00", "ake005": "X1"}], "aaz218": "Z1", "akb020": "H1"}
    body = encode("bizh120002", "request", values, session_id=SESSION)
    assert body == (
        DECLARATION + f"<program><session_id>{SESSION}</session_id><function_id>bizh120002</function_id>"
        "<akb020>H1</akb020><aaz218>Z1</aaz218>"
        "<feeinfo><row><ake005>X1</ake005><bka058>1.00</bka058></row></feeinfo></program>".encode()
    )


def test_login_request_never_carries_a_session_id() -> None:
    body = encode("sys0001", "request", {"userid": "u1", "password": "p"}, session_id=SESSION)
    assert b"session_id" not in body
    assert body.startswith(DECLARATION + b"<program><function_id>sys0001</function_id>")


def test_encode_escapes_xml_special_text() -> None:
    body = encode("sys0001", "request", {"userid": "a&b", "password": "<x> \"q\" 'y'"})
    assert b"<userid>a&amp;b</userid>" in body
    assert b"<password>&lt;x&gt; \"q\" 'y'</password>" in body
    assert decode(body, "sys0001", "request").values == {"userid": "a&b", "password": "<x> \"q\" 'y'"}


def test_encode_leaves_out_none_and_empty_values() -> None:
    body = encode("sys0001", "response", {"return_code": "1", "return_code_message": None, "session_id": ""})
    assert body == DECLARATION + b"<program><return_code>1</return_code></program>"


def test_encode_refuses_keys_the_message_does_not_know() -> None:
    with pytest.raises(ValueError, match=r"sys0001 request: not part of this message: bka999"):
        encode("sys0001", "request", {"userid": "u", "password": "p", "bka999": "x"})
    with pytest.raises(ValueError, match=r"feeinfo row 1: not part of this dataset: bka999"):
        encode("bizh120002", "request", {"feeinfo": [{"bka999": "x"}]})


def test_encode_refuses_values_that_are_not_text_yet() -> None:
    with pytest.raises(TypeError, match=r"feeinfo row 1: bka058 金额: expected wire text \(str\), got Decimal"):
        encode("bizh120002", "request", {"feeinfo": [{"bka058": Decimal("1.00")}]})


def test_encode_refuses_text_xml_cannot_carry() -> None:
    with pytest.raises(ValueError, match=r"userid .*: text holds characters XML cannot carry"):
        encode("sys0001", "request", {"userid": "a\x00b", "password": "p"})


def test_unknown_function_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown function_id 'bizh999999'"):
        decode(program(""), "bizh999999", "response")


# --------------------------------------------------------------------------- real-world quirks


def test_element_order_does_not_matter() -> None:
    values = example("bizh120002", "request")
    root = etree.fromstring(encode("bizh120002", "request", values, session_id=SESSION), make_parser())
    root[:] = list(reversed(root))
    for dataset in root.iter("feeinfo"):
        for row in dataset:
            row[:] = list(reversed(row))
    decoded = decode(etree.tostring(root), "bizh120002", "request")
    assert (decoded.values, decoded.warnings) == (values, [])


@pytest.mark.parametrize("empty", ["<bka070/>", "<bka070></bka070>", "<bka070>  \n </bka070>"])
def test_empty_element_means_absent(empty: str) -> None:
    body = program(
        "<akb020>H1</akb020><aaz218>Z1</aaz218><bka999/>"
        f"<feeinfo><row><ake005>X1</ake005>{empty}</row><row/></feeinfo>"
    )
    decoded = decode(body, "bizh120002", "request")
    assert decoded.values == {"akb020": "H1", "aaz218": "Z1", "feeinfo": [{"ake005": "X1"}]}


def test_unknown_elements_are_warnings_and_dropped() -> None:
    body = program(
        "<akb020>H1</akb020><bka999>surprise</bka999>"
        "<feeinfo><row><ake005>X1</ake005><bkz001>new</bkz001></row></feeinfo>"
    )
    decoded = decode(body, "bizh120002", "request")
    assert decoded.values == {"akb020": "H1", "feeinfo": [{"ake005": "X1"}]}
    assert decoded.warnings == [
        "bizh120002 request: unknown element <bka999> ignored",
        "bizh120002 request: feeinfo row 1: unknown element <bkz001> ignored",
    ]


def test_one_row_dataset_is_still_a_list() -> None:
    body = program("<return_code>1</return_code><personinfo><row><aac003>测试甲</aac003></row></personinfo>")
    assert decode(body, "bizh110001", "response").values["personinfo"] == [{"aac003": "测试甲"}]


def test_pretty_printed_and_one_line_bodies_decode_alike() -> None:
    one_line = program(
        "<return_code>1</return_code><return_code_message>成功</return_code_message>"
        "<personinfo><row><aac001>10000001</aac001><aac003>测试甲</aac003></row>"
        "<row><aac001>10000002</aac001></row></personinfo>"
    )
    pretty = """<?xml version="1.0" encoding="utf-8"?>
<program>
    <return_code>
        1
    </return_code>
    <return_code_message>成功</return_code_message>
    <personinfo>
        <row>
            <aac001>10000001</aac001>
            <aac003>  测试甲  </aac003>
        </row>
        <row>
            <aac001>10000002</aac001>
        </row>
    </personinfo>
</program>
""".encode()
    one, many = decode(one_line, "bizh110001", "response"), decode(pretty, "bizh110001", "response")
    assert one == many
    assert one.values["personinfo"][0] == {"aac001": "10000001", "aac003": "测试甲"}
    assert one.warnings == []


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_negative_return_code_decodes_for_every_function(function_id: str) -> None:
    body = program("<return_code>-1</return_code><return_code_message>已经办理过退费，不能重复退费</return_code_message>")
    decoded = decode(body, function_id, "response")
    assert decoded.values == {"return_code": "-1", "return_code_message": "已经办理过退费，不能重复退费"}
    assert decoded.warnings == []


def test_duplicates_keep_the_first_value_and_merge_rows_with_warnings() -> None:
    body = program(
        "<akb020>H1</akb020><akb020>H2</akb020>"
        "<feeinfo><row><ake005>A</ake005></row></feeinfo><feeinfo><row><ake005>B</ake005></row></feeinfo>"
    )
    decoded = decode(body, "bizh120002", "request")
    assert decoded.values == {"akb020": "H1", "feeinfo": [{"ake005": "A"}, {"ake005": "B"}]}
    assert decoded.warnings == [
        "bizh120002 request: element <akb020> appears more than once; the first value is kept",
        "bizh120002 request: element <feeinfo> appears more than once; its rows are merged",
    ]


def test_structure_surprises_are_warnings() -> None:
    body = program(
        "stray<akb020><x>1</x></akb020>"
        "<feeinfo>loose<item><ake005>A</ake005></item><row><ake005><y/></ake005></row></feeinfo>"
    )
    decoded = decode(body, "bizh120002", "request")
    assert decoded.values == {}
    assert decoded.warnings == [
        "bizh120002 request: text directly inside <program> ignored",
        "bizh120002 request: element <akb020> should hold text but holds elements; ignored",
        "bizh120002 request: feeinfo: text outside <row> ignored",
        "bizh120002 request: feeinfo: element <item> is not a <row>; ignored",
        "bizh120002 request: feeinfo row 1: element <ake005> should hold text but holds elements; ignored",
    ]


def test_a_flood_of_unknown_elements_yields_a_bounded_list_of_warnings() -> None:
    decoded = decode(program("<a/>" * (MAX_WARNINGS + 50)), "bizh110001", "request")
    assert len(decoded.warnings) == MAX_WARNINGS + 1
    assert decoded.warnings[-1] == "bizh110001 request: 50 more warnings not shown"


def test_an_answers_unknown_elements_are_noted_once_not_also_warned() -> None:
    """The client reports them as deviations: a codec warning each would say it twice."""
    decoded = decode(program("<a/>" * (MAX_WARNINGS * 20)), "bizh110001", "response")
    assert decoded.warnings == []
    assert len(decoded.found) == MAX_WARNINGS * 10 and decoded.found[0] == ("a", "a", "unknown_element")


def test_request_envelope_is_reported_not_kept_in_values() -> None:
    body = program(f"<function_id>bizh120003</function_id><session_id>{SESSION}</session_id><akb020>H1</akb020>")
    decoded = decode(body, "bizh120002", "request")
    assert (decoded.function_id, decoded.session_id, decoded.values) == ("bizh120003", SESSION, {"akb020": "H1"})
    assert decoded.warnings == ["bizh120002 request: <function_id> says bizh120003; decoded as bizh120002"]


def test_login_response_keeps_session_id_as_a_value() -> None:
    body = program(f"<return_code>1</return_code><session_id>{SESSION}</session_id>")
    assert decode(body, "sys0001", "response").values == {"return_code": "1", "session_id": SESSION}


# --------------------------------------------------------------------------- hostile input

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE program [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<program><return_code>&lol9;</return_code></program>"""
QUADRATIC_BLOWUP = (
    b'<?xml version="1.0"?><!DOCTYPE program [<!ENTITY a "' + b"x" * 50_000 + b'">]><program><aac003>'
    + b"&a;" * 50_000
    + b"</aac003></program>"
)
XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE program [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<program><return_code>&xxe;</return_code></program>"""
XXE_HTTP = b"""<?xml version="1.0"?>
<!DOCTYPE program [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">]>
<program><return_code>&xxe;</return_code></program>"""
XXE_PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE program [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>
<program/>"""
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE program SYSTEM "http://127.0.0.1:9/x.dtd"><program/>'
DOCTYPE_AFTER_COMMENT = b'<?xml version="1.0"?><!-- hello --><?pi x?><!DOCTYPE program><program/>'
BARE_ENTITY = b"<!ENTITY e 'x'><program/>"


def nested(depth: int) -> bytes:
    return b"<program>" + b"<a>" * depth + b"</a>" * depth + b"</program>"


def fifty_megabytes() -> bytes:
    return b"<program><aac003>" + b"a" * (50 * 1024 * 1024) + b"</aac003></program>"


HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "billion laughs": (lambda: BILLION_LAUGHS, "DOCTYPE refused: DTDs and entities are not accepted"),
    "quadratic blowup": (lambda: QUADRATIC_BLOWUP, "DOCTYPE refused"),
    "external entity file": (lambda: XXE_FILE, "DOCTYPE refused"),
    "external entity http": (lambda: XXE_HTTP, "DOCTYPE refused"),
    "external parameter entity": (lambda: XXE_PARAMETER, "DOCTYPE refused"),
    "external DTD": (lambda: EXTERNAL_DTD, "DOCTYPE refused"),
    "bare DOCTYPE after comment and PI": (lambda: DOCTYPE_AFTER_COMMENT, "DOCTYPE refused"),
    "ENTITY without DOCTYPE": (lambda: BARE_ENTITY, "ENTITY declaration refused"),
    "50 MB body": (fifty_megabytes, f"larger than the limit of {DEFAULT_MAX_BYTES} bytes"),
    "10,000-deep nesting": (lambda: nested(10_000), f"nesting deeper than {MAX_DEPTH} levels"),
    "one level too deep": (lambda: nested(MAX_DEPTH), f"nesting deeper than {MAX_DEPTH} levels"),
    "invalid UTF-8": (lambda: program("<aac003>\xff</aac003>").replace(b"\xc3\xbf", b"\xff\xfe"),
                      "invalid UTF-8 at byte offset"),
    "GBK declared": (lambda: '<?xml version="1.0" encoding="GBK"?><program><aac003>测试甲</aac003></program>'
                     .encode("gbk"), "declared encoding 'GBK': only UTF-8 is accepted"),
    "UTF-16 body": (lambda: '<?xml version="1.0" encoding="utf-16"?><program/>'.encode("utf-16"),
                    "UTF-16 or UTF-32: only UTF-8 is accepted"),
    "truncated": (lambda: encode("sys0001", "request", {"userid": "u", "password": "p"})[:-12],
                  "malformed XML: "),
    "undefined entity": (lambda: program("<aac003>&xxe;</aac003>"), "malformed XML: Entity 'xxe' not defined"),
    "empty body": (lambda: b"", "malformed XML: Document is empty"),
    "wrong root": (lambda: b"<root><return_code>1</return_code></root>", "root element is <root>, expected <program>"),
}


def passwd_first_line() -> str | None:
    try:
        return Path("/etc/passwd").read_text(encoding="utf-8", errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return None


def refuse_quickly(body: bytes) -> tuple[XmlRefusedError, float]:
    """The refusal and its best time over three tries (a shared machine has pauses)."""
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        with pytest.raises(XmlRefusedError) as caught:
            decode(body, "bizh110001", "response")
        timings.append(time.perf_counter() - started)
    return caught.value, min(timings)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_body_is_refused_quickly_with_a_specific_message(name: str) -> None:
    make_body, expected = HOSTILE[name]
    body = make_body()
    refused, elapsed = refuse_quickly(body)
    assert expected in str(refused)
    assert elapsed < HOSTILE_BUDGET_SECONDS, f"{name}: refused after {elapsed * 1000:.1f} ms"
    secret = passwd_first_line()
    assert secret is None or secret not in str(refused)


def test_nesting_at_the_limit_is_accepted() -> None:
    decoded = decode(nested(MAX_DEPTH - 1), "bizh110001", "response")
    assert decoded.found == [("a", "a", "unknown_element")]


def test_size_cap_is_a_parameter() -> None:
    body = program("<return_code>1</return_code>")
    assert parse_document(body, max_bytes=len(body)).tag == "program"
    with pytest.raises(XmlRefusedError, match="larger than the limit of 10 bytes"):
        parse_document(body, max_bytes=10)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (XXE_FILE, "DOCTYPE refused"),
        (EXTERNAL_DTD, "DOCTYPE refused"),
        # libxml2 itself stops the expansion before the tree check could run: still refused.
        (BILLION_LAUGHS, "entity amplification factor exceeded"),
    ],
    ids=["xxe", "dtd", "laughs"],
)
def test_later_defences_hold_if_the_prolog_scan_missed_a_doctype(
    body: bytes, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codec, "_refuse_declarations_in_prolog", lambda body: None)
    started = time.perf_counter()
    with pytest.raises(XmlRefusedError, match=expected) as caught:
        parse_document(body)
    assert time.perf_counter() - started < HOSTILE_BUDGET_SECONDS
    secret = passwd_first_line()
    assert secret is None or secret not in str(caught.value)


def test_hardened_parser_never_reads_local_files() -> None:
    root = etree.fromstring(XXE_FILE, make_parser())
    text = etree.tostring(root, encoding="unicode")
    secret = passwd_first_line()
    assert secret is None or secret not in text
    assert "root:" not in text


def test_utf8_with_byte_order_mark_is_accepted() -> None:
    body = b"\xef\xbb\xbf" + program("<return_code>1</return_code>")
    assert decode(body, "bizh110001", "response").values == {"return_code": "1"}


# --------------------------------------------------------------------------- HIS values -> wire text


@pytest.mark.parametrize(
    ("code", "value", "wire"),
    [
        ("bka058", Decimal("12.5"), "12.50"),
        ("bka058", Decimal("12.500"), "12.50"),
        ("bka058", 12, "12.00"),
        ("bka058", 0.1, "0.10"),
        ("bka058", Decimal("-6.25"), "-6.25"),
        ("bka058", Decimal("-0"), "0.00"),
        ("bka058", Decimal("9999999999.99"), "9999999999.99"),
        ("bka056", Decimal("3.125"), "3.1250"),
        ("bka051", dt.date(2019, 5, 8), "20190508"),
        ("bka051", dt.datetime(2019, 5, 8, 23, 59), "20190508"),
        ("aac001", 10000001, "10000001"),
        ("aac003", "测试甲", "测试甲"),
        ("bka058", "12.345", "12.345"),  # text is the caller's wire text already: unchanged
    ],
)
def test_format_value(code: str, value: object, wire: str) -> None:
    assert format_value(code, value) == wire


def test_over_precise_decimal_is_refused_naming_code_and_chinese_name() -> None:
    with pytest.raises(ValueError, match=r"^bka058 金额: more than 2 decimal places"):
        format_value("bka058", Decimal("12.345"))
    with pytest.raises(ValueError, match=r"^bka056 单价: more than 4 decimal places"):
        format_value("bka056", 0.00001)


@pytest.mark.parametrize(
    ("code", "value", "error", "message"),
    [
        ("bka058", Decimal("12345678901"), ValueError, "bka058 金额: more than 10 digits before the decimal point"),
        ("bka058", Decimal("1E+999999999"), ValueError, "more than 10 digits before the decimal point"),
        ("bka058", Decimal("NaN"), ValueError, "bka058 金额: NaN is not a finite number"),
        ("bka058", True, TypeError, "bka058 金额: expected Decimal, int or float, got bool"),
        ("bka051", "x", None, None),
        ("bka051", 20190508, TypeError, "bka051 费用发生日期: expected date, got int"),
        ("aac001", 1.5, TypeError, "aac001 电脑号: cannot format float for a integer field"),
        ("aac003", 5, TypeError, "aac003 姓名: cannot format int for a string field"),
        ("zzz999", 5, ValueError, "zzz999: not a field of the spec"),
    ],
)
def test_format_value_refusals(code: str, value: object, error: type[Exception] | None, message: str | None) -> None:
    if error is None:
        assert format_value(code, value) == value
        return
    with pytest.raises(error) as caught:
        format_value(code, value)
    assert message is not None and message in str(caught.value)


@pytest.fixture
def datetime_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    """The current spec has date fields only; the datetime formats it allows are tested here."""
    for code, java_format in [("zzt001", "yyyyMMddHHmmss"), ("zzt002", "yyyy-MM-dd HH:mm:ss")]:
        meta = FieldMeta(code, "测试时间", "test", code, "datetime", None, None, None, java_format, None, "none", "high",
                         strftime_pattern(java_format))
        monkeypatch.setitem(FIELDS, code, meta)


@pytest.mark.usefixtures("datetime_fields")
def test_datetime_formats() -> None:
    moment = dt.datetime(2019, 5, 8, 9, 3, 7)
    assert format_value("zzt001", moment) == "20190508090307"
    assert format_value("zzt002", moment) == "2019-05-08 09:03:07"
    utc = dt.datetime(2019, 5, 8, 20, 0, 0, tzinfo=dt.UTC)
    assert format_value("zzt001", utc) == "20190509040000"  # shown in Beijing time
    with pytest.raises(TypeError, match="zzt001 测试时间: expected datetime, got date"):
        format_value("zzt001", dt.date(2019, 5, 8))


def test_to_wire_formats_scalars_and_rows_and_drops_none() -> None:
    values = {
        "akb020": "H1",
        "aaz218": None,
        "feeinfo": [{"ake005": "X1", "bka056": Decimal("3.125"), "bka058": 12, "bka051": dt.date(2019, 5, 8),
                     "bka070": None}],
    }
    assert to_wire(values) == {
        "akb020": "H1",
        "feeinfo": [{"ake005": "X1", "bka056": "3.1250", "bka058": "12.00", "bka051": "20190508"}],
    }


def test_model_to_wire_uses_wire_codes_and_leaves_out_none() -> None:
    request_model, _ = models_for("bizh120002")
    values = example("bizh120002", "request", 1)
    model = request_model.model_validate(values)
    assert model_to_wire(model) == values
    assert decode(encode("bizh120002", "request", model_to_wire(model)), "bizh120002", "request").values == values
