"""Faults on demand for the mock province: what a flaky provincial server does to a HIS.

A `FaultPlan` holds rules. Each rule matches a request by function_id and/or aaz218 (neither:
every request) and may fire a limited number of times. Kinds:

  latency            wait before answering: `ms` fixed, or log-normal with `median_ms` and
                     `sigma` (optional `max_ms` cap); drawn from the plan's seeded Random
  http500            HTTP 500 instead of an answer; nothing is processed
  malformed          the request is processed, then the answer is spoiled: `mode` "truncated"
                     (half the XML, the default) or "not_xml" (an HTML page)
  session_expired    answer -9 without processing (never for the login itself)
  fail_then_succeed  the next `n` matching requests fail, then normal service: `answer`
                     "return_code" (a negative `code`, default "-1") or "http500"
  commit_then_drop   the province commits the change, then the answer is lost (the connection
                     closes without a response): the client cannot know the outcome

Each kind is one object in KINDS (`Kind`): its parameters with their defaults, their check,
when it acts (before the province is asked, instead of asking it, or after it answered) and what
it does to the exchange, through the `Exchange` the wire router (adapter.mock.wire_view) offers.
A new kind is one more `Kind` here.

Latency rules add up; of the other kinds only the oldest matching rule fires per request, so
stacking "http500 once" behind "malformed once" plays them in order. A rule whose count runs
out is removed. The plan is shared by the server's event loop and the test thread: every
method takes the lock.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, get_args

from adapter.errors import FaultError
from generated.registry import FUNCTIONS, LOGIN, SPEC

if TYPE_CHECKING:
    from starlette.responses import Response

__all__ = [
    "FAULT_KINDS",
    "KINDS",
    "Decision",
    "Exchange",
    "FaultError",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "Kind",
]

FaultKind = Literal[
    "latency", "http500", "malformed", "session_expired", "fail_then_succeed", "commit_then_drop"
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
Stage = Literal["delay", "instead", "after"]
NOT_XML_PAGE = b"502 Bad Gateway: upstream sent an invalid response\n"


class Exchange(Protocol):
    """One wire request as a fault acts on it (the wire router, adapter.mock.wire_view, has it)."""

    @property
    def body(self) -> bytes:
        """The province's answer as it would be sent (after the province processed the request)."""

    def refuse(self, code: str, message: str) -> Response:
        """Answer with this return code and message; the province is not asked."""

    def server_error(self) -> Response:
        """HTTP 500 with the page a Java province behind a gateway sends."""

    def spoiled(self, body: bytes) -> Response:
        """The processed (committed) answer replaced by `body`."""

    async def dropped(self) -> Response:
        """The processed (committed) answer lost: the connection closes without a response."""


Act = Callable[[Mapping[str, Any], Exchange], Awaitable["Response"]]


@dataclass
class FaultRule:
    """One rule. `remaining` None means unlimited; `fired` counts how often it took effect."""

    rule_id: int
    kind: FaultKind
    function_id: str | None = None
    aaz218: str | None = None
    remaining: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    def matches(self, function_id: str, aaz218: str | None) -> bool:
        if self.function_id is not None and self.function_id != function_id:
            return False
        if self.aaz218 is not None and self.aaz218 != aaz218:
            return False
        return not (KINDS[self.kind].never_for_login and function_id == LOGIN)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.rule_id,
            "kind": self.kind,
            "function_id": self.function_id,
            "aaz218": self.aaz218,
            "remaining": self.remaining,
            "fired": self.fired,
            **self.params,
        }


@dataclass(frozen=True)
class Decision:
    """What to do to one request: wait `delay_ms`, then apply `fault` (None: answer normally)."""

    delay_ms: float = 0.0
    fault: FaultRule | None = None

    @property
    def kind(self) -> str | None:
        return self.fault.kind if self.fault is not None else None

    @property
    def answers_instead(self) -> bool:
        """True when the fault replaces processing (nothing reaches the province's state)."""
        return self.fault is not None and KINDS[self.fault.kind].stage == "instead"

    async def act(self, exchange: Exchange) -> Response | None:
        """What the fault does to the exchange; None: no fault, answer normally."""
        if self.fault is None:
            return None
        act = KINDS[self.fault.kind].act
        assert act is not None  # every kind but latency acts (a latency rule is never chosen)
        return await act(self.fault.params, exchange)


