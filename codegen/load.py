"""Read spec/, validate each file against the meta-schema, cross-check the whole.

Errors are collected, not raised one at a time: a spec author fixing a new
version wants the full list, each line naming file, function and field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from codegen.resolve import ResolvedField, check_value, resolve_use
from codegen.spec_model import (
    CONFIRM_ROLES,
    Cities,
    CodeList,
    Dataset,
    FieldDef,
    FieldUse,
    FunctionSpec,
    Invariant,
    Message,
    SpecRoot,
)

M = TypeVar("M", bound=BaseModel)


class SpecError(Exception):
    """The spec does not pass its checks; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class Spec:
    """A loaded, checked spec: what every generator step reads."""

    root: SpecRoot
    fields: dict[str, FieldDef]
    codes: dict[str, CodeList]
    functions: dict[str, FunctionSpec]
    directory: Path
    cities: Cities | None = None  # spec/cities.yaml, optional

    def resolve(self, use: FieldUse) -> ResolvedField:
        return resolve_use(use, self.fields[use.code], self.codes)

    def envelope(self, direction: str) -> list[ResolvedField]:
        codes = getattr(self.root.envelope, direction)
        first_required = direction == "response"
        return [
            self.resolve(FieldUse(code=code, required=first_required and i == 0))
            for i, code in enumerate(codes)
        ]


@dataclass
class _Collector:
    problems: list[str] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")


def _read_yaml(path: Path, out: _Collector, label: str) -> Any:
    if not path.is_file():
        out.add(label, "file missing")
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        out.add(label, f"not valid YAML ({exc})")
        return None


def _validate(model: type[M], data: Any, out: _Collector, label: str) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(part) for part in err["loc"]) or "(file)"
            out.add(label, f"{loc}: {err['msg']}")
        return None


def _rel(path: Path, spec_dir: Path) -> str:
    return f"spec/{path.relative_to(spec_dir).as_posix()}"


def load_spec(spec_dir: Path) -> Spec:
    """Load and check a spec directory; raise SpecError listing every problem."""
    out = _Collector()
    root_file = spec_dir / "spec.yaml"
    root = _validate(SpecRoot, _read_yaml(root_file, out, "spec/spec.yaml"), out, "spec/spec.yaml")
    fields = _load_fields(spec_dir, out)
    codes = _load_codes(spec_dir, out)
    functions = _load_functions(spec_dir, out)
    cities = _load_cities(spec_dir, out)
    if root is None or out.problems:
        raise SpecError(out.problems or ["spec/spec.yaml: missing"])
    spec = Spec(root, fields, codes, functions, spec_dir, cities)
    _cross_check(spec, out)
    if out.problems:
        raise SpecError(out.problems)
    return spec


def _load_fields(spec_dir: Path, out: _Collector) -> dict[str, FieldDef]:
    label = "spec/fields.yaml"
    raw = _read_yaml(spec_dir / "fields.yaml", out, label) or {}
    if not isinstance(raw, dict):
        out.add(label, "must be a mapping from field code to definition")
        return {}
    fields: dict[str, FieldDef] = {}
    for code, body in raw.items():
        parsed = _validate(FieldDef, body, out, f"{label}: {code}")
        if parsed is not None:
            fields[str(code)] = parsed
    return fields


def _load_codes(spec_dir: Path, out: _Collector) -> dict[str, CodeList]:
    codes: dict[str, CodeList] = {}
    for path in sorted((spec_dir / "codes").glob("*.yaml")):
        label = _rel(path, spec_dir)
        parsed = _validate(CodeList, _read_yaml(path, out, label), out, label)
        if parsed is None:
            continue
        if parsed.name != path.stem:
            out.add(label, f"name: {parsed.name!r} differs from the file name")
        codes[parsed.name] = parsed
    return codes


def _load_functions(spec_dir: Path, out: _Collector) -> dict[str, FunctionSpec]:
    functions: dict[str, FunctionSpec] = {}
    for path in sorted((spec_dir / "functions").glob("*.yaml")):
        label = _rel(path, spec_dir)
        parsed = _validate(FunctionSpec, _read_yaml(path, out, label), out, label)
        if parsed is None:
            continue
        if parsed.function_id != path.stem:
            out.add(label, f"function_id: {parsed.function_id!r} differs from the file name")
        functions[parsed.function_id] = parsed
    return functions


