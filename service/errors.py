"""The domain error tree: every failure the service reports on purpose.

    SheetflowError                  base; never raised itself
    ├── NotFound                    the resource does not exist, or is not yours (404)
    ├── Conflict                    the request clashes with current state (409)
    │   ├── InvalidTransition       a review step not allowed from the batch's status
    │   ├── RequestInFlight         a request with the same Idempotency-Key is still running
    │   └── ProjectArchived         an upload into an archived project
    ├── InvalidInput                the request itself is malformed (400)
    ├── Unprocessable               well-formed, but names what is not there or does not fit
    │                               (422; `field` names the request member when known)
    ├── PreconditionFailed          an If-Match that no longer holds: the row changed (412)
    ├── KeyReused                   an Idempotency-Key sent again with a different request (422)
    ├── InvalidSchema               a project schema with problems, one per entry (422)
    ├── Unavailable                 the database cannot be reached now; try again (503)
    ├── Busy                        too many uploads running now; try again later (429)
    └── IngestError                 an uploaded file cannot be ingested; names file/sheet/row
        ├── UnsupportedFormat       not a spreadsheet we read, or not what its extension says (415)
        ├── CorruptFile             the file cannot be parsed (422)
        ├── LimitExceeded           a configured limit was passed (413 size/count, else 422)
        └── SheetNotFound           the requested sheet is not in the workbook (422)

Store functions translate database errors into these by constraint name (and the pool a
failed connection attempt into `Unavailable`); the HTTP layer maps each class to one status
code in one place. Messages are written for the person who sent the request: they say what
was wrong and, where possible, how to fix it.
"""

from __future__ import annotations


class SheetflowError(Exception):
    """Base of every deliberate error. `detail` is safe to show to the client."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(SheetflowError):
    pass


class Conflict(SheetflowError):
    pass


class InvalidTransition(Conflict):
    pass


class RequestInFlight(Conflict):
    pass


class ProjectArchived(Conflict):
    pass


class InvalidInput(SheetflowError):
    pass


class Unprocessable(SheetflowError):
    """A well-formed request that cannot apply to this resource: an unknown key, a value that
    does not fit its column's type. `field` names the request member at fault
    (`where.idade`, `identifierFieldKey`) when there is one."""

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class PreconditionFailed(SheetflowError):
    pass


class KeyReused(SheetflowError):
    pass


class InvalidSchema(SheetflowError):
    """A project schema that cannot be saved: `problems` lists each (where, what is wrong)."""

    def __init__(self, detail: str, problems: list[tuple[str, str]]) -> None:
        super().__init__(detail)
        self.problems = problems


class Unavailable(SheetflowError):
    pass


class Busy(SheetflowError):
    """`limit` names the setting that is full (e.g. `max_ingestions`), `value` is its value."""

    def __init__(self, detail: str, *, limit: str, value: int) -> None:
        super().__init__(detail)
        self.limit = limit
        self.value = value


class IngestError(SheetflowError):
    """A file-level failure. The location fields are `None` where they do not apply."""

    def __init__(
        self,
        detail: str,
        *,
        file: str | None = None,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.file = file
        self.sheet = sheet
        self.row = row
        self.column = column


class UnsupportedFormat(IngestError):
    pass


class CorruptFile(IngestError):
    pass


class SheetNotFound(IngestError):
    pass


class LimitExceeded(IngestError):
    """`limit` names the setting (e.g. `max_rows`), `value` is its configured value."""

    def __init__(self, detail: str, *, limit: str, value: int, **where: str | int | None) -> None:
        super().__init__(detail, **where)  # type: ignore[arg-type]
        self.limit = limit
        self.value = value
