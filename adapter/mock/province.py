"""MockProvince: the mock provincial server's state and rules, without I/O.

`handle()` answers one already-validated request (wire-shaped values: code -> text, dataset ->
list of row dicts) with the response's wire values, or raises `Refusal` (negative return_code).
What happens on every call, in order:

1. the request's akb020 must be the session's institution, and every date must exist (the
   spec's patterns let 20190231 through);
2. under one lock: the registry's stage rule (`FUNCTIONS[fid].stage`: machine, requires) is
   checked for the stay or visit named by aaz218 — the one generic "allowed in this stage" check;
3. the function's rule (outpatient.py, inpatient.py, queries.py) checks the rest and changes the
   books; a Refusal is raised before anything changes;
4. with `persist_path`, the whole state is written to SQLite before the lock is released.

Sessions (sys0001) end at 24:00 Asia/Shanghai of the day they were issued; an unknown or
expired session is Refusal("-9").

Settlement arithmetic (a mock rule, not the province's; details in money.py), per set of fee
rows (a stay's fees, or one outpatient batch), Decimal with 2 places:
    akc264 = sum of bka058;  bka825 全自费 = sum of bka058 over self-pay catalogue items
    bka831 = akb067 = bka825;  akb066 = bka839 = 0
    ake039 = akc264 - bka831;  bka832 = ake039;  ake035 ake026 ake029 bka841 bka842 bka840 bka821 = 0
so the spec's amount identities (spec.yaml invariants) hold exactly; money.py checks them.
"""

from __future__ import annotations

import hmac
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Mapping
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

from adapter.mock import inpatient, outpatient, queries
from adapter.mock.answers import Answer, Call, Handler
from adapter.mock.books import SHANGHAI, Ledger, Session, State, Stay, stage_text
from adapter.mock.refusal import Refusal, label
from adapter.mock.seed import Seed, default_seed
from adapter.wire.session import next_midnight
from generated.cities import CITIES, CityMeta
from generated.registry import FIELDS, FUNCTIONS, SPEC, STAGE_MACHINES

__all__ = ["MockProvince", "Refusal"]

HANDLERS: dict[str, Handler] = {**outpatient.HANDLERS, **inpatient.HANDLERS, **queries.HANDLERS}
SUCCESS_MESSAGE = "成功"


def _shanghai_now() -> datetime:
    return datetime.now(SHANGHAI)


