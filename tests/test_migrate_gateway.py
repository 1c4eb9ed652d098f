"""After `gdwi journal migrate`, a HIS that resends with the same Idempotency-Key gets the replay.

Two hospitals each ran a single-institution gateway on a SQLite journal of its own (keys stored
as sent), both moved into one PostgreSQL journal served by a group gateway (keys looked up
under the institution's code): the same admission resent with the same key is answered from the
saved answer, and the province receives nothing new.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from seed_login import AKB020, OTHER_AKB020, OTHER_PASSWORD, OTHER_USERID, PASSWORD, USERID
from starlette.applications import Starlette
from typer.testing import CliRunner

from adapter.cli import app as cli_app
from adapter.gateway import create_gateway, create_group_gateway
from adapter.mock.app import context_of, create_app
from adapter.mock.inprocess import InProcessTransport
from adapter.wire.client import Client
from adapter.wire.config import Settings
from adapter.wire.journal import Journal
from tests.test_gateway import OPERATOR, a_stay

TOKENS = {AKB020: "migrate-test-token-A-0123456789abcdef", OTHER_AKB020: "migrate-test-token-B-fedcba9876543210"}
LOGINS = {AKB020: (USERID, PASSWORD, "1000000002"), OTHER_AKB020: (OTHER_USERID, OTHER_PASSWORD, "1000000006")}
KEY = {"Idempotency-Key": "admit-once"}  # the same key at both hospitals


def _settings(akb020: str, journal: str) -> Settings:
    userid, password, _ = LOGINS[akb020]
    return Settings(base_url="http://127.0.0.1:9", userid=userid, password=password, akb020=akb020,
                    journal_path=journal, retry_backoff=0.01, read_timeout=5)


def _his(app: Starlette, akb020: str) -> httpx.Client:
    return httpx.Client(transport=InProcessTransport(app), base_url="http://gateway",
                        headers={"Authorization": f"Bearer {TOKENS[akb020]}"})


def _admit(his: httpx.Client, akb020: str) -> httpx.Response:
    return his.post("/inpatient/admit", json={"stay": a_stay(LOGINS[akb020][2]), "operator": OPERATOR},
                    headers=KEY)


def test_a_key_saved_before_the_move_replays_on_the_group_gateway_after_it(tmp_path: Path, pg_url: str) -> None:
    mock = create_app()
    requests = context_of(mock).requests
    first: dict[str, httpx.Response] = {}
    for akb020 in (AKB020, OTHER_AKB020):  # each hospital on its own, before the move
        journal = str(tmp_path / f"{akb020}.sqlite")
        with Client(_settings(akb020, journal), http_transport=InProcessTransport(mock)) as client, \
                _his(create_gateway(client, token=TOKENS[akb020]), akb020) as his:
            first[akb020] = _admit(his, akb020)
            assert first[akb020].status_code == 200, first[akb020].text
    runner = CliRunner()
    for akb020, extra in ((AKB020, ["--group"]), (OTHER_AKB020, [])):  # the first, then a further one
        moved = runner.invoke(cli_app, ["journal", "migrate", "--db", str(tmp_path / f"{akb020}.sqlite"),
                                        "--to", pg_url, *extra])
        said = " ".join(moved.output.split())
        assert moved.exit_code == 0 and "1 Idempotency-Keys scoped by institution" in said, said
    sent_before = len(requests.records())
    with Journal(pg_url) as journal:
        clients = [Client(_settings(akb020, pg_url), journal=journal, http_transport=InProcessTransport(mock))
                   for akb020 in (AKB020, OTHER_AKB020)]
        try:
            group = create_group_gateway(clients, {token: akb020 for akb020, token in TOKENS.items()})
            for akb020 in (AKB020, OTHER_AKB020):
                with _his(group, akb020) as his:
                    again = _admit(his, akb020)
                assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true", again.text
                assert again.json() == first[akb020].json()
        finally:
            for client in clients:
                client.close()
    assert len(requests.records()) == sent_before  # nothing reached the province again
