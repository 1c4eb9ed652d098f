"""`gdwi sheet AAZ218 --html out.html [--pdf out.pdf]`: the inpatient settlement sheet (结算单).

Nothing printed here names the patient: the name is on the page, never in a terminal or log.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

from adapter.cli import context
from adapter.cli.handler import ExitCode
from adapter.ops.sheet import FEE_GROUPINGS

__all__ = ["sheet"]

console = Console()
error_console = Console(stderr=True, soft_wrap=True)  # error lines are not wrapped


def sheet(
    aaz218: str = typer.Argument(..., metavar="AAZ218", help="就医登记号 of a settled stay"),
    html: Path = typer.Option(..., "--html", help="write the printable A4 page here"),
    pdf: Path | None = typer.Option(None, "--pdf", help="also print it to PDF (needs Chromium)"),
    png: Path | None = typer.Option(None, "--png", help="also a PNG of the first page (needs Chromium)"),
    fee_list: str = typer.Option("by-name", "--fee-list",
                                 help=f"fee list grouping: {', '.join(FEE_GROUPINGS)} or none"),
) -> None:
    """Render the settlement sheet of a settled stay (bizh120206 + bizh120113); exit 7 if a sum fails."""
    from adapter.ops.codes import CodeTables
    from adapter.ops.sheet import fetch_sheet, print_pdf, render_html, screenshot
    from adapter.wire.client import Client

    if fee_list not in (*FEE_GROUPINGS, "none"):
        raise typer.BadParameter(f"--fee-list must be one of {', '.join(FEE_GROUPINGS)}, none")
    for target in (html, pdf, png):  # before asking the province: a typo must not cost a round trip
        if target is not None and not target.resolve().parent.is_dir():
            raise typer.BadParameter(f"no folder {target.resolve().parent} for {target.name}")
    settings = context.settings()
    with Client(settings) as client:
        data = fetch_sheet(client, aaz218, fee_grouping=None if fee_list == "none" else fee_list)
    tables = CodeTables.from_path(settings.journal_path)  # the last `gdwi codes sync`
    html.write_text(render_html(data, tables=tables), encoding="utf-8")
    for target, make in ((pdf, print_pdf), (png, screenshot)):
        if target is not None:
            make(html, target)
    written = ", ".join(str(p) for p in (html, pdf, png) if p is not None)
    console.print(Text(f"settlement sheet {aaz218}: 总费用 {data.header.sheet_total_cost or '?'}, "
                       f"{len(data.categories)} fee categories, {len(data.fees)} fee-list rows -> {written}"))
    for check in data.failed:
        message = f"MISMATCH {check.what}: province {check.stated}, parts sum to {check.summed}"
        error_console.print(Text(message, style="red"))
    raise typer.Exit(ExitCode.OK if data.ok else ExitCode.DIFFERENCES)