def _load_cities(spec_dir: Path, out: _Collector) -> Cities | None:
    """spec/cities.yaml when present (the per-city policy profiles)."""
    path = spec_dir / "cities.yaml"
    if not path.exists():
        return None
    label = _rel(path, spec_dir)
    return _validate(Cities, _read_yaml(path, out, label), out, label)


# --- cross-file checks --------------------------------------------------------


def _cross_check(spec: Spec, out: _Collector) -> None:
    _check_dictionary(spec, out)
    _check_invariants(spec, out)
    for function in spec.functions.values():
        label = f"spec/functions/{function.function_id}.yaml"
        _check_function_fields(spec, function, label, out)
        _check_stage(spec, function, label, out)
        _check_compensation(spec, function, label, out)
        _check_roles(spec, function, label, out)
        if not out.problems:
            _check_examples(spec, function, label, out)


def _check_dictionary(spec: Spec, out: _Collector) -> None:
    owners: dict[str, str] = {}
    for code, definition in spec.fields.items():
        where = f"spec/fields.yaml: {code}"
        if definition.code_list and definition.code_list not in spec.codes:
            out.add(where, f"code_list: {definition.code_list!r} has no file in spec/codes/")
        previous = owners.setdefault(definition.python_name, code)
        if previous != code:
            out.add(where, f"python_name: {definition.python_name!r} already used by {previous}")
    for code in spec.root.envelope.request + spec.root.envelope.response:
        if code not in spec.fields:
            out.add("spec/spec.yaml", f"envelope.{code}: unknown field (not in fields.yaml)")


def iter_uses(message: Message) -> Iterator[tuple[str, FieldUse, Dataset | None]]:
    """Every field use of a message with its path, e.g. ('feeinfo.row.bka057', use, ds)."""
    for use in message.fields:
        yield use.code, use, None
    for dataset in message.datasets:
        for use in dataset.fields:
            yield f"{dataset.name}.row.{use.code}", use, dataset


def _check_function_fields(spec: Spec, function: FunctionSpec, label: str, out: _Collector) -> None:
    for part in ("request", "response"):
        message: Message = getattr(function, part)
        seen: set[str] = set()
        for path, use, _ in iter_uses(message):
            where = f"{label}: {part}.{path}"
            if use.code not in spec.fields:
                out.add(where, "unknown field (not in fields.yaml)")
            if use.code_list and use.code_list not in spec.codes:
                out.add(where, f"code_list: {use.code_list!r} has no file in spec/codes/")
            if path in seen:
                out.add(where, "listed twice")
            seen.add(path)
        for dataset in message.datasets:
            if dataset.name in seen:
                out.add(f"{label}: {part}.{dataset.name}", "dataset name clashes with a field")


def _check_stage(spec: Spec, function: FunctionSpec, label: str, out: _Collector) -> None:
    stage = function.stage
    if function.kind == "state_changing" and stage is None:
        out.add(label, "stage: a state-changing function must declare its stage rule")
    if stage is None:
        return
    machine = spec.root.stage_machines.get(stage.machine)
    if machine is None:
        out.add(label, f"stage.machine: {stage.machine!r} is not in spec.yaml stage_machines")
        return
    for name in [*stage.requires, *([stage.leads_to] if stage.leads_to else [])]:
        if name not in machine.stages:
            out.add(label, f"stage: {name!r} is not a stage of machine {stage.machine!r}")


def _check_compensation(spec: Spec, function: FunctionSpec, label: str, out: _Collector) -> None:
    for key, back_key in (("compensation", "compensates"), ("compensates", "compensation")):
        target_id = getattr(function, key)
        if target_id is None:
            continue
        target = spec.functions.get(target_id)
        if target is None:
            out.add(label, f"{key}: {target_id!r} names no function in spec/functions/")
        elif getattr(target, back_key) != function.function_id:
            out.add(label, f"{key}: {target_id} does not declare {back_key}: {function.function_id}")


def invariant_scopes(spec: Spec, invariant: Invariant) -> list[tuple[str, str | None]]:
    """(function_id, dataset or None) of every answer scope declaring the total and all parts."""
    wanted = {invariant.total, *invariant.parts}
    scopes: list[tuple[str, str | None]] = []
    for function_id, function in sorted(spec.functions.items()):
        if wanted <= {use.code for use in function.response.fields}:
            scopes.append((function_id, None))
        scopes += [(function_id, dataset.name) for dataset in function.response.datasets
                   if wanted <= {use.code for use in dataset.fields}]
    return scopes


