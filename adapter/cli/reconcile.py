"""`gdwi reconcile --date D --his export.csv`: the day's books on three sides (对账).

Exit 0: all three sides agree. Exit 7: differences (listed). Otherwise the exit code of the
error that made reconciliation impossible (2 unreadable HIS export, 3 settings, 5 unreachable…).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from adapter.cli import context
from adapter.cli.handler import ExitCode
from adapter.ops.reconcile import KINDS, SIDES, Amounts, Report

__all__ = ["reconcile"]

console = Console()
error_console = Console(stderr=True, soft_wrap=True)  # error lines are not wrapped
STYLES = {"unknown_outcome": "yellow", "missing": "red", "amount_mismatch": "red", "inconsistent": "magenta",
          "unverifiable": "yellow"}


def reconcile(
    day: datetime = typer.Option(..., "--date", formats=["%Y-%m-%d"], help="the local day to reconcile"),
    his: Path = typer.Option(..., "--his", exists=True, dir_okay=False, help="the HIS export (CSV)"),
    out: Path | None = typer.Option(None, "--out", help="write the report as CSV"),
    html: Path | None = typer.Option(None, "--html", help="write the report as an HTML page"),
    db: Path | None = typer.Option(None, "--db", help="journal file (default: the `journal` setting)"),
) -> None:
    """Compare the journal, the province and the HIS export for one day; exit 0 only if all agree."""
    from adapter.ops.reconcile import read_his_csv, render_html, write_csv
    from adapter.ops.reconcile import reconcile as run
    from adapter.wire.client import Client
    from adapter.wire.journal import Journal

    export = read_his_csv(his, day.date())
    settings = context.settings()
    journal_path = db or Path(settings.journal_path)
    if not journal_path.is_file():  # reconciling against a new, empty journal would mislead
        raise typer.BadParameter(f"no journal at {journal_path}", param_hint="--db")
    with Journal(journal_path) as journal, Client(settings, journal=journal) as client:
        report = run(journal, client, export, day.date())
    _print(report)
    if out is not None:
        write_csv(report, out)
    if html is not None:
        html.write_text(render_html(report), encoding="utf-8")
    raise typer.Exit(ExitCode.OK if report.ok else ExitCode.DIFFERENCES)


def _print(report: Report) -> None:
    findings = Table(title=f"对账 {report.day.isoformat()}: {len(report.findings)} difference(s)",
                     caption="amounts: the day's net, total (个人 / 基金)")
    for column in ("#", "finding", "kind", "aaz218", "bka001", "journal", "province", "HIS", "detail"):
        findings.add_column(column, overflow="fold")  # fold, never cut: a cut serial number misleads
    for number, f in enumerate(report.findings, start=1):
        cells = (str(number), f.category, f.kind, f.aaz218, f.bka001, _shown(f.journal), _shown(f.province),
                 _shown(f.his), f.detail)
        findings.add_row(*(Text(cell) for cell in cells), style=STYLES.get(f.category))
    console.print(findings)
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
