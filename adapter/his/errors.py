"""What the HIS workflows raise beyond the client's own errors (adapter.errors).

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

from decimal import Decimal

from adapter.errors import GdwiError

__all__ = [
    "AmountMismatch",
    "Compensated",
    "CompensationFailed",
    "FeeUploadFailed",
    "HisWorkflowError",
]


def describe(error: BaseException) -> str:
    """A gdwi error's own message (written to be safe), or only the type name of anything else."""
    return f"{type(error).__name__}: {error}" if isinstance(error, GdwiError) else type(error).__name__


class HisWorkflowError(GdwiError):
    """Base of the errors of adapter.his workflows."""


class Compensated(HisWorkflowError):
    """A step failed after the province accepted an earlier one, and the province side was undone.

    `original` is the failure (the HIS commit's exception, or the province's refusal of a later
    fee chunk); `compensations` the reversal function ids sent, in order, all accepted.
    """

    def __init__(
        self, what: str, visit_no: str, original: BaseException, compensations: tuple[str, ...],
    ) -> None:
        self.what = what
        self.visit_no = visit_no
        self.original = original
        self.compensations = compensations
        undone = ", ".join(compensations) or "nothing to undo"
        super().__init__(f"{what} for 就医登记号 {visit_no} failed ({describe(original)}); "
                         f"undone at the province: {undone}")


class FeeUploadFailed(Compensated):
    """A fee chunk failed after `uploaded_rows` of `total_rows` were saved; bizh120004 then deleted
    every fee row of the stay (earlier uploads included): upload the stay's whole list again."""

    def __init__(
        self, visit_no: str, original: BaseException, compensations: tuple[str, ...],
        uploaded_rows: int, total_rows: int,
    ) -> None:
        self.uploaded_rows = uploaded_rows
        self.total_rows = total_rows
        what = f"fee upload (chunk after {uploaded_rows} of {total_rows} rows)"
        super().__init__(what, visit_no, original, compensations)


class CompensationFailed(HisWorkflowError):
    """A step failed and undoing it failed too: the province still holds what was not undone.

    `original` is the first failure, `compensation_error` the reversal's, `failed_function_id`
    the reversal that failed and `completed` the reversals that succeeded before it. Both calls
    are in the journal; resolve by hand (or with `gdwi journal recover` when the reversal's
    outcome is unknown).
    """

    def __init__(
        self, what: str, visit_no: str, original: BaseException, failed_function_id: str,
        compensation_error: BaseException, completed: tuple[str, ...],
    ) -> None:
        self.what = what
        self.visit_no = visit_no
        self.original = original
        self.failed_function_id = failed_function_id
        self.compensation_error = compensation_error
        self.completed = completed
        done = f" after {', '.join(completed)} succeeded" if completed else ""
        super().__init__(
            f"{what} for 就医登记号 {visit_no} failed ({describe(original)}) and its compensation "
            f"{failed_function_id} failed too{done} ({describe(compensation_error)}); the province "
            "still holds the rest: see the journal"
        )


class AmountMismatch(HisWorkflowError):
    """The province's trial total (医疗总费用) is not the sum of the HIS's fee amounts: nothing was
    committed, because books that do not match (差账) are the users' loudest complaint."""

    def __init__(self, visit_no: str, his_total: Decimal, province_total: Decimal) -> None:
        self.visit_no = visit_no
        self.his_total = his_total
        self.province_total = province_total
        super().__init__(f"就医登记号 {visit_no}: the province's trial total akc264 {province_total} is not "
                         f"the HIS's fee sum {his_total}; nothing was committed")
