"""`gdwi journal`: read the transaction journal, and settle unknown outcomes. Values are masked.

XML bodies go through `mask_xml_text` (PII by registry class, password removed, ID-like runs
scrubbed); every other value through `scrub`. Messages are scrubbed rather than masked whole:
they are what an operator needs to diagnose a refusal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from adapter.cli import context
from adapter.cli.handler import ExitCode
from adapter.cli.output import JSON_HELP, emit_json, emit_table, message_console
from adapter.errors import InputError
from adapter.wire.database import is_postgres, mask_dsn
from adapter.wire.journal import Entry, Journal, Status, integrity_problems, open_journal
from adapter.wire.masking import mask_xml_text, scrub

__all__ = ["journal_app"]

journal_app = typer.Typer(
    help="Read the transaction journal (values masked); settle unknown outcomes", no_args_is_help=True
)
# Lines are not folded at 80 columns when piped (a URL or a path would be cut in two).
console = message_console()
error_console = message_console(stderr=True)

DEFAULT_JOURNAL = "gdwi-journal.sqlite"
_DB_HELP = (f"journal file or postgresql:// URL [default: the `journal` setting, else "
            f"./{DEFAULT_JOURNAL}]")


def _open(db: str | Path | None) -> Journal:
    """Open an existing journal; a read command must not create an empty one by mistake."""
    return open_journal(context.existing_journal(db))


@journal_app.command("check")
def check(db: str | None = typer.Option(None, "--db", help=_DB_HELP)) -> None:
    """SQLite's full integrity check of the journal file (read-only). Exit 0 when sound, 3 if not.

    The client runs the quick form of this check whenever it opens the journal and refuses to
    send while it fails; this tells what is wrong.
    """
    target = context.journal_setting(db)
    if is_postgres(target):
        with open_journal(target) as journal:  # opening checks the connection and the schema
            said = (f"journal {journal.location}: ok (PostgreSQL: the server keeps its own integrity; "
                    "this checked the connection and the schema version)")
            console.print(Text(said), soft_wrap=True)
        return
    path = Path(target)
    problems = integrity_problems(path)
    if not problems:
        console.print(Text(f"journal {path}: ok (integrity_check)"))
        return
    error_console.print(Text(f"journal {path}: {len(problems)} problem(s) found"))
    for line in problems:
        error_console.print(Text(f"  {line}"))
    error_console.print(Text("Restore the file from a backup, or keep it aside and start a new journal "
                             "once every entry in it is settled."))
    raise typer.Exit(ExitCode.CONFIG)


def _shown(value: object) -> Text:
    """A table cell: scrubbed, and as plain Text so brackets in data are not rich markup."""
    return Text("" if value is None else scrub(str(value)))


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _duration(entry: Entry) -> str:
    return "" if entry.duration_ms is None else f"{entry.duration_ms:.0f}"


@journal_app.command("list")
def list_entries(
    date: datetime | None = typer.Option(None, "--date", formats=["%Y-%m-%d"], help="local day"),
    function: str | None = typer.Option(None, "--function", help="function_id, e.g. bizh120002"),
    status: Status | None = typer.Option(None, "--status", help="entry status"),
    aaz218: str | None = typer.Option(None, "--aaz218", help="business serial number"),
    institution: str | None = typer.Option(None, "--institution", help="akb020 the entries were sent for"),
    limit: int = typer.Option(100, "--limit", min=1, help="at most this many, newest first"),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Journal entries, newest first (of one institution: --institution, or `gdwi --institution`)."""
    with _open(db) as journal:
        entries = journal.list(
            day=date.date() if date else None,
            function_id=function,
            status=status,
            aaz218=aaz218,
            institution=institution or context.OPTIONS.institution,  # or gdwi --institution CODE …
            limit=limit,
        )
    if as_json:
        emit_json([_as_json(entry) for entry in entries])
        return
    table = Table(title=f"journal: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}")
    # Entries of several hospitals (a group's journal) would mix unseen: then each says whose it is.
    several = len({entry.institution for entry in entries}) > 1
    whose_column = ["institution"] if several else []
    for column in ("id", "time", *whose_column, "function", "status", "code", "aaz218"):
        table.add_column(column, no_wrap=True)  # never cut or folded: a cut serial number misleads
    for column in ("his_ref", "message"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        whose = [entry.institution] if several else []
        cells = (entry.id, _local(entry.created_at), *whose, entry.function_id, entry.status,
                 entry.return_code, entry.aaz218, entry.his_ref, entry.message)
        table.add_row(*map(_shown, cells))
    emit_table(table)


def _as_json(entry: Entry, *, bodies: bool = False) -> dict[str, object]:
    """An entry for scripts: the summary's fields (masked like the table), XML bodies on request."""
    data: dict[str, object] = {"id": entry.id}
    for name, value in _summary(entry):
        data[name] = None if value in (None, "") else scrub(str(value))
    data["duration_ms"] = None if entry.duration_ms is None else round(entry.duration_ms, 1)  # a number
    data["created"], data["updated"] = entry.created_at.isoformat(), entry.updated_at.isoformat()
    if bodies:
        data["request_xml"] = mask_xml_text(entry.request_xml) if entry.request_xml else None
        data["response_xml"] = mask_xml_text(entry.response_xml) if entry.response_xml else None
    return data


@journal_app.command("show")
def show(
    entry_id: int = typer.Argument(..., metavar="ID", help="journal entry id"),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """One entry: its fields, then its request and response XML (masked)."""
    with _open(db) as journal:
        entry = journal.get(entry_id)
    if entry is None:
        raise InputError(None, [f"no journal entry {entry_id} in {mask_dsn(context.journal_setting(db))}"])
    if as_json:
        emit_json(_as_json(entry, bodies=True))
        return
    table = Table(title=f"journal entry {entry.id}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    for name, value in _summary(entry):
        table.add_row(Text(name), _shown(value))
    emit_table(table)
    for title, xml in (("request", entry.request_xml), ("response", entry.response_xml)):
        console.print(Text(title, style="bold"))
        # soft_wrap: long lines are not cut, so what is shown can be copied back as XML
        console.print(Text(mask_xml_text(xml) if xml else "(none)"), soft_wrap=True)


def _summary(entry: Entry) -> list[tuple[str, object]]:
    return [
        ("created", _local(entry.created_at)),
        ("updated", _local(entry.updated_at)),
        ("function", entry.function_id),
        ("kind", entry.kind),
        ("status", entry.status),
        ("return_code", entry.return_code),
        ("message", entry.message),
        ("akb020", entry.akb020),
        ("institution", entry.institution),
        ("aaz218", entry.aaz218),
        ("his_ref", entry.his_ref),
        ("duration_ms", _duration(entry)),
    ]


@journal_app.command("recover")
def recover_entries(
    stale_after: int = typer.Option(
        10, "--stale-after", min=1,
        help="minutes after which a pending entry of another host counts as abandoned (entries of this "
             "host are taken as soon as their process is gone, never while it runs)"
    ),
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Settle every unknown (and stale pending) entry by asking the province; never resends.

    Settings as for `gdwi call`. Exit 0 when nothing is left unknown, 6 when some entry could
    not be settled (the table says why), 3 on missing settings.
    """
    from adapter.ops.recovery import recover
    from adapter.wire.client import Client  # here, not at the top: `journal list` stays light

    settings = context.settings()
    with _open(db or settings.journal_path) as journal, Client(settings, journal=journal) as client:
        results = recover(client, stale_pending_after=timedelta(minutes=stale_after))
    table = Table(title=f"journal recover: {len(results)} entr{'y' if len(results) == 1 else 'ies'}")
    for column in ("id", "function", "before", "after", "how"):
        table.add_column(column, overflow="fold")
    for result in results:
        cells = (result.entry_id, result.function_id, result.before, result.after, result.how)
        table.add_row(*map(_shown, cells))
    console.print(table)
    left = any(result.after == Status.UNKNOWN for result in results)
    raise typer.Exit(ExitCode.OUTCOME_UNKNOWN if left else ExitCode.OK)


@journal_app.command("migrate")
def migrate(
    to: str = typer.Option(..., "--to", help="postgresql:// URL of the new journal (its password best in "
                                               "PGPASSWORD or ~/.pgpass)"),
    db: str | None = typer.Option(None, "--db", help="the SQLite journal to copy [default: the `journal` "
                                                     "setting]"),
    force: bool = typer.Option(False, "--force", help="replace the entries the target already holds of this "
                                                      "journal's institution(s); never another's"),
    group: bool | None = typer.Option(
        None, "--group/--no-group",
        help="the target is served by a group gateway (institutions declared): store the Idempotency-Keys "
             "under the institution's code [default: when the target holds another institution's entries]"),
    id_map: Path | None = typer.Option(
        None, "--id-map", help="when appended: write `old_id,new_id` lines to this file (for references "
                               "held elsewhere)"),
) -> None:
    """Copy a SQLite journal (entries, deviations, code tables, Idempotency-Keys) into PostgreSQL.

    One transaction: the target holds the whole copy or nothing. Into an empty target the ids are
    kept; into a group's journal holding other institutions' entries they are appended with new
    ids. A target already holding entries of the same institution(s) is refused (a second copy)
    unless --force, which replaces exactly those. Then set `journal` to the URL; the file stays.
    """
    from adapter.ops.transfer import copy_journal

    source = context.existing_journal(db)
    copied = copy_journal(source, to, force=force, group=group)
    of = f" of {', '.join(copied.institutions)}" if copied.institutions else ""
    if copied.replaced:
        console.print(Text(f"--force: deleted the {copied.replaced} entries{of} that {mask_dsn(to)} held "
                           "(no other institution's)"), soft_wrap=True)
    keys = f"{copied.keys} Idempotency-Keys{' scoped by institution' if copied.keys_scoped else ''}"
    whose = f" ({', '.join(copied.institutions)})" if copied.institutions else ""
    console.print(Text(f"copied {copied.entries} entries, {copied.deviations} deviations, {copied.code_rows} "
                       f"code-table rows, {keys} from {source}{whose} into {mask_dsn(to)}"), soft_wrap=True)
    if copied.appended and copied.new_ids:
        olds, news = sorted(copied.new_ids), sorted(copied.new_ids.values())
        console.print(Text(f"appended after the other institutions' entries: ids {olds[0]}–{olds[-1]} are "
                           f"now {news[0]}–{news[-1]} (same order)"), soft_wrap=True)
        if id_map is not None:
            id_map.write_text("".join(f"{old},{new}\n" for old, new in sorted(copied.new_ids.items())),
                              encoding="utf-8")
            console.print(Text(f"old and new ids: {id_map}"), soft_wrap=True)
    if copied.unresolved:
        console.print(Text(f"{copied.unresolved} of them pending or unknown: stop every process writing to "
                           f"{source}, set `journal` to the new URL and run `gdwi journal recover`"))


@journal_app.command("nodes")
def nodes(
    db: str | None = typer.Option(None, "--db", help=_DB_HELP),
    dead_after: float | None = typer.Option(
        None, "--dead-after", min=0.1,
        help="seconds of silence after which a node counts as dead, for nodes that did not say theirs "
             "[default: the gateway's --dead-after default]"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Gateway nodes: alive, stopped (said goodbye) or dead (silent past its dead-after), with their
    last heart-beat; on PostgreSQL also the shared sys0001 session of each institution (its id
    shown by the first 4 characters only)."""
    from adapter.ops.nodes import NodeTiming
    from adapter.wire.database import connect
    from adapter.wire.session_table import SessionTable, shown

    limit = dead_after or NodeTiming.dead_after
    target = context.existing_journal(db)
    with open_journal(target) as journal:
        rows = journal.node_rows()
    if not is_postgres(target) and not rows:
        said = ("no nodes: nodes (several `gdwi gateway serve` sharing a journal, with heart-beats) "
                "exist only with a PostgreSQL journal; this one is a SQLite file")
        if as_json:
            emit_json({"nodes": [], "sessions": [], "note": said})
        else:
            console.print(Text(said), soft_wrap=True)
        return
    sessions = []
    if is_postgres(target):
        table = SessionTable(connect(target), "viewer")
        try:
            sessions = table.rows()
        finally:
            table.close()
    now = datetime.now().astimezone()
    states = [(row, row.state(now, limit), row.dead_after_s or limit) for row in rows]
    if as_json:
        emit_json({"nodes": [{"node": row.node, "state": state, "last_beat": row.last_beat.isoformat(),
                              "stopped_at": row.stopped_at.isoformat() if row.stopped_at else None,
                              "dead_after_s": after} for row, state, after in states],
                   "sessions": [{"institution": row.institution, "session_id": shown(row.session_id),
                                 "expires_at": row.expires_at.isoformat(), "node": row.node,
                                 "logged_in_at": row.logged_in_at.isoformat(), "logins": row.logins}
                                for row in sessions]})
        return
    table_view = Table(title=f"nodes: {len(rows)}")
    for column in ("node", "state", "last heart-beat", "silent for", "dead after"):
        table_view.add_column(column, no_wrap=True)
    for node_row, state, after in states:
        silent = f"{(now - node_row.last_beat).total_seconds():.0f} s"
        cells = (node_row.node, state, _local(node_row.last_beat), silent, f"{after:g} s")
        table_view.add_row(*map(Text, cells))
    emit_table(table_view)
    if sessions:
        logins = Table(title="shared sys0001 sessions")
        for column in ("institution", "session", "expires", "logged in by", "at", "logins"):
            logins.add_column(column, no_wrap=True)
        for row in sessions:
            logins.add_row(*map(Text, (row.institution, shown(row.session_id), _local(row.expires_at),
                                       row.node or "", _local(row.logged_in_at), str(row.logins))))
        emit_table(logins)
