"""Bearer-token authentication for every gateway endpoint except the documentation.

The HIS sends `Authorization: Bearer <token>`; the token is a shared secret configured on the
gateway host (GDWI_GATEWAY_TOKEN or a token file, never a command-line argument: those show in
`ps`). The comparison hashes both sides first and compares the digests with hmac.compare_digest,
so it takes the same time whatever the presented token's length or content. A refusal is a 401
with the gateway's JSON error shape and `WWW-Authenticate: Bearer`; the token never appears in a
response or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from adapter.errors import ConfigError, TokenError
from adapter.gateway.errors import error_body
from adapter.wire.institutions import read_secret_file

__all__ = ["INSTITUTION_STATE", "MIN_TOKEN_BITS", "MIN_TOKEN_LENGTH", "TOKEN_ENV", "BearerAuth", "TokenError",
           "check_token", "read_token"]

log = logging.getLogger("gdwi.gateway")
MIN_TOKEN_LENGTH = 16
# length x log2(distinct characters): secrets.token_urlsafe(16) scores about 90, a 16-character
# word with digits about 60, "aaaa…" 0.
MIN_TOKEN_BITS = 80
TOKEN_ENV = "GDWI_GATEWAY_TOKEN"
MAKE_ONE = "e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"


def check_token(token: str) -> str:
    """The token if it is usable; TokenError saying why not (short, guessable, whitespace)."""
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenError(f"the gateway token must be at least {MIN_TOKEN_LENGTH} characters ({MAKE_ONE})")
    if any(character.isspace() for character in token):
        raise TokenError("the gateway token must not contain whitespace")
    if len(token) * math.log2(max(len(set(token)), 1)) < MIN_TOKEN_BITS:
        raise TokenError(f"the gateway token is too easy to guess: too few different characters "
                         f"for its length ({MAKE_ONE})")
    return token


def read_token(token_file: Path | None, environ: Mapping[str, str] | None = None, *,
               variable: str = TOKEN_ENV) -> str:
    """The token from `token_file` if given, else from `variable` (GDWI_GATEWAY_TOKEN, or an
    institution's GDWI_<akb020>_GATEWAY_TOKEN); checked for strength.

    A token file that group or others may read is refused: anyone on the host could act as the HIS.
    """
    env = os.environ if environ is None else environ
    if token_file is not None:
        try:
            token = read_secret_file(token_file, "--token-file")
        except ConfigError as exc:
            raise TokenError(str(exc)) from None
    else:
        token = env.get(variable, "").strip()
    if not token:
        where = "--token-file FILE" if variable == TOKEN_ENV else "token_file in its table"
        raise TokenError(f"no gateway token: set {variable} or give {where} "
                         "(never on the command line)")
    return check_token(token)


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


INSTITUTION_STATE = "institution"


class BearerAuth:
    """ASGI middleware: requests to `public_paths` pass; every other one needs a token.

    `tokens` maps each token to the institution (akb020) it acts for; the request's institution
    is put in the ASGI scope's state (`request.state.institution`). Every token is compared, in
    constant time, whichever matches.
    """

    def __init__(self, app: ASGIApp, tokens: Mapping[str, str], public_paths: frozenset[str]) -> None:
        self.app = app
        self._expected = [(_digest(check_token(token).encode("utf-8")), institution)
                          for token, institution in tokens.items()]
        self._public = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._public:
            await self.app(scope, receive, send)
            return
        institution = self._institution(scope)
        if institution is not None:
            scope.setdefault("state", {})[INSTITUTION_STATE] = institution
            await self.app(scope, receive, send)
            return
        log.warning("refused %s %r: missing or wrong bearer token", scope["method"], scope["path"])
        await _unauthorized(send)

    def _institution(self, scope: Scope) -> str | None:
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        digest = _digest(presented.strip().encode("utf-8"))
        found = None
        for expected, institution in self._expected:  # no early exit: the same work for every token
            if hmac.compare_digest(digest, expected):
                found = institution
        return found


async def _unauthorized(send: Send) -> None:
    body = json.dumps(error_body("unauthorized", "missing or wrong bearer token: send "
                                 "`Authorization: Bearer <token>`"), ensure_ascii=False).encode("utf-8")
    await send({
        "type": "http.response.start",
        "status": 401,
        "headers": [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"www-authenticate", b'Bearer realm="gdwi-gateway"'),
        ],
    })
    await send({"type": "http.response.body", "body": body})
