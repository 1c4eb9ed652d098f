"""Refusal: the mock province's business "no", answered with a negative return_code."""

from __future__ import annotations

from generated.registry import FIELDS

_DEFAULT_MESSAGES = {
    "-1": "business rule violated (业务校验不通过)",
    "-9": "session unknown or expired; log in again with sys0001 (会话已过期，请重新登录)",
}


def label(code: str) -> str:
    """'aaz218' -> 'aaz218 就医登记号': how a message names a field."""
    meta = FIELDS.get(code)
    return f"{code} {meta.name}" if meta else code


class Refusal(Exception):
    """A business-rule violation: becomes return_code `code` with return_code_message `message`.

    Messages name the field by code and 中文名 (`aaz218 就医登记号: no such stay`) and say what
    the rule is, in English and Chinese.
    """

    def __init__(self, code: str = "-1", message: str = "") -> None:
        self.code = code
        self.message = message or _DEFAULT_MESSAGES.get(code, _DEFAULT_MESSAGES["-1"])
        super().__init__(f"{self.code}: {self.message}")
