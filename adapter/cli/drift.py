"""`gdwi spec drift`: how the province's answers differ from spec/, from the journal's deviations.

    gdwi spec drift [--since 2026-11-01] [--json] [--db journal.sqlite]

One row per function, field and kind: how often, first and last seen (local time), masked samples,
and the spec edit that would make spec/ match the platform (adapter.ops.drift). Samples were masked
when they were recorded; they are scrubbed again here for the screen.
"""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table
from rich.text import Text

from adapter.cli import context
from adapter.cli.output import JSON_HELP, emit_json, emit_table, stdout_console
from adapter.ops.drift import SAMPLES_SHOWN, DriftItem, summarise
from adapter.wire.journal import open_journal
from adapter.wire.masking import scrub

__all__ = ["drift"]


def drift(
    since: datetime | None = typer.Option(
        None, "--since", formats=["%Y-%m-%d"], help="from this local day on"
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    db: str | None = typer.Option(None, "--db", help="journal file or postgresql:// URL "
                                  "[default: the `journal` setting]"),
) -> None:
    """Summarise the answers' deviations from spec/ per function and field, with proposed spec edits."""
    target = context.existing_journal(db)  # a report must not create an empty journal by mistake
    start = since.astimezone() if since is not None else None  # a local day, as the journal commands
    with open_journal(target) as journal:
        recorded = journal.deviations(since=start)
        institution = context.OPTIONS.institution  # gdwi --institution CODE spec drift
        if institution is not None:
            entries = {entry_id: journal.get(entry_id) for entry_id in {item[1] for item in recorded}}
            recorded = [item for item in recorded
                        if (entry := entries[item[1]]) is not None and entry.institution == institution]
        items = summarise(recorded)
    if as_json:
        emit_json([item.as_json() for item in items])
        return
    if not items:
        stdout_console().print(f"no deviations recorded{_since_text(since)}: the answers match spec/")
        return
    emit_table(_table(items, since))


def _since_text(since: datetime | None) -> str:
    return f" since {since:%Y-%m-%d}" if since is not None else ""


def _table(items: list[DriftItem], since: datetime | None) -> Table:
    total = sum(item.count for item in items)
    table = Table(title=f"spec drift: {total} deviation(s) in {len(items)} group(s){_since_text(since)}")
    for column in ("function", "field", "kind", "count", "first seen", "last seen", "samples", "proposal"):
        table.add_column(column, overflow="fold")
    for item in items:
        samples = ", ".join(f"{value} ×{n}" for value, n in item.samples.most_common(SAMPLES_SHOWN))
        table.add_row(
            item.function_id, Text(item.label), str(item.kind), str(item.count), _local(item.first_seen),
            _local(item.last_seen), Text(scrub(samples)), Text(scrub(item.proposal())),
        )
    return table


def _local(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment is not None else ""
