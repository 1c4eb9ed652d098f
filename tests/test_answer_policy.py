"""The answer policy (spec/spec.yaml answer_policy) as the generated parsers apply it.

Every answer field of every function is covered by cases generated from the registry, not
listed by hand: an over-precise decimal, a value outside a closed code list, a missing optional
field, an unknown element. Each is read, reported as a deviation, and never raised. Then the same
through the client over a real socket: a state-changing answer that deviates is the committed
result (journal `ok`, deviations recorded), a read-only one without a field the next step needs
is a ContractError.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import pytest

from adapter.errors import ContractError
from adapter.wire.client import Client, converters
from adapter.wire.config import Settings
from adapter.wire.deviations import DeviationKind
from adapter.wire.journal import Status
from generated._types import UseMeta
from generated.registry import CODE_LISTS, FIELDS, FUNCTIONS

EXAMPLES: dict[str, Any] = json.loads(
    resources.files("generated").joinpath("examples.json").read_text(encoding="utf-8")
)
Found = list[tuple[str, str, str, str, str]]


def _answer_fields() -> Iterator[tuple[str, str | None, UseMeta]]:
    for function_id, meta in sorted(FUNCTIONS.items()):
        for use in meta.response.fields:
            yield function_id, None, use
        for dataset in meta.response.datasets:
            for use in dataset.fields:
                yield function_id, dataset.name, use


ANSWER_FIELDS = list(_answer_fields())
IDS = [f"{fid}-{dataset or ''}-{use.code}" for fid, dataset, use in ANSWER_FIELDS]


def _answer_with(function_id: str, dataset: str | None, code: str, text: str | None) -> dict[str, Any]:
    """The function's example answer with `code` set to `text` (None: left out)."""
    answer = json.loads(json.dumps(EXAMPLES[function_id][0]["response"]))
    target = answer
    if dataset is not None:
        rows = answer.get(dataset) or [{}]
        answer[dataset] = rows
        target = rows[0]
    target.pop(code, None)
    if text is not None:
        target[code] = text
    return answer


def _parse(function_id: str, values: dict[str, Any]) -> tuple[Any, Found]:
    found: Found = []
    answer = converters(function_id).parse_answer(
        values, lambda *deviation: found.append(deviation)  # never raises: that is the point
    )
    return answer, found


def _read_back(function_id: str, answer: Any, dataset: str | None, code: str) -> Any:
    holder = answer
    if dataset is not None:
        meta = next(d for d in FUNCTIONS[function_id].response.datasets if d.name == dataset)
        holder = getattr(answer, meta.python_name)[0]
    return getattr(holder, FIELDS[code].python_name)


def _path(dataset: str | None, code: str) -> str:
    return f"{dataset}[0].{code}" if dataset else code


@pytest.mark.parametrize(("function_id", "dataset", "use"), ANSWER_FIELDS, ids=IDS)
def test_every_answer_field_is_read_warned_never_raised(
    function_id: str, dataset: str | None, use: UseMeta
) -> None:
    field = FIELDS[use.code]
    path = _path(dataset, use.code)
    kinds: list[tuple[str, str, str]] = []

    # a missing field: None, reported only when the spec requires it
    answer, found = _parse(function_id, _answer_with(function_id, dataset, use.code, None))
    assert _read_back(function_id, answer, dataset, use.code) is None
    missing = [f for f in found if f[0] == path]
    assert [f[2] for f in missing] == (["missing_field"] if use.required else [])

    # an unknown element next to it: kept out of the typed answer, reported
    values = _answer_with(function_id, dataset, use.code, None)
    holder = values[dataset][0] if dataset else values
    holder["zz_unknown9"] = "x"
    _, found = _parse(function_id, values)
    assert ("unknown_element", _path(dataset, "zz_unknown9")) in {(f[2], f[0]) for f in found}

    if field.type == "decimal":
        scale = field.scale or 0
        over = "1." + "0" * scale + "7"
        answer, found = _parse(function_id, _answer_with(function_id, dataset, use.code, over))
        assert _read_back(function_id, answer, dataset, use.code) == Decimal(over)  # exact
        kinds = [(f[0], f[2], f[3]) for f in found if f[0] == path]
        assert kinds == [(path, "extra_places", over)]
        zeros = "-2." + "0" * (scale + 2)
        answer, found = _parse(function_id, _answer_with(function_id, dataset, use.code, zeros))
        assert _read_back(function_id, answer, dataset, use.code) == Decimal(-2)
        assert [f for f in found if f[0] == path] == []  # trailing zeros are silent
    if use.closed_values is not None:
        answer, found = _parse(function_id, _answer_with(function_id, dataset, use.code, "ZZ9"))
        assert _read_back(function_id, answer, dataset, use.code) == "ZZ9"  # kept
        assert [(f[0], f[2]) for f in found if f[0] == path] == [(path, "unlisted_code")]


def test_the_cases_cover_every_answer_field_and_kind() -> None:
    """The parametrisation is the registry's: nothing hand-listed, nothing left out."""
    total = sum(len(m.response.fields) + sum(len(d.fields) for d in m.response.datasets)
                for m in FUNCTIONS.values())
    assert len(ANSWER_FIELDS) == total > 300
    assert any(FIELDS[use.code].type == "decimal" for _, _, use in ANSWER_FIELDS)
    assert any(use.closed_values for _, _, use in ANSWER_FIELDS)


def test_unlisted_code_is_shown_as_not_listed() -> None:
    from generated._convert import code_label

    labels = dict(CODE_LISTS["aac004"].values)
    assert code_label("1", labels) == f"1 {labels['1']}"
    assert code_label("3", labels) == "3 (未列出的代码)"


