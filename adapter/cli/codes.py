"""`gdwi codes`: pull the province's code tables (bizh120205) and show them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from adapter.cli import context
from adapter.cli.output import JSON_HELP, emit_json, emit_table, message_console
from adapter.errors import InputError
from adapter.ops.codes import CodeRow, CodeStore, sync
from adapter.wire.database import is_postgres, mask_dsn
from generated.registry import CODE_LISTS

__all__ = ["codes_app"]

codes_app = typer.Typer(help="Code tables from the province (bizh120205), kept next to the journal",
                        no_args_is_help=True)
console = message_console()
error_console = Console(stderr=True, soft_wrap=True)  # error lines are not wrapped

_DB_HELP = "SQLite file or postgresql:// URL for the code_tables table (default: the journal's)"


@codes_app.command("sync")
def sync_command(
    lists: list[str] | None = typer.Argument(None, help="list names (e.g. bka006 aka063); none: all"),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Fetch code tables from the province and replace the synced copy."""
    from adapter.wire.client import Client

    settings = context.settings()
    db = db or settings.journal_path
    with Client(settings) as client, CodeStore(db) as store, _bar() as bar:
        task = bar.add_task("bizh120205 code tables", total=len(lists) if lists else None)

        def advance(name: str, rows: int, total: int) -> None:
            bar.update(task, total=total, advance=1, description=f"bizh120205 {name}: {rows} rows")

        counts = sync(client, store, lists or (), progress=advance)
    console.print(Text(f"synced {sum(counts.values())} code(s) in {len(counts)} list(s) into {mask_dsn(db)}"))


def _bar() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    MofNCompleteColumn(), console=console, transient=True)


@codes_app.command("show")
def show(
    list_name: str = typer.Argument(..., metavar="LIST", help="list name, e.g. bka006"),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One list: the synced values and the spec's, side by side."""
    name = list_name.lower()
    target = context.journal_setting(db)
    synced: list[CodeRow] = []
    if is_postgres(target) or Path(target).is_file():  # reading must not create an empty file
        with CodeStore(target) as store:
            synced = store.rows(name)
    spec_list = CODE_LISTS.get(name)
    if not synced and spec_list is None:
        raise InputError(None, [f"no code list {name!r}: not in spec/codes and not synced in "
                                f"{mask_dsn(target)}"])
    rows = _rows(synced, dict(spec_list.values) if spec_list else {})
    if as_json:
        keys = ("code", "label_province", "label_spec", "centre", "synced_at")
        emit_json({"list": name, "rows": [dict(zip(keys, row, strict=True)) for row in rows]})
        return
    emit_table(_table(name, rows))


def _rows(synced: list[CodeRow], spec_values: dict[str, str]) -> list[tuple[str, ...]]:
    cells = [(r.code, r.label, spec_values.get(r.code, ""), r.center, r.synced_at) for r in synced]
    seen = {row.code for row in synced}
    cells += [(code, "", label, "", "not synced") for code, label in spec_values.items() if code not in seen]
    return sorted(cells)


def _table(name: str, rows: list[tuple[str, ...]]) -> Table:
    meta = CODE_LISTS.get(name)
    state = "" if meta is None else (" (closed)" if meta.closed else " (open)")
    table = Table(title=f"{name} {meta.title if meta else ''}{state}")
    for column in ("code", "label (province)", "label (spec)", "centre", "synced at"):
        table.add_column(column)
    for row_cells in rows:
        table.add_row(*(Text(cell) for cell in row_cells))
    return table
