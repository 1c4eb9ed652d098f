"""Synthetic users, institutions, insured persons and a fee catalogue for the mock province.

Everything here is made up: names are 测试甲/测试乙/…, citizen ID numbers are invented digit
strings, institutions are 测试医院一/二. Never put a real person in a seed.

A seed file (YAML or JSON, same shape) for `load_seed`:

```yaml
institutions:                 # akb020 -> name; every user and admission must name one of these
  H44190000001: 测试医院一
users:                        # sys0001 credentials; the user id is not the institution code
  - {userid: ss0028, password: mock-pass-1, akb020: H44190000001}
persons:                      # required: aac001 aac002 aac003 aac004 aac006 status
  - aac001: "1000000001"      # 电脑号, digits
    aac002: "44190019900101001X"
    aac003: 测试甲
    aac004: "1"               # 1 男, 2 女, 9 未说明
    aac006: "19900101"
    status: valid             # valid | frozen | not_insured | in_hospital_elsewhere
    bka042: "30000001"        # optional: 工伤凭证号, aae030/aae031 validity, bka100 社保卡号,
    aae030: "20190101"        #   aae005, baa027, aab001, bka008, bka004, aaz267, bka026
    aae031: "20991231"
  - {aac001: "1000000005", aac002: "44190019900101005X", aac003: 测试戊, aac004: "1",
     aac006: "19900101", status: in_hospital_elsewhere, admitted_at: H44190000002}
catalogue:                    # item code -> name, unit price, self_pay (全自费)
  XY0001: {name: 测试药品甲片, price: "3.1250", self_pay: false}
city: refund_only             # optional: the city profile of spec/cities.yaml the province follows
answers:                      # optional: how wire answers are written (adapter/mock/style.py)
  style: real                 #   strict (default: the spec's letter) | real (production-shaped)
  seed: 7                     #   which unlisted code values appear (deterministic per seed)
```

Unknown keys are errors (a typo should not pass silently); numbers are accepted where text is
expected (YAML reads 19900101 as a number). A person with status `in_hospital_elsewhere` must
name the institution holding the stay in `admitted_at`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from adapter.errors import SeedError as SeedError
from adapter.mock.style import STYLE_NAMES, AnswerStyle
from generated.cities import CITIES, DEFAULT_CITY
from generated.registry import CODE_LISTS

STATUSES = ("valid", "frozen", "not_insured", "in_hospital_elsewhere")
STATUS_TEXT = {
    "valid": "valid injury recognition 工伤认定有效",
    "frozen": "fund frozen 基金冻结 (bka888=1)",
    "not_insured": "not insured 未参保 (bka888=9)",
    "in_hospital_elsewhere": "already admitted at another institution 已在他院住院",
}
# bka888 个人基金状态 per status: 0 正常, 1 冻结, 9 未参保.
FUND_STATUS = {"valid": "0", "frozen": "1", "not_insured": "9", "in_hospital_elsewhere": "0"}
# The mock's single pooling centre (aaa027 工伤保险中心编码); synthetic.
CENTRE_CODE = "441900"

# aka063 费用类别 of an item, by the prefix of its code (longest prefix first). A mock rule: the
# real province maps hospital items through its catalogue; the mock only needs a category for
# the fee list (bizh120113) and the settlement sheet (bizh120206).
FEE_CATEGORY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("XY", "01"), ("ZC", "02"), ("CY", "03"), ("JC", "04"), ("ZL", "08"), ("HY", "09"),
    ("SS", "10"), ("CW", "17"), ("CL", "18"), ("HL", "19"), ("GH", "21"), ("ZF", "99"),
    ("X", "01"), ("Z", "08"),
)


@dataclass(frozen=True)
class User:
    userid: str
    password: str
    akb020: str


@dataclass(frozen=True)
class Person:
    aac001: str  # 电脑号
    aac002: str  # 社会保障号码
    aac003: str  # 姓名
    aac004: str  # 性别
    aac006: str  # 出生日期 yyyyMMdd
    status: str  # one of STATUSES
    bka100: str = ""  # 社保卡号
    aae005: str = ""  # 联系电话
    baa027: str = CENTRE_CODE  # 参保地统筹区
    aab001: str = "20000001"  # 单位编码
    bka008: str = "测试单位甲"  # 单位名称
    bka004: str = "1"  # 人员类别 1 在职
    aaz267: str = ""  # 申请序列号 (认定申请)
    bka026: str = ""  # 认定的疾病诊断编码
    bka042: str = ""  # 工伤凭证号
    aae030: str = ""  # 认定有效期 开始
    aae031: str = ""  # 认定有效期 结束
    admitted_at: str | None = None  # in_hospital_elsewhere: the institution holding the stay


class CatalogueItem(NamedTuple):
    name: str
    price: Decimal
    self_pay: bool


@dataclass
class Seed:
    users: list[User]
    persons: list[Person]
    institutions: dict[str, str]
    catalogue: dict[str, CatalogueItem] = field(default_factory=dict)
    style: AnswerStyle = field(default_factory=AnswerStyle)
    city: str = DEFAULT_CITY  # a key of generated.cities.CITIES


def fee_category(item_code: str) -> tuple[str, str]:
    """aka063 code and label of an item: 'XY0001' -> ('01', '西药'); unknown prefixes are 99."""
    labels = dict(CODE_LISTS["aka063"].values)
    for prefix, code in FEE_CATEGORY_PREFIXES:
        if item_code.upper().startswith(prefix):
            return code, labels.get(code, code)
    return "99", labels.get("99", "其他费用")


def _person(number: int, name: str, sex: str, status: str, **extra: str) -> Person:
    """A synthetic person; every identifier is derived from `number`, none is real."""
    return Person(
        aac001=f"10000000{number:02d}",
        aac002=f"441900199001010{number:02d}X",
        aac003=name,
        aac004=sex,
        aac006="19900101",
        status=status,
        bka100=f"K000000{number:02d}",
        aae005=f"138000000{number:02d}",
        aaz267=f"1000000{number:02d}" if status != "not_insured" else "",
        bka026="S62.001" if status != "not_insured" else "",
        bka042=f"300000{number:02d}" if status != "not_insured" else "",
        aae030="20190101" if status != "not_insured" else "",
        aae031="20991231" if status != "not_insured" else "",
        **extra,
    )


def default_seed() -> Seed:
    """Two institutions, two users, one person per status (plus spares), a small catalogue."""
    item = CatalogueItem
    return Seed(
        users=[
            User("ss0028", "mock-pass-1", "H44190000001"),
            User("ss0029", "mock-pass-2", "H44190000002"),
        ],
        persons=[
            _person(1, "测试甲", "1", "valid"),
            _person(2, "测试乙", "2", "valid"),
            _person(3, "测试丙", "1", "frozen"),
            _person(4, "测试丁", "2", "not_insured"),
            _person(5, "测试戊", "1", "in_hospital_elsewhere", admitted_at="H44190000002"),
            _person(6, "测试己", "2", "valid"),
            _person(7, "测试庚", "1", "valid"),
        ],
        institutions={"H44190000001": "测试医院一", "H44190000002": "测试医院二"},
        catalogue={
            "X0001": item("测试药品甲", Decimal("3.1250"), False),
            "XY0001": item("测试药品甲片", Decimal("3.1250"), False),
            "XY0002": item("测试药品乙注射液", Decimal("12.8000"), False),
            "ZC0001": item("测试中成药丙", Decimal("8.5000"), False),
            "Z0001": item("测试诊疗项目", Decimal("20.0000"), False),
            "HY0001": item("测试血常规", Decimal("25.0000"), False),
            "SS0001": item("测试清创缝合术", Decimal("1160.0000"), False),
            "CW0001": item("测试床位费", Decimal("45.0000"), False),
            "GH0001": item("测试挂号费", Decimal("10.0000"), False),
            "ZF0001": item("测试自费营养品", Decimal("60.0000"), True),
            "ZF0002": item("测试自费材料", Decimal("120.0000"), True),
        },
    )


# ---------------------------------------------------------------------------- loading a file


def load_seed(path: str | Path) -> Seed:
    """Read a seed file (.yaml/.yml/.json); every problem is reported with its location."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(f"{source}: cannot read the seed file ({exc.strerror})") from None
    try:
        data = json.loads(text) if source.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SeedError(f"{source}: not valid {source.suffix.lstrip('.') or 'YAML'}: {exc}") from None
    try:
        return _seed_from_data(data)
    except SeedError as exc:
        raise SeedError(f"{source}: {exc}") from None


