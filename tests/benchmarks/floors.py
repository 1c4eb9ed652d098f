"""A floor measured in the same run, to read the mock's throughput against: uvicorn with the
httptools parser, one worker and no access log (as the mock runs), answering every request with
fixed bytes. What it does per second is what the HTTP stack and the load generator leave room for.

`python tests/benchmarks/floors.py PORT ANSWER_FILE` serves until terminated.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import uvicorn


def fixed_answer(body: bytes, content_type: bytes) -> Any:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # read the request whole, as any server must
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    port, answer = int(sys.argv[1]), Path(sys.argv[2]).read_bytes()
    app = fixed_answer(answer, b"text/xml; charset=utf-8")
    uvicorn.run(app, host="127.0.0.1", port=port, http="httptools", access_log=False, log_level="warning",
                lifespan="off")


if __name__ == "__main__":
    main()
