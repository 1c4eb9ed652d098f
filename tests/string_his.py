"""A HIS the way most hospitals wrote theirs: XML by string concatenation, posted with stdlib HTTP.

Nothing here uses gdwi's codec or client: this is the shape the proxy must accept from a HIS it
did not write (reference 01 §1: a raw `<program>` body; some peers label it
`application/x-www-form-urlencoded`). Values go in unescaped unless the caller escapes them,
as such code does. Synthetic data only (the mock's seed).
"""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from generated.registry import SPEC

AKB020, USERID, PASSWORD = "H44190000001", "ss0028", "mock-pass-1"
TEXT_XML = "text/xml; charset=utf-8"
FORM = "application/x-www-form-urlencoded"
# (item, name, unit price, quantity, amount) from the mock's seeded catalogue.
FEES = (
    ("XY0001", "测试药品甲片", "3.1250", "4.00", "12.50"),
    ("HY0001", "测试血常规", "25.0000", "1.00", "25.00"),
    ("CW0001", "测试床位费", "45.0000", "3.00", "135.00"),
)


def tag(code: str, value: str) -> str:
    return "<" + code + ">" + value + "</" + code + ">"


@dataclass
class Answer:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def value(self, code: str) -> str | None:
        found = re.search("<" + code + ">(.*?)</" + code + ">", self.text, re.DOTALL)
        return found.group(1) if found else None

    @property
    def code(self) -> str | None:
        return self.value("return_code")

    def rows(self, dataset: str) -> int:
        block = self.value(dataset) or ""
        return block.count("<row>")


@dataclass
class StringHis:
    """One HIS workstation: its own connection and its own sys0001 session."""

    url: str
    content_type: str = TEXT_XML
    session_id: str = ""
    calls: int = 0
    _connection: http.client.HTTPConnection | None = field(default=None, repr=False)

    def post(self, body: str) -> Answer:
        if self._connection is None:
            target = urlsplit(self.url)
            self._connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
        self._connection.request("POST", SPEC.path, body=body.encode("utf-8"),
                                 headers={"Content-Type": self.content_type})
        response = self._connection.getresponse()
        self.calls += 1
        return Answer(response.status, response.read())

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def login(self, userid: str = USERID, password: str = PASSWORD) -> Answer:
        answer = self.post('<?xml version="1.0" encoding="utf-8"?><program>' + tag("function_id", "sys0001")
                           + tag("userid", userid) + tag("password", password) + "</program>")
        self.session_id = answer.value("session_id") or ""
        return answer

    def call(self, function_id: str, fields: dict[str, str], datasets: dict[str, list[dict[str, str]]] | None = None) -> Answer:
        body = '<?xml version="1.0" encoding="utf-8"?>\r\n<program>'
        body += tag("session_id", self.session_id) + tag("function_id", function_id)
        body += tag("akb020", AKB020)
        for code, value in fields.items():
            body += tag(code, value)
        for name, rows in (datasets or {}).items():
            body += "<" + name + ">"
            for row in rows:
                body += "<row>" + "".join(tag(code, value) for code, value in row.items()) + "</row>"
            body += "</" + name + ">"
        body += "</program>"
        answer = self.post(body)
        if answer.code == SPEC.session_expired_code:  # as Zhongshan does: log in again, call again
            self.login()
            return self.call(function_id, fields, datasets)
        return answer


def fee_rows(count: int, first: int = 0) -> list[dict[str, str]]:
    rows = []
    for index in range(first, first + count):
        item, name, price, quantity, amount = FEES[index % len(FEES)]
        rows.append({"ake005": item, "ake006": name, "bka056": price, "bka057": quantity, "bka058": amount,
                     "bka051": "20190508", "bka063": "T001", "bka064": "测试操作员"})
    return rows


def lookup(his: StringHis, person: str) -> Answer:
    return his.call("bizh120001", {"bka895": "aac001", "bka896": person, "aka130": "42", "bka006": "420"})


def admit(his: StringHis, person: str) -> Answer:
    return his.call("bizh120103", {
        "aka130": "42", "bka006": "420", "aac001": person, "bka017": "20190508", "bka014": "T001",
        "bka015": "测试操作员", "bka021": "W03", "bka022": "骨科病区", "bka019": "0301", "bka020": "骨科",
        "bka026": "S62.501", "bka025": "ZY" + person, "bka023": "12", "bka024": "1", "bka503": "D0001",
    })


def discharge(his: StringHis, aaz218: str) -> Answer:
    return his.call("bizh120105", {
        "aaz218": aaz218, "bka032": "20190520", "bka033": "T001", "bka034": "测试操作员", "bkf002": "1",
        "bkf003": "3", "bkf004": "02", "bkf005": "0", "bkf006": "0", "bka031": "S62.501",
        "bka043": "测试出院说明", "bka006": "420",
    })


def whole_stay(his: StringHis, person: str, fee_chunks: int = 2) -> list[tuple[str, Answer]]:
    """Login to settlement sheet: every step's function_id and the answer the HIS got."""
    steps = [("sys0001", his.login()), ("bizh120001", lookup(his, person))]
    admitted = admit(his, person)
    steps.append(("bizh120103", admitted))
    aaz218 = admitted.value("aaz218") or ""
    for chunk in range(fee_chunks):
        steps.append(("bizh120002", his.call("bizh120002", {"aaz218": aaz218},
                                             {"feeinfo": fee_rows(3, chunk * 3)})))
    steps.append(("bizh120003", his.call("bizh120003", {"aaz218": aaz218, "bka438": "1"})))
    steps.append(("bizh120105", discharge(his, aaz218)))
    steps.append(("bizh120106", his.call("bizh120106", {"aaz218": aaz218, "bka046": "T001",
                                                        "bka047": "测试操作员"})))
    steps.append(("bizh120206", his.call("bizh120206", {"aaz218": aaz218})))
    steps.append(("bizh120113", his.call("bizh120113", {"aaz218": aaz218, "operate": "2", "secfalg": "0"})))
    return steps