def _seed_from_data(data: Any) -> Seed:
    top = _mapping(data, "the file")
    _no_unknown_keys(top, {"institutions", "users", "persons", "catalogue", "answers", "city"}, "the file")
    institutions = {str(k): _text(v, f"institutions.{k}") for k, v in _mapping(
        top.get("institutions"), "institutions").items()}
    users = [_record(User, row, f"users[{i}]") for i, row in enumerate(_list(top.get("users"), "users"))]
    persons = [_record(Person, row, f"persons[{i}]") for i, row in enumerate(
        _list(top.get("persons"), "persons"))]
    catalogue = {str(code): _catalogue_item(entry, f"catalogue.{code}") for code, entry in _mapping(
        top.get("catalogue", {}), "catalogue").items()}
    seed = Seed(users=users, persons=persons, institutions=institutions, catalogue=catalogue,
                style=_answer_style(top.get("answers", {})), city=_city(top.get("city", DEFAULT_CITY)))
    _check_consistency(seed)
    return seed


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SeedError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise SeedError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _text(value: Any, where: str) -> str:
    # YAML turns 19900101 or 1000000001 into numbers; they are identifiers, keep them as text.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SeedError(f"{where}: expected text, got {type(value).__name__}")
    return str(value)


def _no_unknown_keys(row: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(row) - known)
    if unknown:
        raise SeedError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")


