"""Function ids written by hand in adapter/: a ceiling, so restated contract facts cannot creep back.

A string constant that is exactly a function id (`"bizh110104"`, `"sys0001"`) counts; docstrings,
comments and ids inside longer messages do not. Not counted: the mock (a stand-in province that
plays each transaction), the demo script and the HIS mapping declarations (one declaration per
transaction is their job). Everything else reads roles, openers, confirmations and the login from
generated.registry. Issue 9's goal is at most 60; lower CEILING whenever the count drops.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ADAPTER = Path(__file__).resolve().parents[1] / "adapter"
EXEMPT = ("mock/", "cli/demo.py", "his/mapping.py", "his/declarations.py")
FUNCTION_ID = re.compile(r"(?:bizh\d{6}|sys\d{4})")
CEILING = 41


def function_id_literals() -> dict[str, int]:
    """adapter-relative path -> how many string constants there are exactly a function id."""
    counts: dict[str, int] = {}
    for path in sorted(ADAPTER.rglob("*.py")):
        relative = path.relative_to(ADAPTER).as_posix()
        if relative.startswith(EXEMPT):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = sum(1 for node in ast.walk(tree)
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and FUNCTION_ID.fullmatch(node.value))
        if found:
            counts[relative] = found
    return counts


def test_counter_sees_literals_and_skips_docstrings() -> None:
    source = '"""bizh110104 in a docstring."""\nA = "bizh110104"\nB = f"{A} bizh110105"\nC = ("sys0001",)\n'
    tree = ast.parse(source)
    hits = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and FUNCTION_ID.fullmatch(n.value)]
    assert hits == ["bizh110104", "sys0001"]


def test_function_id_literals_stay_under_the_ceiling() -> None:
    counts = function_id_literals()
    total = sum(counts.values())
    worst = ", ".join(f"{path} {n}" for path, n in sorted(counts.items(), key=lambda item: -item[1])[:5])
    assert total <= CEILING, (
        f"{total} function-id literals in adapter/ (ceiling {CEILING}; most in {worst}): read the "
        "fact from generated.registry (LOGIN, OPENERS, FUNCTIONS[...].confirm / compensation / group)")