class FaultPlan:
    """Thread-safe list of fault rules. `plan.add("http500", function_id="bizh120001", times=1)`."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._random = random.Random(seed)
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(
        self,
        kind: str,
        function_id: str | None = None,
        aaz218: str | None = None,
        times: int | None = None,
        **params: Any,
    ) -> FaultRule:
        """Add a rule and return it. Raises FaultError naming what is wrong."""
        checked_kind = _check_kind(kind)
        _check_function_id(function_id)
        values = _check_params(checked_kind, params)
        counted_by = KINDS[checked_kind].counted_by
        if counted_by is not None:  # the kind's own word for `times`
            times = _count_of_failures(checked_kind, times, params.get(counted_by), counted_by)
            values.pop(counted_by)
        _check_times(times)
        with self._lock:
            rule = FaultRule(self._next_id, checked_kind, function_id, aaz218, times, values)
            self._next_id += 1
            self._rules.append(rule)
            return rule

    def add_json(self, data: object) -> FaultRule:
        """A rule from the admin endpoint's JSON: {"kind", "function_id", "aaz218", "times", params}."""
        if not isinstance(data, Mapping):
            raise FaultError("a fault rule must be a JSON object")
        fields = dict(data)
        kind = fields.pop("kind", None)
        if not isinstance(kind, str):
            raise FaultError(f"kind: required, one of {', '.join(FAULT_KINDS)}")
        function_id = _optional_text(fields.pop("function_id", None), "function_id")
        aaz218 = _optional_text(fields.pop("aaz218", None), "aaz218")
        times = fields.pop("times", None)
        return self.add(kind, function_id, aaz218, times, **fields)

    def clear(self) -> int:
        """Remove every rule and reseed the random source; returns how many rules were removed."""
        with self._lock:
            removed = len(self._rules)
            self._rules.clear()
            self._random.seed(self._seed)
            return removed

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def as_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.as_json() for rule in self._rules]

    def decide(self, function_id: str, aaz218: str | None) -> Decision:
        """The faults for one request; counts of the rules that fire are used up."""
        with self._lock:
            delay = 0.0
            chosen: FaultRule | None = None
            for rule in list(self._rules):
                if not rule.matches(function_id, aaz218):
                    continue
                if KINDS[rule.kind].stage == "delay":
                    delay += self._delay_ms(rule.params)
                elif chosen is None:
                    chosen = rule
                else:
                    continue  # a later outcome rule waits for its turn; its count is kept
                self._use(rule)
            return Decision(delay, chosen)

    def _use(self, rule: FaultRule) -> None:
        rule.fired += 1
        if rule.remaining is not None:
            rule.remaining -= 1
            if rule.remaining <= 0:
                self._rules.remove(rule)

    def _delay_ms(self, params: Mapping[str, Any]) -> float:
        if params.get("ms") is not None:
            return float(params["ms"])
        # lognormvariate(mu, sigma) has median exp(mu): mu = ln(median).
        delay = self._random.lognormvariate(math.log(params["median_ms"]), params["sigma"])
        cap = params.get("max_ms")
        return min(delay, float(cap)) if cap is not None else delay


# --------------------------------------------------------------------------- checks


def _check_kind(kind: str) -> FaultKind:
    if kind not in FAULT_KINDS:
        raise FaultError(f"kind: {kind!r} is not one of {', '.join(FAULT_KINDS)}")
    return cast(FaultKind, kind)


def _check_function_id(function_id: str | None) -> None:
    if function_id is not None and function_id not in FUNCTIONS:
        raise FaultError(f"function_id: unknown function_id {function_id!r}")


