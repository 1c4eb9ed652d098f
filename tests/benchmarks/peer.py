"""The peer: what a hand-written integration does, as a baseline for the full client path.

f-strings and http.client, nothing else: no validation, no escaping beyond what the fixed
rows need, no journal. `make bench` times it against Client.call_wire on the same mock.
"""

from __future__ import annotations

import http.client
import re

PATH = "/hygeia_esb_sj/api/call.action"
HEAD = '<?xml version="1.0" encoding="utf-8"?><program>'


class Peer:
    """One keep-alive connection to the province on 127.0.0.1."""

    def __init__(self, port: int, userid: str, password: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port)
        body = f"{HEAD}<function_id>sys0001</function_id><userid>{userid}</userid>" \
               f"<password>{password}</password></program>"
        answer = self.post(body.encode())
        found = re.search(rb"<session_id>([^<]+)</session_id>", answer)
        assert found, answer[:200]
        self.session_id = found.group(1).decode()

    def post(self, body: bytes) -> bytes:
        self.connection.request("POST", PATH, body, {"Content-Type": "text/xml;charset=utf-8"})
        return self.connection.getresponse().read()

    def upload_fees(self, akb020: str, aaz218: str, rows: list[dict[str, str]]) -> bytes:
        lines = "".join(
            f"<row><ake005>{r['ake005']}</ake005><ake006>{r['ake006']}</ake006>"
            f"<bka056>{r['bka056']}</bka056><bka057>{r['bka057']}</bka057>"
            f"<bka058>{r['bka058']}</bka058><bka051>{r['bka051']}</bka051>"
            f"<bka063>{r['bka063']}</bka063><bka064>{r['bka064']}</bka064></row>"
            for r in rows
        )
        body = (f"{HEAD}<session_id>{self.session_id}</session_id><function_id>bizh120002</function_id>"
                f"<akb020>{akb020}</akb020><aaz218>{aaz218}</aaz218><feeinfo>{lines}</feeinfo></program>")
        answer = self.post(body.encode())
        assert b"<return_code>1</return_code>" in answer, answer[:300]
        return answer

    def close(self) -> None:
        self.connection.close()
