"""What the HIS workflows raise beyond the client's own errors; defined in adapter.errors.

    GdwiError
      HisWorkflowError        base of this module's errors
        Compensated           a later step failed; the province's side was undone (交易补偿 done)
          FeeUploadFailed     a fee chunk failed after earlier chunks were saved; all fees deleted
        CompensationFailed    ... and the undoing failed too: the province still holds the step
        AmountMismatch        the province's trial total differs from the HIS's fee sum

The client's errors pass through unchanged: BusinessError (the province said no: nothing to
undo), InputError (refused before sending), OutcomeUnknownError (sent, no answer: never
compensated blindly; the journal entry stays `unknown` for `gdwi journal recover`).

Messages carry function ids, 就医登记号 and error type names. The text of a HIS exception is not
copied into them (it may name the patient); it stays reachable as `.original`.
"""

from __future__ import annotations

from adapter.errors import (
    AmountMismatch,
    Compensated,
    CompensationFailed,
    FeeUploadFailed,
    HisWorkflowError,
)
from adapter.errors import describe_error as describe

__all__ = [
    "AmountMismatch",
    "Compensated",
    "CompensationFailed",
    "FeeUploadFailed",
    "HisWorkflowError",
    "describe",
]