def _optional_text(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise FaultError(f"{name}: must be text")


def _check_times(times: object) -> None:
    if times is None:
        return
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise FaultError(f"times: must be a whole number >= 1, got {times!r}")


def _count_of_failures(kind: str, times: int | None, n: object, word: str) -> int:
    # `n` is the kind's own word for `times`; giving both with different values is ambiguous.
    if n is None:
        return times if times is not None else 1
    _check_times(n)
    if times is not None and times != n:
        raise FaultError(f"{kind}: {word}={n!r} and times={times!r} disagree; give one of them")
    return cast(int, n)


def _check_params(kind: FaultKind, params: Mapping[str, Any]) -> dict[str, Any]:
    allowed = KINDS[kind].params
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        accepted = ", ".join(allowed) or "none"
        raise FaultError(f"{kind}: unknown parameter(s) {', '.join(unknown)} (accepted: {accepted})")
    values = {**allowed, **params}
    KINDS[kind].check(values)
    return {name: value for name, value in values.items() if value is not None}


def _check_latency(values: dict[str, Any]) -> None:
    fixed, median = values["ms"], values["median_ms"]
    if (fixed is None) == (median is None):
        raise FaultError("latency: give either ms (fixed) or median_ms (log-normal)")
    for name in ("ms", "median_ms", "sigma", "max_ms"):
        _check_number(name, values[name], allow_zero=name in ("ms", "sigma"))
    if median is None:
        values.pop("sigma")  # meaningless for a fixed delay; keep the rule's JSON honest


def _check_number(name: str, value: object, *, allow_zero: bool) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultError(f"latency: {name} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise FaultError(f"latency: {name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _check_malformed(values: dict[str, Any]) -> None:
    if values["mode"] not in ("truncated", "not_xml"):
        raise FaultError(f"malformed: mode must be 'truncated' or 'not_xml', got {values['mode']!r}")


def _check_fail_then_succeed(values: dict[str, Any]) -> None:
    if values["answer"] not in ("return_code", "http500"):
        answer = values["answer"]
        raise FaultError(f"fail_then_succeed: answer must be 'return_code' or 'http500', got {answer!r}")
    code = values["code"]
    if not isinstance(code, str) or not code.startswith("-") or not code[1:].isdigit():
        raise FaultError(f"fail_then_succeed: code must be a negative return_code like '-1', got {code!r}")
    _check_message("fail_then_succeed", values["message"])


def _check_session_expired(values: dict[str, Any]) -> None:
    _check_message("session_expired", values["message"])


def _check_message(kind: str, message: object) -> None:
    if not isinstance(message, str) or not message:
        raise FaultError(f"{kind}: message must be non-empty text")


def _no_checks(values: dict[str, Any]) -> None:
    del values


# --------------------------------------------------------------------------- the kinds


async def _server_error(params: Mapping[str, Any], exchange: Exchange) -> Response:
    del params
    return exchange.server_error()


async def _session_expired(params: Mapping[str, Any], exchange: Exchange) -> Response:
    return exchange.refuse(SPEC.session_expired_code, params["message"])


async def _fail(params: Mapping[str, Any], exchange: Exchange) -> Response:
    if params["answer"] == "http500":
        return exchange.server_error()
    return exchange.refuse(params["code"], params["message"])


async def _malformed(params: Mapping[str, Any], exchange: Exchange) -> Response:
    body = exchange.body
    # truncated: cut mid-document (well-framed HTTP, broken XML); not_xml: an HTML error page
    return exchange.spoiled(NOT_XML_PAGE if params["mode"] == "not_xml" else body[: len(body) // 2])


async def _drop(params: Mapping[str, Any], exchange: Exchange) -> Response:
    del params
    return await exchange.dropped()


@dataclass(frozen=True)
class Kind:
    """One fault kind, whole: its parameters with their defaults (None: none, may be absent),
    their check, when it acts (`delay` before the province is asked, `instead` of asking it,
    `after` the province answered and committed) and what it does then."""

    name: FaultKind
    stage: Stage
    params: Mapping[str, Any] = field(default_factory=dict)
    check: Callable[[dict[str, Any]], None] = _no_checks
    act: Act | None = None
    counted_by: str | None = None  # a parameter that is this kind's word for `times`
    never_for_login: bool = False  # a -9 to the login makes no sense: the login gets the session


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("latency", "delay", {"ms": None, "median_ms": None, "sigma": 0.5, "max_ms": None}, _check_latency),
    Kind("http500", "instead", act=_server_error),
    Kind("malformed", "after", {"mode": "truncated"}, _check_malformed, _malformed),
    Kind("session_expired", "instead", {"message": "会话已过期，请重新登录"}, _check_session_expired,
         _session_expired, never_for_login=True),
    Kind("fail_then_succeed", "instead",
         {"n": 1, "answer": "return_code", "code": "-1", "message": "模拟失败，请重试"},
         _check_fail_then_succeed, _fail, counted_by="n"),
    Kind("commit_then_drop", "after", act=_drop),
)}
assert tuple(KINDS) == FAULT_KINDS, "every FaultKind has its Kind, in the same order"
