"""What the proxy recorded, used twice more: replayed against a target, and exported as fixtures.

Replay re-sends journaled requests to a target (a new platform version, a test platform, the
mock) under a fresh session of its own and compares each answer with the recorded one, field by
field. Only read-only requests are replayed; state-changing ones only to a mock, and only when
asked: replaying an admission at the real province would admit the patient again.

Export writes recorded exchanges as JSON fixtures with personal data masked (the same masking as
every journal view), so contract tests can run against answers the real platform gave.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from adapter.errors import GdwiError, ReplayError, XmlRefusedError
from adapter.wire import transport
from adapter.wire.codec import decode, encode
from adapter.wire.config import Settings
from adapter.wire.journal import Entry, Journal, Status
from adapter.wire.masking import mask_value, mask_xml_text
from generated.registry import FIELDS, FUNCTIONS, LOGIN, SPEC

__all__ = [
    "FIXTURE_FORMAT",
    "Exchange",
    "ReplayError",
    "Replayed",
    "export",
    "is_mock",
    "load_fixtures",
    "recorded",
    "replay",
]

FIXTURE_FORMAT = "gdwi-exchange/1"
SESSION_MASK = "masked-session"
MAX_DIFFERENCES = 20
_ENVELOPE = ("return_code", "return_code_message")
_SESSION = re.compile(r"(<session_id>)(.*?)(</session_id>)", re.DOTALL)


def recorded(
    journal: Journal,
    *,
    day: date | None = None,
    function_id: str | None = None,
    limit: int = 1000,
    state_changing: bool = False,
) -> list[Entry]:
    """Exchanges that have an answer (ok or rejected), oldest first; no logins."""
    chosen = [
        entry for entry in journal.list(day=day, function_id=function_id, limit=limit)
        if entry.status in (Status.OK, Status.REJECTED) and entry.response_xml
        and entry.function_id in FUNCTIONS and entry.function_id != LOGIN
        and (state_changing or FUNCTIONS[entry.function_id].read_only)
    ]
    return list(reversed(chosen))


# --------------------------------------------------------------------------- replay


@dataclass(frozen=True)
class Replayed:
    """One recorded request sent again: `same`, `different` (with the differences) or `failed`."""

    entry_id: int
    function_id: str
    outcome: str
    differences: list[str] = field(default_factory=list)


def is_mock(client: httpx.Client, base_url: str) -> bool:
    """The target is gdwi's mock province: it answers its admin state endpoint with JSON."""
    try:
        response = client.get(base_url.rstrip("/") + "/admin/state")
        return response.status_code == 200 and isinstance(response.json(), dict)
    except (httpx.HTTPError, ValueError):
        return False


def replay(settings: Settings, entries: list[Entry]) -> Iterator[Replayed]:
    """Send each entry's request to settings.base_url under a fresh login; compare the answers."""
    with transport.sync_client(settings) as client:
        session_id = _login(client, settings)
        for entry in entries:
            yield _again(client, settings, entry, session_id)


def _login(client: httpx.Client, settings: Settings) -> str:
    body = encode(LOGIN, "request", {"userid": settings.userid, "password": settings.password})
    try:
        answer = decode(transport.post(client, settings.url, body), LOGIN, "response")
    except (GdwiError, XmlRefusedError) as exc:
        raise ReplayError(f"login at {settings.base_url} failed: {exc}") from None
    session_id = answer.values.get("session_id")
    if answer.values.get("return_code") != SPEC.success_code or not isinstance(session_id, str):
        raise ReplayError(f"login at {settings.base_url} refused: {answer.values.get('return_code_message')}")
    return session_id


def _again(client: httpx.Client, settings: Settings, entry: Entry, session_id: str) -> Replayed:
    body = _with_session(entry.request_xml, session_id).encode("utf-8")
    try:
        now = decode(transport.post(client, settings.url, body), entry.function_id, "response")
        then = decode((entry.response_xml or "").encode("utf-8"), entry.function_id, "response")
    except (GdwiError, XmlRefusedError) as exc:
        return Replayed(entry.id, entry.function_id, "failed", [str(exc)])
    differences = diff(then.values, now.values)
    return Replayed(entry.id, entry.function_id, "different" if differences else "same", differences)