def test_writing_stays_strict() -> None:
    module = converters("bizh120002")
    row = module.RequestFeeinfoRow(amount=Decimal("1.005"))
    with pytest.raises(ValueError, match="bka058 金额: more than 2 decimal places"):
        module.build_request(module.Request(feeinfo_rows=(row,)))


# --------------------------------------------------------------------------- over a real socket


class _Province(BaseHTTPRequestHandler):
    """Answers every call with the body queued for its function_id, as raw text."""

    bodies: ClassVar[dict[str, str]] = {}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
        function_id = body.split("<function_id>")[1].split("</function_id>")[0]
        answer = self.bodies[function_id].encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html;charset=UTF-8")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


LOGIN = ('<?xml version="1.0" encoding="UTF-8"?>\n<program>\n  <return_code>1</return_code>\n'
         "  <return_code_message>成功</return_code_message>\n  <session_id>S-1</session_id>\n</program>")


@pytest.fixture
def province() -> Iterator[tuple[type[_Province], str]]:
    handler = type("Province", (_Province,), {"bodies": {"sys0001": LOGIN}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _client(tmp_path: Path, url: str) -> Client:
    return Client(Settings(base_url=url, userid="u1", password="pw-123456", akb020="H44190000001",
                           journal_path=str(tmp_path / "journal.sqlite"), retry_backoff=0.0))


def test_a_committed_settlement_that_deviates_is_returned_with_its_warnings(
    tmp_path: Path, province: tuple[type[_Province], str]
) -> None:
    handler, url = province
    handler.bodies["bizh120106"] = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<program>\n  <return_code>1</return_code>\n'
        "  <return_code_message>成功</return_code_message>\n  <aaz218>Z1</aaz218>\n"
        "  <akc264>174.6800</akc264>\n  <bka831>20.1234</bka831>\n  <bka832>154.5566</bka832>\n"
        "  <bka825></bka825>\n  <yab003>4419</yab003>\n</program>"
    )
    module = converters("bizh120106")
    with _client(tmp_path, url) as client:
        request = module.Request(visit_registration_no="Z1", settler_staff_no="T1", settler_name="甲")
        reply = client.exchange("bizh120106", request, module.build_request, module.parse_answer)
        entry = client.journal.get(reply.journal_id)
        recorded = [d for _, _, d in client.journal.deviations(entry_id=reply.journal_id)]
    assert reply.answer.total_medical_cost == Decimal("174.68")
    assert reply.answer.personal_self_pay == Decimal("20.1234")
    assert entry is not None and entry.status is Status.OK
    kinds = {(d.path, d.kind) for d in reply.deviations}
    assert {("bka831", DeviationKind.EXTRA_PLACES), ("bka832", DeviationKind.EXTRA_PLACES),
            ("bka825", DeviationKind.EMPTY_ELEMENT), ("yab003", DeviationKind.UNKNOWN_ELEMENT)} <= kinds
    assert ("akc264", DeviationKind.EXTRA_PLACES) not in kinds  # 174.6800: trailing zeros
    assert recorded == list(reply.deviations)


def test_a_committed_admission_without_its_visit_number_is_still_returned(
    tmp_path: Path, province: tuple[type[_Province], str]
) -> None:
    handler, url = province
    handler.bodies["bizh120103"] = (
        '<?xml version="1.0" encoding="UTF-8"?><program><return_code>1</return_code></program>'
    )
    module = converters("bizh120103")
    with _client(tmp_path, url) as client:
        request = module.parse_request(EXAMPLES["bizh120103"][0]["request"])
        reply = client.exchange("bizh120103", request, module.build_request, module.parse_answer)
        assert client.journal.get(reply.journal_id).status is Status.OK  # type: ignore[union-attr]
    assert reply.answer.visit_registration_no is None
    assert [(d.code, d.kind) for d in reply.deviations] == [("aaz218", DeviationKind.MISSING_FIELD)]


def test_a_read_only_answer_without_what_the_next_step_needs_is_refused(
    tmp_path: Path, province: tuple[type[_Province], str]
) -> None:
    handler, url = province
    handler.bodies["sys0001"] = '<program><return_code>1</return_code></program>'
    with _client(tmp_path, url) as client, pytest.raises(ContractError, match="session_id"):
        client.call_wire("bizh120001", {"bka895": "aac002", "bka896": "44190019900101001X",
                                        "aka130": "42", "bka006": "420"})


def test_a_registration_number_only_inside_payinfo_is_read_there() -> None:
    answer, found = _parse("bizh110104", {"return_code": "1", "payinfo": [{"aaz218": "M1", "akc264": "1.00"}]})
    assert answer.visit_registration_no == "M1"
    assert [f for f in found if f[0] == "aaz218"] == []


@pytest.mark.parametrize(("element", "value", "read"), [
    ("aaz267", "1", "1"),  # Zhongshan's element for the flag
    ("aka063", "0", "0"),  # Dongguan outpatient's
    ("aka063", "21", None),  # Foshan's aka063 is 费用类别: not a flag value, not read as one
])
def test_the_restricted_use_flag_is_read_under_any_peer_element(element: str, value: str, read: str | None) -> None:
    row = {"ake005": "X1", "aaz213": "7", element: value}
    answer, found = _parse("bizh110103", {"return_code": "1", "feeinfo": [row]})
    assert answer.feeinfo_rows[0].restricted_use_flag == read
    assert answer.feeinfo_rows[0].fee_serial_no == 7
    assert (f"feeinfo[0].{element}", "unknown_element") in {(f[0], f[2]) for f in found}