def _record(cls: type[User] | type[Person], row: Any, where: str) -> Any:
    """Build a User or Person from a mapping: required fields present, no unknown keys."""
    mapping = _mapping(row, where)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _no_unknown_keys(mapping, set(fields), where)
    missing = [name for name, f in fields.items()
               if f.default is dataclasses.MISSING and name not in mapping]
    if missing:
        raise SeedError(f"{where}: missing {', '.join(missing)}")
    values: dict[str, Any] = {
        key: None if value is None and key == "admitted_at" else _text(value, f"{where}.{key}")
        for key, value in mapping.items()}
    return cls(**values)


def _city(value: Any) -> str:
    if value not in CITIES:
        raise SeedError(f"city: {value!r} is not a city profile of spec/cities.yaml "
                        f"(one of {', '.join(CITIES)})")
    return str(value)


def _answer_style(entry: Any) -> AnswerStyle:
    mapping = _mapping(entry, "answers")
    _no_unknown_keys(mapping, {"style", "seed"}, "answers")
    name = mapping.get("style", "strict")
    if name not in STYLE_NAMES:
        raise SeedError(f"answers.style: {name!r} is not one of {', '.join(STYLE_NAMES)}")
    seed = mapping.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise SeedError("answers.seed: expected a whole number")
    return AnswerStyle(name, seed)


def _catalogue_item(entry: Any, where: str) -> CatalogueItem:
    mapping = _mapping(entry, where)
    _no_unknown_keys(mapping, {"name", "price", "self_pay"}, where)
    if "name" not in mapping or "price" not in mapping:
        raise SeedError(f"{where}: needs name and price")
    try:
        price = Decimal(str(mapping["price"]))
    except InvalidOperation:
        raise SeedError(f"{where}.price: {mapping['price']!r} is not a number") from None
    if not price.is_finite() or price < 0:
        raise SeedError(f"{where}.price: must be a number >= 0")
    self_pay = mapping.get("self_pay", False)
    if not isinstance(self_pay, bool):
        raise SeedError(f"{where}.self_pay: expected true or false")
    return CatalogueItem(_text(mapping["name"], f"{where}.name"), price, self_pay)


