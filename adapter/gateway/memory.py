"""Give memory back after a large body.

A 12 MB fee list becomes a few hundred thousand Python objects while it is read and validated;
once the answer is sent they are garbage, but the C library keeps the freed heap for reuse, so
the process would stay at its peak (83 -> 203 MB, never released, in issue 11's measurement).
After a body larger than TRIM_AFTER_BYTES the gateway collects garbage and asks glibc to return
free pages (malloc_trim). Elsewhere (Windows, musl) only the collection runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from functools import cache

__all__ = ["TRIM_AFTER_BYTES", "return_memory"]

TRIM_AFTER_BYTES = 1024 * 1024


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def return_memory() -> None:
    """Collect garbage and hand free heap pages back to the operating system."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
