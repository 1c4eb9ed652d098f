"""One error tree: every exception class under adapter/ derives from GdwiError, and field
problems are structured data the CLI and the gateway read without parsing text."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import adapter
from adapter.errors import FieldProblem, GdwiError, InputError, UnknownFunctionError
from adapter.wire.validation import validate_message


def _modules() -> list[str]:
    names = [adapter.__name__]
    for info in pkgutil.walk_packages(adapter.__path__, prefix="adapter."):
        if not info.name.endswith("__main__"):  # importing it runs the command line
            names.append(info.name)
    return names


def test_every_exception_class_in_adapter_derives_from_gdwi_error() -> None:
    found: dict[str, type[BaseException]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("adapter"):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    strays = sorted(name for name, cls in found.items() if not issubclass(cls, GdwiError))
    assert len(found) > 30, sorted(found)  # the walk saw the tree, private classes included
    assert strays == []


def test_public_error_classes_live_in_adapter_errors() -> None:
    defined_elsewhere = []
    for name in _modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseException) and not attr.startswith("_")
                    and value.__module__ == name and name != "adapter.errors"):
                defined_elsewhere.append(f"{name}.{attr}")
    assert defined_elsewhere == []


def test_input_error_problems_are_structured() -> None:
    with pytest.raises(InputError) as caught:
        validate_message("bizh120002", "request", {
            "akb020": "H001", "aaz218": "1", "feeinfo": [{"bka058": "12.345"}],
        })
    problems = caught.value.problems
    assert all(isinstance(p, FieldProblem) for p in problems)
    amount = next(p for p in problems if p.code == "bka058")
    assert amount.path == "feeinfo[0].bka058" and amount.name == "金额"
    assert str(amount).startswith("feeinfo[0].bka058 金额: ")
    assert str(caught.value).startswith("bizh120002: ")


def test_plain_string_problems_are_still_accepted() -> None:
    error = InputError("bizh110001", ["aac002 社会保障号码: must be 15 or 18 characters"])
    assert str(error) == "bizh110001: aac002 社会保障号码: must be 15 or 18 characters"
    assert error.problems[0].path is None and isinstance(error, ValueError)


def test_unknown_function_suggests_the_closest() -> None:
    with pytest.raises(UnknownFunctionError) as caught:
        validate_message("bizh12001", "request", {})
    assert "bizh120001" in caught.value.suggestions
    assert "did you mean bizh120001" in str(caught.value)


def test_the_package_exports_load_on_first_use() -> None:
    """`import adapter` (every `gdwi` start goes through it) does not load the client; each public
    name still resolves to its home's object."""
    import subprocess
    import sys

    code = ("import sys, adapter\n"
            "assert 'adapter.wire.client' not in sys.modules and 'httpx' not in sys.modules\n"
            "from adapter import Client, GdwiError, Journal, Settings\n"
            "from adapter.wire.client import Client as home\n"
            "assert Client is home and all(getattr(adapter, n) is not None for n in adapter.__all__)\n")
    subprocess.run([sys.executable, "-c", code], check=True)
