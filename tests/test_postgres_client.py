"""The client on a PostgreSQL journal: each request is committed to the database before it leaves
(seen from another connection at the moment the province receives it), the institution is
recorded, and two clients (two nodes) cannot both send a change on one stay."""

from __future__ import annotations

import copy
import json
import threading
import time
from importlib import resources
from typing import Any

import httpx
import psycopg
import pytest
from seed_login import PASSWORD as SEED_PASSWORD
from seed_login import USERID

from adapter.errors import OutcomeUnknownError, UnresolvedEntryError
from adapter.mock.server import MockServer
from adapter.ops.recovery import recover
from adapter.wire.client import Client
from adapter.wire.codec import decode, encode, parse_document
from adapter.wire.config import Settings
from adapter.wire.journal import Status

AKB020 = "H44190000001"
AAZ218 = "44190000012019000002"
EXAMPLES: dict[str, Any] = json.loads(resources.files("generated").joinpath("examples.json").read_text(
    encoding="utf-8"))
FEE: dict[str, Any] = EXAMPLES["bizh120002"][0]["request"]  # a valid fee upload on stay AAZ218


class Province:
    """Answers 1 to everything; before answering, reads the journal through its own connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen_pending: list[tuple[str, str, str | None]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.time_out = False

    def answer(self, request: httpx.Request) -> httpx.Response:
        function_id = parse_document(request.content).findtext("function_id") or ""
        decode(request.content, function_id, "request")
        with psycopg.connect(self.url) as other:  # another process's view: committed rows only
            row = other.execute("SELECT function_id, status, institution FROM entries"
                                " ORDER BY id DESC LIMIT 1").fetchone()
        self.seen_pending.append(row)
        self.hold.wait(10)
        if self.time_out and function_id != "sys0001":
            raise httpx.ReadTimeout("no answer", request=request)
        values: dict[str, Any] = {"return_code": "1", "return_code_message": "成功"}
        if function_id == "sys0001":
            values["session_id"] = "00000000-0000-0000-0000-000000000001"
        return httpx.Response(200, content=encode(function_id, "response", values))


def client_for(url: str, province: Province) -> Client:
    settings = Settings(base_url="http://127.0.0.1:9", userid="u1", password="pw-123456", akb020=AKB020,
                        journal=url, retry_backoff=0.0, read_timeout=1)
    return Client(settings, http_transport=httpx.MockTransport(province.answer))


def test_every_request_is_in_the_database_before_the_province_sees_it(pg_url: str) -> None:
    province = Province(pg_url)
    with client_for(pg_url, province) as client:
        client.call_wire("bizh120002", copy.deepcopy(FEE))
        entries = client.journal.list()
    assert province.seen_pending == [("sys0001", "pending", AKB020), ("bizh120002", "pending", AKB020)]
    assert [(e.function_id, e.status, e.institution, e.guarded) for e in entries] == [
        ("bizh120002", Status.OK, AKB020, True), ("sys0001", Status.OK, AKB020, False)]


def test_two_clients_on_one_database_send_one_change_per_stay(pg_url: str) -> None:
    province = Province(pg_url)
    with client_for(pg_url, province) as first, client_for(pg_url, province) as second:
        first.session.get()
        second.session.get()
        province.hold.clear()  # the first upload waits at the province, unresolved
        running = threading.Thread(target=lambda: first.call_wire("bizh120002", copy.deepcopy(FEE)))
        running.start()
        try:
            # The upload is at the province (the clients share one login: sys0001 is seen once).
            deadline = time.monotonic() + 10
            while ("bizh120002", "pending", AKB020) not in province.seen_pending and time.monotonic() < deadline:
                threading.Event().wait(0.01)
            with pytest.raises(UnresolvedEntryError):
                second.call_wire("bizh120002", copy.deepcopy(FEE))
        finally:
            province.hold.set()
            running.join(10)
        assert [e.status for e in second.journal.history(AAZ218)] == [Status.OK]


def test_a_timeout_leaves_the_entry_unknown_in_the_database(pg_url: str) -> None:
    province = Province(pg_url)
    province.time_out = True
    with client_for(pg_url, province) as client:
        client.session.get()
        with pytest.raises(OutcomeUnknownError):
            client.call_wire("bizh120002", copy.deepcopy(FEE))
        assert [e.status for e in client.journal.unknown_entries()] == [Status.UNKNOWN]


# --------------------------------------------------------------------------- recovery, on a real mock


def test_recovery_settles_a_lost_registration_answer_on_a_postgresql_journal(pg_url: str) -> None:
    """A registration committed by the province whose answer is lost stays unknown in PostgreSQL,
    guards its person, and `recover` settles it by asking: no second registration is sent."""
    registration = {code: value for code, value in {
        **EXAMPLES["bizh110104"][0]["request"], "aac001": "1000000001", "bka893": None, "aaz267": None,
        "bka042": None}.items() if value is not None}
    with MockServer() as server:
        settings = Settings(base_url=server.url, userid=USERID, password=SEED_PASSWORD, akb020=AKB020,
                            journal=pg_url, read_timeout=5, retry_backoff=0.01)
        with Client(settings) as client:
            server.faults.add("commit_then_drop", function_id="bizh110104", times=1)
            with pytest.raises(OutcomeUnknownError) as lost:
                client.call_wire("bizh110104", dict(registration))
            with pytest.raises(UnresolvedEntryError):  # the person is guarded until it is settled
                client.call_wire("bizh110104", dict(registration))
            results = recover(client)
            entry = client.journal.get(lost.value.journal_id or 0)
        sent = [r for r in server.requests.records() if r.function_id == "bizh110104"]
    assert [r.after for r in results] == [Status.OK]
    assert entry is not None and entry.status == Status.OK and entry.settled_by == "recovery"
    assert len(sent) == 1  # recovery asked; it never resent