def _with_session(request_xml: str, session_id: str) -> str:
    if _SESSION.search(request_xml):
        return _SESSION.sub(lambda match: match.group(1) + session_id + match.group(3), request_xml, count=1)
    root = f"<{SPEC.root_element}>"
    return request_xml.replace(root, f"{root}<session_id>{session_id}</session_id>", 1)


def diff(then: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Field-by-field differences `path: recorded -> now`, values masked by their PII class."""
    old, new = _flatten(then), _flatten(now)
    found = []
    for path in sorted(set(old) | set(new), key=_path_order):
        if old.get(path) != new.get(path):
            code = path.rsplit(".", 1)[-1]
            found.append(f"{path}: {_shown(code, old.get(path))} -> {_shown(code, new.get(path))}")
    if len(found) > MAX_DIFFERENCES:
        found = [*found[:MAX_DIFFERENCES], f"... {len(found) - MAX_DIFFERENCES} more"]
    return found


def _flatten(values: dict[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, list):
            for index, row in enumerate(value):
                flat.update({f"{key}[{index}].{code}": text for code, text in row.items()})
        else:
            flat[key] = str(value)
    return flat


def _path_order(path: str) -> tuple[bool, tuple[str, ...]]:
    # The envelope first: a changed return_code explains every other difference.
    parts = tuple(part.zfill(8) if part.isdigit() else part for part in re.split(r"[\[\].]+", path))
    return path not in _ENVELOPE, parts


def _shown(code: str, value: str | None) -> str:
    if value is None:
        return "(absent)"
    meta = FIELDS.get(code)
    return repr(mask_value(meta.pii, value) if meta else value)


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class Exchange:
    """One exported exchange, as a contract test loads it."""

    entry_id: int
    function_id: str
    kind: str
    status: str
    return_code: str | None
    request_xml: str
    response_xml: str
    deviations: list[dict[str, str]]

    @property
    def request(self) -> bytes:
        return self.request_xml.encode("utf-8")

    @property
    def response(self) -> bytes:
        return self.response_xml.encode("utf-8")


def export(journal: Journal, out: Path, entries: list[Entry]) -> list[Path]:
    """Write each entry as `<id>-<function_id>.json` in `out`, masked; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in entries:
        deviations = [
            {"path": d.path, "code": d.code, "kind": str(d.kind), "sample": d.sample, "detail": d.detail}
            for _, _, d in journal.deviations(entry_id=entry.id)
        ]
        data = {
            "format": FIXTURE_FORMAT,
            "spec_version": SPEC.version,
            "entry_id": entry.id,
            "function_id": entry.function_id,
            "kind": entry.kind,
            "status": str(entry.status),
            "return_code": entry.return_code,
            "request_xml": _masked_request(entry.request_xml),
            "response_xml": mask_xml_text(entry.response_xml or ""),
            "deviations": deviations,
        }
        path = out / f"{entry.id:06d}-{entry.function_id}.json"
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _masked_request(request_xml: str) -> str:
    # A session id is a credential until midnight: a fixture keeps that there was one, not which.
    # Mask first, then name the session: mask_xml_text would cut SESSION_MASK like any session id.
    masked = mask_xml_text(request_xml)
    return _SESSION.sub(lambda match: match.group(1) + SESSION_MASK + match.group(3), masked)


def load_fixtures(directory: Path) -> list[Exchange]:
    """Every exported exchange in `directory`, in entry order; other JSON files are skipped."""
    exchanges = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != FIXTURE_FORMAT:
            continue
        exchanges.append(Exchange(
            entry_id=int(data["entry_id"]), function_id=str(data["function_id"]), kind=str(data["kind"]),
            status=str(data["status"]), return_code=data.get("return_code"),
            request_xml=str(data["request_xml"]), response_xml=str(data["response_xml"]),
            deviations=list(data.get("deviations") or []),
        ))
    return exchanges
