"""Command groups imported only when used: `gdwi call` does not load the mock, the gateway or
reconcile, and `gdwi --help` loads none of them.

A lazy entry is listed under its name and one-line help (kept here, checked against the real
command by tests/test_cli.py); it is imported when it is the command being run or asked for help.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
from typer.core import TyperGroup

__all__ = ["Lazy", "lazy_group"]


@dataclass(frozen=True)
class Lazy:
    """Where a command lives: `module:attribute`, a typer.Typer (a group) or a function."""

    target: str
    help: str

    def load(self, name: str) -> Any:  # click's Command (typer vendors click privately)
        module_name, attribute = self.target.split(":")
        found = getattr(importlib.import_module(module_name), attribute)
        holder = typer.Typer()
        holder.callback()(_nothing)  # a callback keeps `name` a subcommand, even a single one
        if isinstance(found, typer.Typer):
            holder.add_typer(found, name=name)
        else:
            holder.command(name)(found)
        group = typer.main.get_command(holder)
        assert isinstance(group, TyperGroup)
        return group.commands[name]


def _nothing() -> None:
    """The callback of the throwaway holder group."""


def lazy_group(base: type[TyperGroup], entries: dict[str, Lazy]) -> type[TyperGroup]:
    """A group class (typer's `cls=`) that also offers `entries`, imported on first use."""

    class LazyGroup(base):  # type: ignore[valid-type,misc]
        def list_commands(self, ctx: Any) -> list[str]:
            return [*super().list_commands(ctx), *(name for name in entries if name not in self.commands)]

        def get_command(self, ctx: Any, cmd_name: str) -> Any:
            found = super().get_command(ctx, cmd_name)
            if found is None and cmd_name in entries:
                # A stand-in for listings (name and help); resolve_command swaps in the real one.
                return typer.core.TyperCommand(cmd_name, help=entries[cmd_name].help)
            return found

        def resolve_command(self, ctx: Any, args: list[str]) -> Any:
            name, command, rest = super().resolve_command(ctx, args)
            if name in entries and name not in self.commands:
                command = entries[name].load(name)
                self.commands[name] = command
            return name, command, rest

    return LazyGroup
