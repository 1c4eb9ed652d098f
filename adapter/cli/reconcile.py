"""`gdwi reconcile --date D --his export.csv`: the day's books on three sides (对账).

Exit 0: all three sides agree. Exit 7: differences (listed). Otherwise the exit code of the
error that made reconciliation impossible (2 unreadable HIS export, 3 settings, 5 unreachable…).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from adapter.cli import context
from adapter.cli.handler import ExitCode
from adapter.cli.output import JSON_HELP, emit_json, emit_table, stdout_console
from adapter.ops.reconcile import KINDS, SIDES, Amounts, Finding, Report

__all__ = ["reconcile"]

console = stdout_console()
error_console = Console(stderr=True, soft_wrap=True)  # error lines are not wrapped
STYLES = {"unknown_outcome": "yellow", "missing": "red", "amount_mismatch": "red", "inconsistent": "magenta",
          "unverifiable": "yellow"}


def reconcile(
    day: datetime = typer.Option(..., "--date", formats=["%Y-%m-%d"], help="the local day to reconcile"),
    his: Path = typer.Option(..., "--his", exists=True, dir_okay=False, help="the HIS export (CSV)"),
    out: Path | None = typer.Option(None, "--out", help="write the report as CSV"),
    html: Path | None = typer.Option(None, "--html", help="write the report as an HTML page"),
    db: str | None = typer.Option(None, "--db", help="journal file or postgresql:// URL (default: the "
                                  "`journal` setting)"),
    encoding: str | None = typer.Option(None, "--encoding", help="the export's encoding (default: detected: "
                                        "UTF-8 with or without BOM, else GBK/GB18030)"),
    every: bool = typer.Option(False, "--all", help="also list the businesses where all sides agree"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Compare the journal, the province and the HIS export for one day; exit 0 only if all agree."""
    from adapter.ops.reconcile import read_his_csv, render_html, write_csv
    from adapter.ops.reconcile import reconcile as run
    from adapter.wire.client import Client
    from adapter.wire.database import is_postgres
    from adapter.wire.journal import open_journal

    export = read_his_csv(his, day.date(), encoding)
    settings = context.settings()
    journal_path = str(db or settings.journal_path)
    if not is_postgres(journal_path) and not Path(journal_path).is_file():
        # reconciling against a new, empty journal would mislead
        raise typer.BadParameter(f"no journal at {journal_path}", param_hint="--db")
    with open_journal(journal_path) as journal, Client(settings, journal=journal) as client, _bar() as bar:
        task = bar.add_task("asking the province", total=None)
        report = run(journal, client, export, day.date(), institution=context.OPTIONS.institution,
                     progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        emit_json(_as_json(report, export.encoding, every))
    else:
        _print(report, every)
        if export.encoding not in ("utf-8", "utf-8-sig"):
            console.print(Text(f"note: the HIS export was read as {export.encoding.upper()}", style="dim"))
    if out is not None:
        write_csv(report, out)
    if html is not None:
        html.write_text(render_html(report), encoding="utf-8")
    raise typer.Exit(ExitCode.OK if report.ok else ExitCode.DIFFERENCES)


def _bar() -> Progress:
    """A progress bar on stderr, only on a terminal (a pipe gets no bar lines)."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty())


def _as_json(report: Report, encoding: str, every: bool) -> dict[str, Any]:
    def row(f: Finding) -> dict[str, Any]:
        return {"finding": f.category, "kind": f.kind, "aaz218": f.aaz218, "bka001": f.bka001 or None,
                "journal": _shown(f.journal) or None, "province": _shown(f.province) or None,
                "his": _shown(f.his) or None, "detail": f.detail}

    return {"day": report.day.isoformat(), "ok": report.ok, "businesses": report.businesses,
            "his_rows": report.his_rows, "his_other_days": report.his_other_days, "his_encoding": encoding,
            "differences": [row(f) for f in report.findings],
            **({"agreed": [row(f) for f in report.agreed]} if every else {}),
            "totals": {side: {scope: _shown(v) or None for scope, v in per.items()}
                       for side, per in report.totals.items()},
            "notes": report.notes}


def _findings_table(title: str, rows: list[Finding]) -> Table:
    table = Table(title=title, caption="amounts: the day's net, total (个人 / 基金)")
    for column in ("#", "finding", "kind", "aaz218", "bka001", "journal", "province", "HIS"):
        table.add_column(column, no_wrap=True)  # never cut or folded: a cut serial number misleads
    table.add_column("detail", overflow="fold")
    for number, f in enumerate(rows, start=1):
        cells = (str(number), f.category, f.kind, f.aaz218, f.bka001, _shown(f.journal), _shown(f.province),
                 _shown(f.his), f.detail)
        table.add_row(*(Text(cell) for cell in cells), style=STYLES.get(f.category))
    return table


def _print(report: Report, every: bool) -> None:
    emit_table(_findings_table(f"对账 {report.day.isoformat()}: {len(report.findings)} difference(s)",
                               report.findings), console)
    if every and report.agreed:
        emit_table(_findings_table(f"{len(report.agreed)} business(es) where all sides agree", report.agreed),
                   console)
    elif report.agreed:
        console.print(Text(f"{len(report.agreed)} business(es) agree on all sides (--all lists them)",
                           style="dim"))
    totals = Table(title="day totals (net: total (个人 / 基金))")
    totals.add_column("side")
    for scope in (*KINDS, "all"):
        totals.add_column(scope, justify="right")
    for side in SIDES:
        totals.add_row(side, *(_shown(report.totals[side][scope]) or "—" for scope in (*KINDS, "all")))
    console.print(totals)
    for note in report.notes:
        console.print(Text(f"note: {note}", style="dim"))
    if report.his_other_days:
        console.print(Text(f"{report.his_other_days} HIS row(s) of other days left out", style="dim"))
    verdict = "all three sides agree" if report.ok else f"{len(report.findings)} difference(s)"
    console.print(Text(verdict, style="bold green" if report.ok else "bold red"))


def _shown(amounts: Amounts | None) -> str:
    return "" if amounts is None else amounts.text()
