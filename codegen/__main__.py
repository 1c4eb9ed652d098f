"""python -m codegen {generate,check,check-generated,diff}."""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import sys
import tempfile
import time
from pathlib import Path

from codegen.diff import diff_specs, format_diff, load_spec_ref
from codegen.load import SpecError, load_spec
from codegen.render import render, write_tree

ROOT = Path(__file__).resolve().parent.parent


def _load_or_exit(spec_dir: Path):  # type: ignore[no-untyped-def]
    try:
        return load_spec(spec_dir)
    except SpecError as exc:
        print(f"spec check failed: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_generate(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    spec = _load_or_exit(args.spec)
    files = render(spec)
    write_tree(files, args.out)
    elapsed = time.perf_counter() - started
    print(f"generated {len(files)} files for {len(spec.functions)} functions in {elapsed:.1f} s")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    spec = _load_or_exit(args.spec)
    print(f"spec OK: {len(spec.functions)} functions, {len(spec.fields)} fields, "
          f"{len(spec.codes)} code lists")
    return 0


def tree_differences(expected: dict[str, str], out_dir: Path) -> list[str]:
    """Unified diffs between what the spec produces and what out_dir holds."""
    actual = {
        p.relative_to(out_dir).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(out_dir.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    lines: list[str] = []
    for name in sorted(expected.keys() | actual.keys()):
        if name not in actual:
            lines.append(f"missing in {out_dir.name}/: {name}")
        elif name not in expected:
            lines.append(f"not produced by spec/ (stale or hand-added): {name}")
        elif actual[name] != expected[name]:
            lines.extend(
                difflib.unified_diff(
                    actual[name].splitlines(),
                    expected[name].splitlines(),
                    f"{out_dir.name}/{name}",
                    f"from spec/ {name}",
                    lineterm="",
                )
            )
    return lines


def cmd_check_generated(args: argparse.Namespace) -> int:
    spec = _load_or_exit(args.spec)
    expected = render(spec)
    with tempfile.TemporaryDirectory() as scratch:
        # Round-trip through disk so the comparison sees what a write would produce.
        write_tree(expected, Path(scratch))
        expected = {
            p.relative_to(scratch).as_posix(): p.read_text(encoding="utf-8")
            for p in Path(scratch).rglob("*")
            if p.is_file()
        }
    differences = tree_differences(expected, args.out)
    if differences:
        print("generated/ differs from what spec/ produces; run `make generate`:", file=sys.stderr)
        for line in differences[:400]:
            print(line, file=sys.stderr)
        return 1
    print(f"generated/ is up to date ({len(expected)} files)")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    old = load_spec_ref(args.old, ROOT)
    new = load_spec_ref(args.new, ROOT)
    changes = diff_specs(old, new)
    if args.json:
        print(json.dumps([dataclasses.asdict(change) for change in changes], ensure_ascii=False, indent=2))
    else:
        print(format_diff(changes, args.old, args.new))
    return 2 if args.fail_on_breaking and any(c.breaking for c in changes) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, handler, help_text in (
        ("generate", cmd_generate, "validate spec/ and write generated/"),
        ("check", cmd_check, "validate spec/ only"),
        ("check-generated", cmd_check_generated, "fail when generated/ differs from spec/"),
    ):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--spec", type=Path, default=ROOT / "spec")
        command.add_argument("--out", type=Path, default=ROOT / "generated")
        command.set_defaults(handler=handler)
    diff = sub.add_parser("diff", help="compare two spec versions (directories or git refs)")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument("--fail-on-breaking", action="store_true")
    diff.add_argument("--json", action="store_true", help="the changes as a JSON list")
    diff.set_defaults(handler=cmd_diff)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