class MockProvince:
    """The province's books and rules for one mock server; thread-safe."""

    def __init__(self, seed: Seed | None = None, *, clock: Callable[[], datetime] | None = None,
                 persist_path: str | Path | None = None, city: str | None = None) -> None:
        """`city`: the profile of spec/cities.yaml to follow (default: the seed's, else the spec's)."""
        self.seed = seed if seed is not None else default_seed()
        self.city: CityMeta = CITIES[city or self.seed.city]
        self._lock = threading.RLock()
        self._store = _Store(Path(persist_path)) if persist_path is not None else None
        saved = self._store.load() if self._store else None
        state = State.from_json(saved) if saved is not None else None
        self._clock = clock or _shanghai_now
        self._ledger = Ledger(self.seed, self._clock, state, self.city)
        self._save()

    # ------------------------------------------------------------------------ sessions

    def login(self, userid: str, password: str) -> str:
        """sys0001: a new session bound to the user's institution."""
        user = next((u for u in self.seed.users if u.userid == userid), None)
        # Compare in constant time, and never say which of the two was wrong.
        if user is None or not hmac.compare_digest(user.password.encode(), password.encode()):
            raise Refusal("-1", "userid/password: wrong user id or password (用户名或密码错误)")
        with self._lock:
            now = self._ledger.now()
            self._drop_expired(now)
            session = Session(session_id=str(uuid.uuid4()), userid=user.userid, akb020=user.akb020,
                              expires_at=next_midnight(now).isoformat())
            self._ledger.state.sessions[session.session_id] = session
            self._save()
        return session.session_id

    def session_institution(self, session_id: str | None) -> str:
        """The akb020 of a live session; Refusal("-9") if unknown or expired."""
        with self._lock:
            session = self._ledger.state.sessions.get(session_id or "")
            if session is None or self._ledger.now() >= datetime.fromisoformat(session.expires_at):
                raise Refusal("-9")
            return session.akb020

    def expire_sessions(self) -> None:
        """End every session now (on demand, e.g. to test re-login after -9)."""
        with self._lock:
            self._ledger.state.sessions.clear()
            self._save()

    def _drop_expired(self, now: datetime) -> None:
        sessions = self._ledger.state.sessions
        for key in [k for k, s in sessions.items() if now >= datetime.fromisoformat(s.expires_at)]:
            del sessions[key]

    # ------------------------------------------------------------------------ business

    def handle(self, function_id: str, values: dict[str, Any], *, akb020: str) -> dict[str, Any]:
        """The business answer to one validated request, with return_code "1"; or a Refusal."""
        meta = FUNCTIONS.get(function_id)
        if meta is None or (meta.kind != "login" and function_id not in HANDLERS):
            raise Refusal("-1", f"{label('function_id')}: unknown function {function_id!r} (无此交易)")
        if meta.kind == "login":
            session_id = self.login(str(values.get("userid", "")), str(values.get("password", "")))
            return _success({"session_id": session_id})
        _check_institution(values, akb020)
        _check_dates(values)
        call = Call(function_id, values, akb020)
        with self._lock:
            self._check_stage(call)
            answer = HANDLERS[function_id](self._ledger, call)
            if meta.kind == "state_changing":
                self._save()
        return _success(answer)

    def _check_stage(self, call: Call) -> None:
        """The registry's "allowed in stage" rule for the visit or stay named by aaz218."""
        rule = FUNCTIONS[call.function_id].stage
        if rule is None or FUNCTIONS[call.function_id].opens:
            return  # no rule, or the call opens a new business (registration, admission)
        record = self._ledger.business(call.text("aaz218"), call.akb020, rule.machine)
        if record.stage not in rule.requires:
            meta = FUNCTIONS[call.function_id]
            allowed = ", ".join(stage_text(rule.machine, s) for s in rule.requires)
            current = stage_text(rule.machine, record.stage)
            raise Refusal("-1", f"{call.function_id} {meta.name}: not allowed while {label('aaz218')} "
                                f"{record.aaz218} is in stage {current}; allowed in: {allowed} "
                                f"(当前业务阶段为「{current.split(' ')[-1]}」，不能办理「{meta.name}」)")

    # ------------------------------------------------------------------------ test helpers

    def jump(self, aaz218: str, stage: str) -> None:
        """Move a stay or visit straight to `stage` (test helper; the books stay coherent)."""
        with self._lock:
            record = self._ledger.any_business(aaz218)
            if record is None:
                raise Refusal("-1", f"{label('aaz218')}: no such visit or stay (无此就医登记号)")
            machine = STAGE_MACHINES[record.machine]
            stages = [name for name, _ in machine.stages if name != machine.initial]
            if stage not in stages:
                raise Refusal("-1", f"stage {stage!r} is not a stage of the {record.machine} machine (one of "
                                    f"{', '.join(stages)})")
            if isinstance(record, Stay):
                inpatient.arrive(self._ledger, record, stage)
            record.stage = stage
            self._save()

    def stage_of(self, aaz218: str) -> str | None:
        with self._lock:
            record = self._ledger.any_business(aaz218)
            return record.stage if record is not None else None

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON-able data (what persistence writes)."""
        with self._lock:
            # A deep copy through JSON: the caller may keep or change it freely.
            result: dict[str, Any] = json.loads(json.dumps(self._ledger.state.to_json()))
            return result

    def reset(self) -> None:
        """Back to the seed: no visits, no stays but the seeded ones, no sessions."""
        with self._lock:
            self._ledger = Ledger(self.seed, self._clock, None, self.city)
            self._save()

    def _save(self) -> None:
        if self._store is not None:
            self._store.save(self._ledger.state.to_json())


def _success(answer: Answer) -> dict[str, Any]:
    return {"return_code": SPEC.success_code, "return_code_message": SUCCESS_MESSAGE, **answer}


def _check_institution(values: dict[str, Any], akb020: str) -> None:
    requested = values.get("akb020")
    if requested is not None and requested != akb020:
        raise Refusal("-1", f"{label('akb020')}: {requested} is not the institution of this session "
                            f"({akb020}) (医疗机构编码与登录机构不一致)")


def _check_dates(values: Mapping[str, Any], where: str = "") -> None:
    """Dates the spec's patterns let through but the calendar has not (20190231, year 0000)."""
    for code, value in values.items():
        if isinstance(value, list):
            for index, row in enumerate(value):
                if isinstance(row, Mapping):
                    _check_dates(row, f"{where}{code}[{index}].")
            continue
        meta = FIELDS.get(code)
        if meta is None or meta.strftime is None or not isinstance(value, str) or not value.strip():
            continue
        try:
            datetime.strptime(value.strip(), meta.strftime)
        except ValueError:
            raise Refusal("-1", f"{where}{label(code)}: {value} is not a calendar date ({meta.format}) "
                                "(日期不存在)") from None


class _Store:
    """The state as one JSON row in SQLite: written after every change, read on start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Owner-only before SQLite opens it (its -wal/-journal files copy the mode): the state
        # holds every visit and stay the mock has seen.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(self.path, 0o600)
        with closing(sqlite3.connect(self.path)) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS mock_state "
                       "(id INTEGER PRIMARY KEY CHECK (id = 1), saved_at TEXT NOT NULL, state TEXT NOT NULL)")

    def load(self) -> dict[str, Any] | None:
        with closing(sqlite3.connect(self.path)) as db:
            row = db.execute("SELECT state FROM mock_state WHERE id = 1").fetchone()
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row[0])
        return data

    def save(self, state: dict[str, Any]) -> None:
        text = json.dumps(state, ensure_ascii=False)
        with closing(sqlite3.connect(self.path)) as db, db:
            db.execute("INSERT OR REPLACE INTO mock_state (id, saved_at, state) VALUES (1, ?, ?)",
                       (datetime.now(SHANGHAI).isoformat(), text))
