"""The transaction journal (see core.py): the public names, whatever the backend."""

from adapter.errors import JournalError
from adapter.wire.journal.core import (
    BODY_LIMIT,
    KINDS,
    Entry,
    Journal,
    NodeRow,
    Owner,
    Status,
    integrity_problems,
    open_journal,
    process_started,
)

__all__ = ["BODY_LIMIT", "KINDS", "Entry", "Journal", "JournalError", "NodeRow", "Owner", "Status",
           "integrity_problems", "open_journal", "process_started"]
