"""A project's error budget (issue 18): how many error rows an upload may have before the
service fails it at once.

An upload over budget is stored all the same (its rows can be read), with its status
`failed` at once (final, as a reviewer's would be) and the reason in `reviewNote`. Over
means strictly more error rows than `maxErrorRows`, or a strictly larger share of error
rows than `maxErrorRatio`; an empty upload is never over."""

from __future__ import annotations

from service.entities import ErrorBudget, StatusCounts


def overrun(budget: ErrorBudget | None, counts: StatusCounts) -> str | None:
    """Why the counts are over the budget, or None."""
    if budget is None:
        return None
    rows = counts.valid + counts.warning + counts.error
    errors = counts.error
    if budget.max_error_rows is not None and errors > budget.max_error_rows:
        return (
            f"failed at upload: {errors:,} error rows, over the project's error budget of "
            f"{budget.max_error_rows:,} (maxErrorRows)"
        )
    if budget.max_error_ratio is not None and rows and errors / rows > budget.max_error_ratio:
        return (
            f"failed at upload: {errors:,} of {rows:,} rows are errors ({errors / rows:.2%}), "
            f"over the project's error budget of {budget.max_error_ratio:.2%} (maxErrorRatio)"
        )
    return None
