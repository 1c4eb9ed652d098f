"""Compare two spec versions: per function, fields added, removed and changed.

A change is *breaking* when a caller written against the old version can be
refused or misread by the new one: a request field removed or newly required,
a length narrowed, a type changed, a closed code value removed or renumbered,
a function removed.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from codegen.load import Spec, iter_uses, load_spec
from codegen.resolve import ResolvedField


@dataclass(frozen=True)
class Change:
    function_id: str
    path: str
    kind: str  # added | removed | changed
    detail: str
    breaking: bool


def load_spec_ref(ref: str, repo: Path) -> Spec:
    """A spec directory, or a git ref whose spec/ is read from the repository."""
    candidate = Path(ref)
    if candidate.is_dir():
        return load_spec(candidate)
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", ref, "spec"],
        check=True,
        capture_output=True,
    ).stdout
    scratch = Path(tempfile.mkdtemp(prefix="gdwi-spec-"))
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(scratch, filter="data")
    return load_spec(scratch / "spec")


def _fields_of(spec: Spec, function_id: str) -> dict[str, ResolvedField]:
    function = spec.functions[function_id]
    result: dict[str, ResolvedField] = {}
    for part in ("request", "response"):
        for path, use, _ in iter_uses(getattr(function, part)):
            result[f"{part}.{path}"] = spec.resolve(use)
    return result


def _code_values(spec: Spec, field: ResolvedField) -> dict[str, str]:
    if not field.code_list or field.code_list not in spec.codes:
        return {}
    return {v.code: v.label for v in spec.codes[field.code_list].values}


def _field_changes(
    old_spec: Spec, new_spec: Spec, function_id: str, path: str, old: ResolvedField, new: ResolvedField
) -> list[Change]:
    is_request = path.startswith("request.")
    changes: list[Change] = []

    def add(detail: str, breaking: bool) -> None:
        changes.append(Change(function_id, path, "changed", detail, breaking))

    if old.type != new.type:
        add(f"type {old.type} -> {new.type}", True)
    if old.max_length != new.max_length:
        narrowed = new.max_length is not None and (
            old.max_length is None or new.max_length < old.max_length
        )
        add(f"max_length {old.max_length} -> {new.max_length}", narrowed)
    if (old.digits, old.scale) != (new.digits, new.scale):
        add(f"decimal ({old.digits},{old.scale}) -> ({new.digits},{new.scale})", True)
    if old.required != new.required:
        add(f"required {old.required} -> {new.required}", is_request and new.required)
    old_values, new_values = _code_values(old_spec, old), _code_values(new_spec, new)
    removed = sorted(old_values.keys() - new_values.keys())
    added = sorted(new_values.keys() - old_values.keys())
    renumbered = [
        f"{old_label}: {o} -> {n}"
        for o, old_label in old_values.items()
        for n, new_label in new_values.items()
        if o in removed and n in added and old_label == new_label
    ]
    if renumbered:
        add("code renumbered " + "; ".join(renumbered), True)
    elif removed:
        add(f"code values removed {removed}", new.closed_values is not None)
    if added and not renumbered:
        add(f"code values added {added}", False)
    return changes


def diff_specs(old: Spec, new: Spec) -> list[Change]:
    changes: list[Change] = []
    for function_id in sorted(old.functions.keys() | new.functions.keys()):
        if function_id not in new.functions:
            changes.append(Change(function_id, "", "removed", "function removed", True))
            continue
        if function_id not in old.functions:
            changes.append(Change(function_id, "", "added", "function added", False))
            continue
        old_fields, new_fields = _fields_of(old, function_id), _fields_of(new, function_id)
        for path in sorted(old_fields.keys() | new_fields.keys()):
            if path not in new_fields:
                breaking = path.startswith("request.") or old_fields[path].required
                changes.append(Change(function_id, path, "removed", "field removed", breaking))
            elif path not in old_fields:
                field = new_fields[path]
                breaking = path.startswith("request.") and field.required
                detail = f"field added ({field.name}, {'required' if field.required else 'optional'})"
                changes.append(Change(function_id, path, "added", detail, breaking))
            else:
                changes += _field_changes(
                    old, new, function_id, path, old_fields[path], new_fields[path]
                )
    return changes


def format_diff(changes: list[Change], old_label: str, new_label: str) -> str:
    if not changes:
        return f"spec diff {old_label} -> {new_label}: no changes"
    lines = [f"spec diff {old_label} -> {new_label}: {len(changes)} change(s), "
             f"{sum(c.breaking for c in changes)} breaking"]
    current = None
    for change in changes:
        if change.function_id != current:
            current = change.function_id
            lines.append(f"{current}:")
        flag = "BREAKING" if change.breaking else "ok"
        where = f"{change.path} " if change.path else ""
        lines.append(f"  [{flag:8}] {change.kind:7} {where}{change.detail}".rstrip())
    return "\n".join(lines)
