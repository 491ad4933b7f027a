"""Column keys and cell addresses: how a header becomes the JSON key of its column.

`normalize_key` is spec §4.3 to the letter: NFKC, trim, accents removed, lowercase, every
run of characters outside `[a-z0-9]` becomes one `_`, leading/trailing `_` dropped. A header
that normalizes to nothing becomes `column_<letter>` after its spreadsheet column, and
`KeyAllocator` makes the keys of one sheet unique with `_2`, `_3`… in column order.
Addresses are A1-style (`B2`): columns are 0-based internally, rows are the real 1-based
row numbers a spreadsheet shows.
"""

from __future__ import annotations

import re
import unicodedata

_OUTSIDE_KEY_ALPHABET = re.compile(r"[^a-z0-9]+")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def column_letter(column: int) -> str:
    """Spreadsheet letters of a 0-based column index: 0 → `A`, 27 → `AB`."""
    letters = ""
    number = column + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = _LETTERS[remainder] + letters
    return letters


def column_index(letters: str) -> int:
    """0-based column index of spreadsheet letters: `A` → 0, `XFD` → 16383."""
    number = 0
    for letter in letters:
        number = number * 26 + (ord(letter) - 64)
    return number - 1


def cell_address(row: int, column: int) -> str:
    """A1 address of a 1-based row and a 0-based column."""
    return f"{column_letter(column)}{row}"


def normalize_key(header: str) -> str:
    """The key of a header, or `""` when nothing of it survives (the caller names it)."""
    text = unicodedata.normalize("NFKC", header).strip()
    if not text.isascii():
        decomposed = unicodedata.normalize("NFD", text)
        text = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _OUTSIDE_KEY_ALPHABET.sub("_", text.lower()).strip("_")


class KeyAllocator:
    """Hands out unique keys for the headers of one sheet, in column order."""

    __slots__ = ("_taken",)

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def allocate(self, header: str, column: int) -> str:
        base = normalize_key(header) or f"column_{column_letter(column).lower()}"
        key = base
        suffix = 2
        while key in self._taken:
            key = f"{base}_{suffix}"
            suffix += 1
        self._taken.add(key)
        return key


def jsonb_order(keys: list[str]) -> list[int]:
    """The indexes of `keys` in the order jsonb keeps an object's keys: shorter first (in
    UTF-8 bytes), then bytewise. A row's data written in that order is stored as sent;
    written in column order, PostgreSQL sorts every row's keys (5 % of a COPY's CPU for 12
    columns, bench/README.md)."""
    encoded = [key.encode() for key in keys]
    return sorted(range(len(keys)), key=lambda index: (len(encoded[index]), encoded[index]))


def split_address(address: str) -> tuple[int, int]:
    """(1-based row, 0-based column) of an A1 address."""
    letters = len(address) - len(address.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    return int(address[letters:]), column_index(address[:letters])
