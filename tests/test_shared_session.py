"""One sys0001 login per institution across nodes (issue 15): the session shared through a PostgreSQL
journal's database (adapter/wire/session_table.py).

Each "node" here is a Client with a Journal of its own on the same PostgreSQL database (as two
gateway processes have); the province is the mock, whose request log counts the logins. The
cross-process version of these runs in tests/test_nodes.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from seed_login import AKB020, OTHER_AKB020, OTHER_PASSWORD, OTHER_USERID, PASSWORD, USERID

from adapter.mock.app import RequestLog, context_of, create_app
from adapter.mock.inprocess import InProcessTransport
from adapter.mock.province import MockProvince
from adapter.wire.client import Client
from adapter.wire.config import Settings
from adapter.wire.database import connect
from adapter.wire.journal import open_journal
from adapter.wire.session import SyncSession
from adapter.wire.session_table import SessionTable, SharedSession, shown

LOOKUP = {"bka895": "aac001", "bka896": "1000000002", "aka130": "42", "bka006": "420"}


@dataclass
class Nodes:
    clients: list[Client]
    province: MockProvince
    requests: RequestLog
    url: str

    def logins(self) -> int:
        return len([r for r in self.requests.records("sys0001") if r.return_code == "1"])


def node_client(url: str, mock_app: object, node: str, *, userid: str = USERID, password: str = PASSWORD,
                akb020: str = AKB020) -> Client:
    settings = Settings(base_url="http://127.0.0.1:9", userid=userid, password=password, akb020=akb020,
                        journal=url, read_timeout=5, retry_backoff=0.01)
    return Client(settings, journal=open_journal(url, node=node), http_transport=InProcessTransport(mock_app))


@pytest.fixture
def nodes(pg_url: str) -> Iterator[Nodes]:
    mock_app = create_app()
    context = context_of(mock_app)
    assert isinstance(context.province, MockProvince)
    with ExitStack() as stack:
        clients = [stack.enter_context(node_client(pg_url, mock_app, f"node-{n}")) for n in range(2)]
        for client in clients:
            stack.callback(client.journal.close)
        yield Nodes(clients, context.province, context.requests, pg_url)


def callers(nodes: Nodes, per_node: int, calls: int = 3) -> list[BaseException]:
    """`per_node` threads on each node, each asking `calls` look-ups at once; their failures."""
    failures: list[BaseException] = []
    start = threading.Barrier(per_node * len(nodes.clients))

    def call(client: Client) -> None:
        start.wait()
        try:
            for _ in range(calls):
                client.call_wire("bizh120001", dict(LOOKUP))
        except BaseException as exc:  # reported by the test
            failures.append(exc)

    threads = [threading.Thread(target=call, args=(client,)) for client in nodes.clients for _ in range(per_node)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return failures


def test_two_nodes_and_eight_callers_log_in_once(nodes: Nodes) -> None:
    assert all(isinstance(client.session, SharedSession) for client in nodes.clients)
    assert callers(nodes, per_node=4) == []
    assert nodes.logins() == 1
    assert sum(client.session.logins for client in nodes.clients) == 1
    [row] = SessionTable(connect(nodes.url), "reader").rows()
    assert row.institution == AKB020 and row.logins == 1
    assert row.session_id not in repr(row) and shown(row.session_id) in repr(row)


def test_an_expired_session_makes_exactly_one_node_log_in_again(nodes: Nodes) -> None:
    assert callers(nodes, per_node=1, calls=1) == []
    assert nodes.logins() == 1
    nodes.province.expire_sessions()  # every node now holds a session the province answers -9 for
    assert callers(nodes, per_node=4) == []
    assert nodes.logins() == 2  # the first login and exactly one after the -9
    minus_nine = [r for r in nodes.requests.records("bizh120001") if r.return_code == "-9"]
    assert len(minus_nine) >= 2  # both nodes saw the -9 (each held the old session)


def test_a_node_that_reports_an_older_minus_nine_does_not_log_in_again(nodes: Nodes) -> None:
    first, second = nodes.clients
    old = first.session.get()
    nodes.province.expire_sessions()
    fresh = first.session.get(stale=old)  # node 0 saw the -9 and logged in
    assert fresh != old and nodes.logins() == 2
    # Node 1 read the old session before; its -9 for that old session finds the fresh one.
    assert second.session.get(stale=old) == fresh and nodes.logins() == 2


def test_each_institution_has_its_own_shared_session(nodes: Nodes, pg_url: str) -> None:
    mock_app = create_app()
    other = [node_client(pg_url, mock_app, f"node-{n}", userid=OTHER_USERID, password=OTHER_PASSWORD,
                         akb020=OTHER_AKB020) for n in range(2)]
    mine = [node_client(pg_url, mock_app, f"node-{n}") for n in range(2)]
    try:
        for client in other + mine:
            client.call_wire("bizh120001", {**LOOKUP, "akb020": client.settings.akb020})
        logins = context_of(mock_app).requests.records("sys0001")
        assert len(logins) == 2  # one per institution, across both nodes
        sessions = context_of(mock_app).province.snapshot()["sessions"]
        assert sorted(s["akb020"] for s in sessions.values()) == sorted([AKB020, OTHER_AKB020])
    finally:
        for client in other + mine:
            client.close()
            client.journal.close()


def test_a_sqlite_journal_keeps_the_session_in_the_process(tmp_path: object) -> None:
    settings = Settings(base_url="http://127.0.0.1:9", userid=USERID, password=PASSWORD, akb020=AKB020,
                        journal=str(tmp_path) + "/journal.sqlite")
    with Client(settings) as client:
        assert isinstance(client.session, SyncSession)


def test_a_lost_database_connection_is_a_journal_error_then_works_again(nodes: Nodes) -> None:
    import psycopg

    from adapter.errors import JournalError

    client = nodes.clients[0]
    old = client.session.get()
    with psycopg.connect(nodes.url, autocommit=True) as admin:  # a server restart, as the nodes see it
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE pid <> pg_backend_pid() AND datname = current_database()")
    failures = []
    for _ in range(3):  # each lost connection fails the one use that meets it (the session table's,
        try:            # then the login's journal entry), as JournalError: nothing sent
            fresh = client.session.get(stale=old)
            break
        except JournalError as exc:
            failures.append(exc)
    assert 1 <= len(failures) <= 2
    assert fresh != old and nodes.logins() == 2


def test_journal_nodes_shows_the_sessions_masked(nodes: Nodes) -> None:
    import json

    from typer.testing import CliRunner

    from adapter.cli import app as cli_app

    session_id = nodes.clients[0].session.get()
    for client in nodes.clients:
        client.journal.heartbeat()
    shown_json = CliRunner().invoke(cli_app, ["journal", "nodes", "--db", nodes.url, "--json"])
    assert shown_json.exit_code == 0, shown_json.output
    data = json.loads(shown_json.output)
    assert {node["node"] for node in data["nodes"]} == {"node-0", "node-1"}
    [row] = data["sessions"]
    assert row["institution"] == AKB020 and row["node"] == "node-0" and row["logins"] == 1
    table = CliRunner().invoke(cli_app, ["journal", "nodes", "--db", nodes.url])
    assert table.exit_code == 0 and session_id[:4] in table.output
    assert session_id not in shown_json.output + table.output


def test_async_clients_on_two_nodes_share_one_login_too(pg_url: str) -> None:
    import asyncio

    from adapter.mock.server import MockServer
    from adapter.wire.client import AsyncClient
    from adapter.wire.session_table import SharedAsyncSession

    async def run(server: MockServer) -> None:
        requests, province = context_of(server.app).requests, context_of(server.app).province
        settings = Settings(base_url=server.url, userid=USERID, password=PASSWORD, akb020=AKB020,
                            journal=pg_url, read_timeout=5, retry_backoff=0.01)
        journals = [open_journal(pg_url, node=f"async-{n}") for n in range(2)]
        clients = [AsyncClient(settings, journal=journal) for journal in journals]
        try:
            assert all(isinstance(client.session, SharedAsyncSession) for client in clients)
            await asyncio.gather(*(client.call_wire("bizh120001", dict(LOOKUP)) for client in clients
                                   for _ in range(4)))
            assert len(requests.records("sys0001")) == 1
            province.expire_sessions()
            await asyncio.gather(*(client.call_wire("bizh120001", dict(LOOKUP)) for client in clients
                                   for _ in range(4)))
            assert len(requests.records("sys0001")) == 2  # one login again after the expiry, not one a node
        finally:
            for client in clients:
                await client.aclose()
            for journal in journals:
                journal.close()

    with MockServer() as server:
        asyncio.run(run(server))
