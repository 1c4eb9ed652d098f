"""Run a command; when it succeeds, write `<seconds> <UTC time>` to a file (`make test` → bench)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def main(arguments: list[str]) -> int:
    record, command = Path(arguments[0]), arguments[1:]
    started = time.perf_counter()
    status = subprocess.call(command)
    if status == 0:
        record.write_text(f"{time.perf_counter() - started:.1f} {datetime.now(UTC):%Y-%m-%dT%H:%MZ}\n")
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
