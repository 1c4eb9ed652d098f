"""Run every hostile body through both sides in a fresh process; print timings and peak RSS.

Used by test_hostile.py: a process of its own, so the peak RSS belongs to the attacks alone.
Prints one JSON object: {"side name": [refusal text, best ms], ..., "peak_rss_mb": N}.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))

import httpx
from test_codec import HOSTILE
from wire import peak_rss_mb  # the one VmHWM reader (benchmarks/wire.py)

from adapter.errors import XmlRefusedError
from adapter.mock.app import create_app
from adapter.mock.inprocess import InProcessTransport
from adapter.wire.codec import decode
from generated.registry import SPEC


def client_side(body: bytes) -> str:
    try:
        decode(body, "bizh110001", "response")
    except XmlRefusedError as exc:
        return str(exc)
    return "ACCEPTED"


def mock_side(http: httpx.Client, body: bytes) -> str:
    response = http.post(SPEC.path, content=body)
    if response.status_code >= 500:
        return f"HTTP {response.status_code}"
    answer = decode(response.content, "bizh110001", "response").values
    return f"{answer['return_code']} {answer.get('return_code_message', '')}"


def best_of_three(action: object) -> tuple[str, float]:
    assert callable(action)
    timings, text = [], ""
    for _ in range(3):
        started = time.perf_counter()
        text = action()
        timings.append((time.perf_counter() - started) * 1000)
    return text, min(timings)


def main() -> None:
    results: dict[str, object] = {}
    with httpx.Client(transport=InProcessTransport(create_app()), base_url="http://mock") as http:
        http.post(SPEC.path, content=b"<program/>")  # warm the app before timing
        for name, (make_body, _expected) in HOSTILE.items():
            body = make_body()
            results[f"client: {name}"] = best_of_three(lambda b=body: client_side(b))
            results[f"mock: {name}"] = best_of_three(lambda b=body: mock_side(http, b))
            # Refusal tracebacks hold frames that hold the body: free them before the next attack.
            del body
            gc.collect()
    results["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(results, ensure_ascii=False))

if __name__ == "__main__":
    main()
