"""8 concurrent async clients × 250 calls over a real loopback socket against one mock.

All clients upload fee rows to the same inpatient stay: afterwards the province holds every
row exactly once (no lost update), no answer was a 5xx, and each client logged in once.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from seed_login import AKB020, PASSWORD, USERID

from adapter.mock.server import MockServer
from adapter.wire.client import AsyncClient, Client
from adapter.wire.config import Settings
from adapter.wire.journal import Status

CLIENTS, CALLS = 8, 250
ADMISSION = {"aka130": "42", "bka006": "420", "aac001": "1000000007", "bka017": "20190508",
             "bka014": "T001", "bka015": "测试操作员", "bka026": "S62.501"}


def settings(url: str, journal: Path) -> Settings:
    return Settings(base_url=url, userid=USERID, password=PASSWORD, akb020=AKB020,
                    journal_path=str(journal))


def fee_row(client: int, call: int) -> dict[str, str]:
    # A distinct hospital fee id per row (bka071) and a distinct amount, so a lost or doubled
    # row changes both the count and the total.
    quantity = Decimal(client * CALLS + call + 1)
    return {"ake005": "XY0001", "ake006": "测试药品甲片", "bka056": "1.0000", "bka057": f"{quantity}.00",
            "bka058": f"{quantity}.00", "bka051": "20190508", "bka071": f"F{client:02d}{call:04d}"}


async def one_client(url: str, journal: Path, number: int, aaz218: str) -> list[str]:
    async with AsyncClient(settings(url, journal)) as client:
        for call in range(CALLS):
            await client.call_wire("bizh120002", {"aaz218": aaz218, "feeinfo": [fee_row(number, call)]})
        logins = [e for e in client.journal.list(function_id="sys0001", limit=100)]
        statuses = {e.status for e in client.journal.list(limit=10_000)}
        assert statuses == {Status.OK}
        return [e.function_id for e in logins]


async def all_clients(url: str, tmp_path: Path, aaz218: str) -> list[list[str]]:
    return await asyncio.gather(
        *(one_client(url, tmp_path / f"j{n}.sqlite", n, aaz218) for n in range(CLIENTS))
    )


def test_eight_clients_no_lost_update_no_5xx_one_login_each(tmp_path: Path) -> None:
    with MockServer() as server:
        with Client(settings(server.url, tmp_path / "setup.sqlite")) as setup:
            aaz218 = setup.call_wire("bizh120103", ADMISSION)["aaz218"]
        logins = asyncio.run(all_clients(server.url, tmp_path, aaz218))
        assert [len(per_client) for per_client in logins] == [1] * CLIENTS
        assert all(r.http_status < 500 for r in server.requests.records())
        with Client(settings(server.url, tmp_path / "check.sqlite")) as check:
            fee_list = check.call_wire("bizh120113", {"aaz218": aaz218, "operate": "2"})["list"]
            presettled = check.call_wire("bizh120003", {"aaz218": aaz218, "bka438": "2"})
    expected_total = sum(Decimal(n) for n in range(1, CLIENTS * CALLS + 1))
    assert len(fee_list) == CLIENTS * CALLS
    assert sum(Decimal(row["money"]) for row in fee_list) == expected_total
    assert Decimal(presettled["akc264"]) == expected_total