def _check_invariants(spec: Spec, out: _Collector) -> None:
    names: set[str] = set()
    for invariant in spec.root.invariants:
        where = f"spec/spec.yaml: invariants.{invariant.name}"
        if invariant.name in names:
            out.add(where, "listed twice")
        names.add(invariant.name)
        for code in (invariant.total, *invariant.parts):
            definition = spec.fields.get(code)
            if definition is None:
                out.add(where, f"{code}: unknown field (not in fields.yaml)")
            elif definition.type != "decimal":
                out.add(where, f"{code}: an amount must be a decimal, not {definition.type}")
        if not out.problems and not invariant_scopes(spec, invariant):
            out.add(where, "no answer declares the total and every part: it applies nowhere")


def opens_by_rule(spec: Spec, function: FunctionSpec) -> str | None:
    """The business key a function's stage rule says it creates, if any: it starts from the
    machine's initial stage and its answer carries the machine's business key."""
    rule = function.stage
    machine = spec.root.stage_machines.get(rule.machine) if rule else None
    if rule is None or machine is None or rule.requires != [machine.initial]:
        return None
    answered = {use.code for use in function.response.fields}
    return machine.business_key if machine.business_key in answered else None


def _check_roles(spec: Spec, function: FunctionSpec, label: str, out: _Collector) -> None:
    by_rule = opens_by_rule(spec, function)
    if function.opens != by_rule:
        out.add(label, f"opens: {function.opens!r}, but the stage rule and answer say {by_rule!r}")
    requested = {use.code for use in function.request.fields}
    for code in function.modifies:
        if code not in requested:
            out.add(label, f"modifies: {code} is not a request field")
    confirm = function.confirm
    if confirm is None:
        return
    wanted = CONFIRM_ROLES[confirm.rule]
    if sorted(confirm.queries) != sorted(wanted):
        out.add(label, f"confirm.queries: rule {confirm.rule} asks by {list(wanted) or 'nothing'}, "
                       f"got {sorted(confirm.queries) or 'nothing'}")
    for role, query_id in confirm.queries.items():
        query = spec.functions.get(query_id)
        if query is None or query.kind != "query":
            out.add(label, f"confirm.queries.{role}: {query_id!r} is not a read-only query of this spec")
    if confirm.rule == "fields_shown" and not function.modifies:
        out.add(label, "confirm: rule fields_shown needs the modifies list")


def _check_examples(spec: Spec, function: FunctionSpec, label: str, out: _Collector) -> None:
    for example in function.examples:
        for part, data in (("request", example.request), ("response", example.response)):
            where = f"{label}: examples[{example.name}].{part}"
            for problem in check_message(spec, function, part, data):
                out.add(where, problem)


def check_message(spec: Spec, function: FunctionSpec, part: str, data: dict[str, object]) -> list[str]:
    """Problems of a wire-shaped dict (codes as keys, text values) against one message."""
    message: Message = getattr(function, part)
    envelope = spec.envelope(part) if part == "response" else []
    scalars = {use.code: spec.resolve(use) for use in message.fields}
    scalars.update({item.code: item for item in envelope})
    datasets = {dataset.name: dataset for dataset in message.datasets}
    problems = [f"{key}: not in this message" for key in data if key not in scalars | datasets]
    for code, resolved in scalars.items():
        problems += [f"{code}: {p}" for p in check_value(resolved, data.get(code))]
    for name, dataset in datasets.items():
        problems += _check_rows(spec, dataset, data.get(name))
    return problems


def _check_rows(spec: Spec, dataset: Dataset, rows: object) -> list[str]:
    if rows is None:
        return [f"{dataset.name}: required dataset missing"] if dataset.required else []
    if not isinstance(rows, list):
        return [f"{dataset.name}: must be a list of rows"]
    problems: list[str] = []
    if len(rows) < dataset.min_rows:
        problems.append(f"{dataset.name}: fewer than {dataset.min_rows} rows")
    if dataset.max_rows is not None and len(rows) > dataset.max_rows:
        problems.append(f"{dataset.name}: more than {dataset.max_rows} rows")
    row_fields = {use.code: spec.resolve(use) for use in dataset.fields}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            problems.append(f"{dataset.name}[{index}]: a row must be a mapping")
            continue
        problems += [f"{dataset.name}[{index}].{k}: not in this dataset" for k in row if k not in row_fields]
        for code, resolved in row_fields.items():
            problems += [f"{dataset.name}[{index}].{code}: {p}" for p in check_value(resolved, row.get(code))]
    return problems
