"""PII masking: per class, wire dicts, XML text, the ID safety net, and log records."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.wire.masking import (
    PASSWORD_MASK,
    PII_CLASSES,
    MaskingFilter,
    install_log_masking,
    mask_value,
    mask_wire,
    mask_xml_text,
    redact_password,
    scrub,
)
from generated.registry import FIELDS

ID18 = "44190019900101001X"  # synthetic
ID18_MASKED = "441900********001X"
ID15 = "441900900101001"  # synthetic, old 15-digit form
ID15_MASKED = "441900*****1001"


class ListHandler(logging.Handler):
    """Keeps what a real handler would write."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logger_and_handler() -> tuple[logging.Logger, ListHandler]:
    logger = logging.getLogger("gdwi.test.masking")
    logger.handlers.clear()
    logger.filters.clear()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = ListHandler()
    logger.addHandler(handler)
    return logger, handler


# --- mask_value ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pii_class", "value", "expected"),
    [
        ("id_number", ID18, ID18_MASKED),
        ("id_number", ID15, ID15_MASKED),
        ("id_number", "12345678901", "123456*8901"),  # 11: the shortest 6+4 form
        ("id_number", "D1234567", "D*******"),  # short: first character only
        ("id_number", "7", "*"),
        ("name", "张三丰", "张**"),
        ("name", "张三", "张*"),
        ("name", "张", "*"),  # one character: nothing can be shown
        ("phone", "13800138000", "138******00"),
        ("phone", "020-12345678", "020*******78"),
        ("phone", "12345", "*****"),  # short: all stars
        ("card_no", "6222021234567890123", "62***************23"),
        ("card_no", "1234", "****"),
        ("address", "广东省东莞市某路1号", "***"),
        ("free_text", "患者自述 44190019900101001X", "***"),
        ("none", "H44190000001", "H44190000001"),
        ("id_number", "", ""),
        ("address", "", ""),
    ],
)
def test_mask_value_per_class(pii_class: str, value: str, expected: str) -> None:
    assert mask_value(pii_class, value) == expected


def test_mask_value_unknown_class_fails_closed() -> None:
    assert mask_value("email", "someone@example.com") == "***"


def test_registry_uses_only_known_pii_classes() -> None:
    assert {field.pii for field in FIELDS.values()} <= PII_CLASSES


@given(st.text(min_size=11, max_size=30))
def test_id_number_keeps_length_and_only_first_six_last_four(value: str) -> None:
    masked = mask_value("id_number", value)
    assert len(masked) == len(value)
    assert masked[:6] == value[:6] and masked[-4:] == value[-4:]
    assert set(masked[6:-4]) == {"*"}


# --- mask_wire ----------------------------------------------------------------------------


def test_mask_wire_masks_by_registry_class_and_keeps_the_rest() -> None:
    rows = [{"bka015": "李四", "bka058": "12.50"}, {"bka074": "D1234567"}]
    values: dict[str, Any] = {
        "akb020": "H44190000001",
        "aac002": ID18,
        "aac003": "张三",
        "aaz218": "20240301000000000001",
        "password": "S3cret-Pw!",
        "feeinfo": rows,
    }
    masked = mask_wire(values)
    assert masked == {
        "akb020": "H44190000001",
        "aac002": ID18_MASKED,
        "aac003": "张*",
        "aaz218": "20240301000000000001",
        "password": PASSWORD_MASK,
        "feeinfo": [{"bka015": "李*", "bka058": "12.50"}, {"bka074": "D*******"}],
    }
    assert values["aac002"] == ID18 and rows[0]["bka015"] == "李四"  # input untouched


def test_mask_wire_keeps_absent_values_and_unknown_codes() -> None:
    assert mask_wire({"aac002": None, "zzz999": ID18}) == {"aac002": None, "zzz999": ID18}


# --- XML ----------------------------------------------------------------------------------

REQUEST_XML = (
    "<program><session_id>S1</session_id><function_id>bizh110104</function_id>"
    f"<akb020>H44190000001</akb020><aac002>{ID18}</aac002>"
    '<aac003 lang="zh">张三</aac003><aac010/><aae005>13800138000</aae005>'
    "<aaz218>20240301000000000001</aaz218></program>"
)


def test_mask_xml_text_masks_pii_elements_and_leaves_others() -> None:
    masked = mask_xml_text(REQUEST_XML)
    assert f"<aac002>{ID18_MASKED}</aac002>" in masked
    assert '<aac003 lang="zh">张*</aac003>' in masked
    assert "<aae005>138******00</aae005>" in masked
    assert "<aac010/>" in masked  # self-closing: nothing to mask, not swallowed
    assert "<akb020>H44190000001</akb020>" in masked
    assert "<aaz218>20240301000000000001</aaz218>" in masked
    assert ID18 not in masked