def _check_consistency(seed: Seed) -> None:
    """Cross-entry rules: known institutions, unique keys, statuses, digits where needed."""
    for i, user in enumerate(seed.users):
        if user.akb020 not in seed.institutions:
            raise SeedError(f"users[{i}].akb020: {user.akb020} is not one of the institutions")
    _unique([u.userid for u in seed.users], "users", "userid")
    _unique([p.aac001 for p in seed.persons], "persons", "aac001")
    _unique([p.aac002 for p in seed.persons], "persons", "aac002")
    for i, person in enumerate(seed.persons):
        _check_person(person, seed, f"persons[{i}]")


def _check_person(person: Person, seed: Seed, where: str) -> None:
    if person.status not in STATUSES:
        raise SeedError(f"{where}.status: {person.status!r} is not one of {', '.join(STATUSES)}")
    if not person.aac001.isdigit():
        raise SeedError(f"{where}.aac001: 电脑号 must be digits")
    if person.status == "in_hospital_elsewhere" and person.admitted_at not in seed.institutions:
        raise SeedError(f"{where}.admitted_at: status in_hospital_elsewhere needs the institution "
                        f"holding the stay (one of {', '.join(seed.institutions)})")


def _unique(values: list[str], where: str, key: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise SeedError(f"{where}: {key} {value} appears twice")
        seen.add(value)


# ---------------------------------------------------------------------------- listing


def seed_as_text(seed: Seed) -> str:
    """A readable listing for `gdwi mock seed` (synthetic data; the mock passwords are shown)."""
    lines = ["institutions (akb020)"]
    lines += [f"  {code}  {name}" for code, name in seed.institutions.items()]
    lines += ["", "users (sys0001 userid / password -> akb020)"]
    lines += [f"  {u.userid:<10} {u.password:<14} -> {u.akb020} {seed.institutions.get(u.akb020, '?')}"
              for u in seed.users]
    lines += ["", "insured persons (aac001 电脑号, aac002 社会保障号码, bka100 社保卡号)"]
    for p in seed.persons:
        where = f" at {p.admitted_at} {seed.institutions.get(p.admitted_at, '?')}" if p.admitted_at else ""
        lines.append(f"  {p.aac001:<11} {p.aac002:<19} {p.bka100 or '-':<10} {p.aac003:<5} "
                     f"{p.status}: {STATUS_TEXT.get(p.status, p.status)}{where}")
    lines += ["", "fee catalogue (ake005, name, unit price, 全自费 = self-pay)"]
    for code, entry in seed.catalogue.items():
        category = "/".join(fee_category(code))
        flag = "  全自费" if entry.self_pay else ""
        lines.append(f"  {code:<8} {entry.name:<10} {entry.price:>10} {category}{flag}")
    return "\n".join(lines) + "\n"


def seed_as_data(seed: Seed) -> dict[str, Any]:
    """The seed in the file format `load_seed` reads (defaults left out), for `--format yaml|json`."""
    def record(item: User | Person) -> dict[str, Any]:
        return {f.name: value for f in dataclasses.fields(item)
                if (value := getattr(item, f.name)) != f.default or f.default is dataclasses.MISSING}

    data: dict[str, Any] = {
        "institutions": dict(seed.institutions),
        "users": [record(user) for user in seed.users],
        "persons": [record(person) for person in seed.persons],
        "catalogue": {code: {"name": item.name, "price": str(item.price), "self_pay": item.self_pay}
                      for code, item in seed.catalogue.items()},
    }
    if seed.style != AnswerStyle():
        data["answers"] = {"style": seed.style.name, "seed": seed.style.seed}
    if seed.city != DEFAULT_CITY:
        data["city"] = seed.city
    return data


def seed_as_yaml(seed: Seed) -> str:
    """A seed file: digit strings stay quoted text, Chinese stays readable."""
    return "# gdwi mock seed (synthetic data only; format: docs/mock-seed.md)\n" + yaml.safe_dump(
        seed_as_data(seed), allow_unicode=True, sort_keys=False, width=100)
