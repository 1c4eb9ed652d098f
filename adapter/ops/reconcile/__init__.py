"""Reconciliation (对账) of one day: our journal, the province and the HIS, business by business.

The users' loudest complaint is books that do not match (差账): registrations the province never
received, refunds on one side only, totals 61.0 apart, "mysteriously fine again". This module
puts the three sides next to each other for one day and lists every difference; `gdwi reconcile`
exits 0 only when there is none. The three sides (details in docs/reconciliation.md):

  journal   `ok` state-changing entries of the day: registrations/admissions (bizh110104 /
            bizh120103), cancellations (bizh110106 / bizh120109), outpatient charges and refunds
            (bizh110105 with bka893=1: payinfo akc264 / bka831 / bka832 per batch bka001),
            inpatient settlements (bizh120106) and their cancellations (bizh120107, which
            reverse the stay's journalled settlement). Entries still `unknown` or `pending` are
            differences of their own: nobody knows yet what the province did.
  province  asked per business, because the interface has no "list the day" transaction:
            outpatient bizh110102 (is the registration live, bka891 charged?) and bizh110103
            with bka001=0 (the rows of every charge not refunded: the visit's open balance);
            inpatient bizh120102 (live? bka891 settled, bka045 on which day?) and bizh120206
            (bka979 总费用 / bka812 个人 / bka811 工伤保险 of the settlement).
  HIS       the HIS's export of the day, a CSV file (read_his_csv, docs/reconciliation.md).

The businesses compared are those the journal or the HIS names for the day. The journal writes
every request down before sending it, so a business the province holds but neither knows about
can only come from another system using our institution code; the reconciliation cannot see it.
bizh410004 (累计查询) is not used: it gives one person's year-to-date totals, not a day's.

Both the journalled answers and the province's are read as the generated typed models (Decimal
amounts, whole-number batches); the queries go out on the client's typed path.

The layers, one module each: `journal_side` (our journal), `his_export` (the HIS's CSV),
`province` (the read-only queries), `compare` (one business on the three sides), `report` (the
day, its totals, CSV and HTML); `amounts` is the money they share.
"""

from adapter.errors import HisExportError
from adapter.ops.reconcile.amounts import Amounts
from adapter.ops.reconcile.compare import Finding
from adapter.ops.reconcile.his_export import HIS_COLUMNS, KINDS, HisExport, HisRow, read_his_csv
from adapter.ops.reconcile.journal_side import read_journal
from adapter.ops.reconcile.report import SIDES, Report, csv_rows, reconcile, render_html, write_csv

__all__ = [
    "HIS_COLUMNS",
    "KINDS",
    "SIDES",
    "Amounts",
    "Finding",
    "HisExport",
    "HisExportError",
    "HisRow",
    "Report",
    "csv_rows",
    "read_his_csv",
    "read_journal",
    "reconcile",
    "render_html",
    "write_csv",
]