def test_mask_xml_text_keeps_whitespace_and_cdata() -> None:
    masked = mask_xml_text("<row>\n  <aac003>\n    张三\n  </aac003><bka043><![CDATA[a<b]]></bka043></row>")
    assert "<aac003>\n    张*\n  </aac003>" in masked
    assert "<bka043><![CDATA[***]]></bka043>" in masked


def test_mask_xml_text_safety_net_catches_id_in_a_non_pii_element() -> None:
    masked = mask_xml_text(f"<program><return_code_message>x</return_code_message><bka896x>{ID18}</bka896x></program>")
    assert ID18 not in masked and ID18_MASKED in masked


@pytest.mark.parametrize(
    "xml",
    [
        "<program><userid>u1</userid><password>S3cret-Pw!</password></program>",
        '<program><password type="plain">S3cret-Pw!</password></program>',
        "<program><PASSWORD><![CDATA[S3cret-Pw!]]></PASSWORD></program>",
        "<program><password>\nS3cret-Pw!\n</password></program>",
        "<program><password>S3cret-Pw!",  # truncated body: no closing tag
    ],
)
def test_password_is_removed(xml: str) -> None:
    for text in (redact_password(xml), mask_xml_text(xml)):
        assert "S3cret-Pw!" not in text
        assert PASSWORD_MASK in text


def test_redact_password_leaves_other_elements_alone() -> None:
    xml = "<program><password/><password_hint>abc</password_hint><userid>u1</userid></program>"
    assert redact_password(xml) == xml


# --- scrub --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"aac002={ID18}", f"aac002={ID18_MASKED}"),
        ("44190019900101001x", "441900********001x"),
        ("441900199001010012", "441900********0012"),
        (f"id {ID15} end", f"id {ID15_MASKED} end"),
        (f"身份证{ID18}已登记", f"身份证{ID18_MASKED}已登记"),
        (f"{ID18},{ID15}", f"{ID18_MASKED},{ID15_MASKED}"),
        (f"H{ID18}", f"H{ID18_MASKED}"),  # bounded by non-digits: a letter counts
    ],
)
def test_scrub_masks_id_like_runs(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "aaz218=20240301000000000001",  # 20 digits: a serial number, not half-masked
        "12345678901234567890123",  # 23 digits
        "1234567890123456",  # 16
        "12345678901234567",  # 17
        "1234567890123456789",  # 19
        "20240301120000",  # 14: a datetime
        "44190019900101001X5",  # X inside a longer run is not an ID's check character
        "H44190000001 return_code -1",
    ],
)
def test_scrub_leaves_other_numbers_whole(text: str) -> None:
    assert scrub(text) == text


@given(
    st.integers(min_value=1, max_value=40).filter(lambda n: n not in (15, 18)),
    st.sampled_from([" ", "a", "号", "=", ""]),
)
def test_scrub_never_touches_digit_runs_of_other_lengths(length: int, border: str) -> None:
    text = f"{border}{'7' * length}{border}"
    assert scrub(text) == text


@given(st.text())
def test_scrub_is_idempotent(text: str) -> None:
    assert scrub(scrub(text)) == scrub(text)


# --- logging ------------------------------------------------------------------------------


def test_masking_filter_on_a_real_logger(logger_and_handler: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = logger_and_handler
    install_log_masking(logger)
    logger.info("patient %s registered, aaz218 %s", ID18, "20240301000000000001")
    assert handler.lines == [f"patient {ID18_MASKED} registered, aaz218 20240301000000000001"]


def test_masking_filter_scrubs_exception_text(logger_and_handler: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = logger_and_handler
    install_log_masking(logger)
    try:
        raise ValueError(f"bad aac002 {ID18}")
    except ValueError:
        logger.exception("refused")
    assert ID18 not in handler.lines[0]
    assert f"ValueError: bad aac002 {ID18_MASKED}" in handler.lines[0]


def test_records_from_child_loggers_are_masked_at_the_handler(
    logger_and_handler: tuple[logging.Logger, ListHandler],
) -> None:
    logger, handler = logger_and_handler
    install_log_masking(logger)
    child = logging.getLogger(f"{logger.name}.transport")
    child.warning("timeout for %s", ID18)
    assert handler.lines == [f"timeout for {ID18_MASKED}"]


def test_install_log_masking_is_idempotent(logger_and_handler: tuple[logging.Logger, ListHandler]) -> None:
    logger, handler = logger_and_handler
    install_log_masking(logger)
    install_log_masking(logger)
    assert sum(isinstance(f, MaskingFilter) for f in logger.filters) == 1
    assert sum(isinstance(f, MaskingFilter) for f in handler.filters) == 1


def test_masking_filter_survives_a_bad_format_string(
    logger_and_handler: tuple[logging.Logger, ListHandler],
) -> None:
    logger, handler = logger_and_handler
    install_log_masking(logger)
    logger.info("two placeholders %s %s", ID18)
    assert len(handler.lines) == 1 and ID18 not in handler.lines[0]
