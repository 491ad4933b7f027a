"""Matching a file's columns to a project schema's fields (issue 18, item 2).

Pure: no database, no HTTP. `match_columns` takes the columns of one sheet, in column order, as
(original header, normalized key), the schema's fields, the upload's explicit `mapping` and the
mapping remembered from the last completed batch with the same header fingerprint, and answers
one `ColumnMatch` per column, in column order. The order of precedence:

    explicit   the upload's `mapping` (source header or key → field key, or null): overrides all
    saved      the remembered mapping (normalized source key → field key, or null)
    key        the column's key equals a field's key
    alias      the column's key equals a field's label or one of its aliases, normalized as keys
    fuzzy      the best similarity above `FUZZY_THRESHOLD` (tests/ingest/test_matching.py)

The remembered mapping comes right after the explicit one, before the automatic matches: it is
what a reviewer accepted (explicit corrections included), so letting a fuzzy guess override it
would redo the mistake the reviewer corrected. A saved entry whose field is no longer in the
schema is ignored (the column falls through to the automatic matches); a saved `null` (a
column left unmapped on purpose) is kept. `remembered` gives what a batch's matching leaves to
be remembered: the columns decided by someone (explicit or saved) or matched automatically, not
the ones nothing matched, so that a field added to the schema later can still take them.

Automatic matches are assigned greedily, best first (key, then alias, then fuzzy; higher
confidence first; then column order), each field to at most one column; a column that loses its
field to a better one takes its next free candidate or stays unmapped. Explicit mappings are the
client's word: two columns explicitly mapped to one field is a refusal naming both, as is a
mapping to a field the schema does not have. An explicit entry that names no column of the file
is ignored, so that one mapping file can serve a feed whose files do not all have every column.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal, Protocol

import msgspec
from rapidfuzz import fuzz

from service import errors
from service.ingest.keys import normalize_key

MatchedBy = Literal["explicit", "saved", "key", "alias", "fuzzy"]

MAX_ALTERNATIVES = 3
"""How many other candidate fields a column's match lists, best first."""


FUZZY_THRESHOLD = 0.85
"""The least similarity a fuzzy match needs to be applied: the header-variant table in
tests/ingest/test_matching.py has no false match at or above it (see its docstring)."""

FUZZY_FLOOR = 0.6
"""The least similarity a fuzzy candidate needs to be listed as an alternative (not applied)."""

MIN_FUZZY_LENGTH = 4
"""Keys shorter than this only match exactly: one letter off in `uf` or `cpf` is another
thing entirely."""


class MatchableField(Protocol):
    """What matching reads of a schema field."""

    @property
    def key(self) -> str: ...

    @property
    def label(self) -> str | None: ...

    @property
    def aliases(self) -> Sequence[str] | None: ...


class Alternative(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    matched_by: MatchedBy
    confidence: float


class ColumnMatch(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    """The column's original header."""
    key: str
    """The column's normalized source key."""
    target_field: str | None
    matched_by: MatchedBy | None
    """How the target was chosen. `explicit` or `saved` with no target: the column was left
    unmapped on purpose; `None`: nothing matched it."""
    confidence: float | None
    """1.0 for explicit, saved, key and alias matches; the similarity for fuzzy ones; `None`
    when nothing matched."""
    alternatives: tuple[Alternative, ...] = ()
    """Other fields considered for this column, best first (at most `MAX_ALTERNATIVES`)."""


def header_fingerprint(keys: Iterable[str]) -> str:
    """The fingerprint of a header: SHA-256 of the set of normalized source keys (sorted,
    one per line), so the same columns in another order or repeated give the same print."""
    text = "\n".join(sorted(set(keys)))
    return hashlib.sha256(text.encode()).hexdigest()


class _Candidate(msgspec.Struct, frozen=True):
    rank: int
    confidence: float
    column: int
    field: str
    matched_by: MatchedBy


_RANK: dict[MatchedBy, int] = {"explicit": 0, "saved": 1, "key": 2, "alias": 3, "fuzzy": 4}


def _field_names(field: MatchableField) -> set[str]:
    """The keys a column may have to match `field` by alias: its label and its aliases."""
    names = {normalize_key(field.label or "")}
    names.update(normalize_key(alias) for alias in field.aliases or ())
    names.discard("")
    names.discard(field.key)
    return names


CONNECTORS = frozenset({"a", "as", "o", "os", "de", "da", "do", "das", "dos", "e", "of", "the"})
"""Words that say nothing about a column: left out before comparing."""

GENERIC = frozenset({"data", "dt", "date", "nome", "nm", "name", "numero", "num", "no", "nr"})
"""Words many headers share (`data de nascimento`, `data de vencimento`): left out of both
sides when both have one, so that what tells two such headers apart decides."""


def _words(key: str) -> list[str]:
    return [word for word in key.split("_") if word not in CONNECTORS]


def _ratio(left: list[str], right: list[str]) -> float:
    a, b = " ".join(left), " ".join(right)
    if len(a) < MIN_FUZZY_LENGTH or len(b) < MIN_FUZZY_LENGTH:
        return 0.0
    return max(fuzz.ratio(a, b), fuzz.token_sort_ratio(a, b)) / 100


def _similarity(key: str, names: set[str]) -> float:
    """The best similarity (0-1) between a column key and a field's names: the larger of the
    plain edit-distance ratio and the ratio with the words sorted (`nome_mae` vs `mae_nome`),
    connectors left out, generic words left out when both sides have one."""
    words = _words(key)
    best = 0.0
    for name in names:
        other = _words(name)
        if GENERIC.intersection(words) and GENERIC.intersection(other):
            left = [word for word in words if word not in GENERIC]
            right = [word for word in other if word not in GENERIC]
            score = _ratio(left, right) if left and right else _ratio(words, other)
        else:
            score = _ratio(words, other)
        best = max(best, score)
    return best


def _explicit_targets(
    columns: Sequence[tuple[str, str]],
    explicit: Mapping[str, str | None],
    field_keys: set[str],
) -> dict[int, str | None]:
    """Column index → field (or `None`) of the explicit mapping, refusing unknown fields and
    two columns on one field."""
    by_key = {key: index for index, (_, key) in enumerate(columns)}
    targets: dict[int, str | None] = {}
    for name, field in explicit.items():
        if field is not None and field not in field_keys:
            raise errors.IngestError(
                f"the mapping sends column {name!r} to field {field!r}, which the project's"
                f" schema does not have; known fields: {', '.join(sorted(field_keys))}",
                column=name,
            )
        if name in by_key:
            hits = [by_key[name]]
        else:
            hits = [index for index, (header, _) in enumerate(columns) if header == name]
            if not hits and normalize_key(name) in by_key:
                hits = [by_key[normalize_key(name)]]
        for index in hits:
            targets.setdefault(index, field)
    seen: dict[str, int] = {}
    for index, field in sorted(targets.items()):
        if field is None:
            continue
        if field in seen:
            first, second = columns[seen[field]][0], columns[index][0]
            raise errors.IngestError(
                f"the mapping sends two columns, {first!r} and {second!r}, to field"
                f" {field!r}; a field takes one column",
                column=second,
            )
        seen[field] = index
    return targets


def _automatic_candidates(
    columns: Sequence[tuple[str, str]], fields: Sequence[MatchableField]
) -> list[_Candidate]:
    candidates: list[_Candidate] = []
    names = [(field.key, _field_names(field)) for field in fields]
    for index, (_, key) in enumerate(columns):
        exact: set[str] = set()
        for field_key, aliases in names:
            if key == field_key:
                candidates.append(_Candidate(_RANK["key"], 1.0, index, field_key, "key"))
                exact.add(field_key)
            elif key in aliases:
                candidates.append(_Candidate(_RANK["alias"], 1.0, index, field_key, "alias"))
                exact.add(field_key)
        for field_key, field_names in names:
            if field_key in exact:
                continue
            score = _similarity(key, {field_key, *field_names})
            if score >= FUZZY_FLOOR:
                candidates.append(_Candidate(_RANK["fuzzy"], score, index, field_key, "fuzzy"))
    return candidates


def remembered(matches: Iterable[ColumnMatch]) -> dict[str, str | None]:
    """The mapping a later upload with the same header fingerprint starts from."""
    return {match.key: match.target_field for match in matches if match.matched_by is not None}


def match_columns(
    columns: Sequence[tuple[str, str]],
    fields: Sequence[MatchableField],
    *,
    explicit: Mapping[str, str | None] | None = None,
    saved: Mapping[str, str | None] | None = None,
) -> list[ColumnMatch]:
    """One `ColumnMatch` per column, in column order (see the module's docstring)."""
    field_keys = {field.key for field in fields}
    decided: dict[int, tuple[str | None, MatchedBy]] = {}
    for index, field in _explicit_targets(columns, explicit or {}, field_keys).items():
        decided[index] = (field, "explicit")
    taken = {field for field, _ in decided.values() if field is not None}
    for index, (_, key) in enumerate(columns):
        if index in decided or saved is None or key not in saved:
            continue
        field = saved[key]
        if field is None:
            decided[index] = (None, "saved")
        elif field in field_keys and field not in taken:
            decided[index] = (field, "saved")
            taken.add(field)

    candidates = _automatic_candidates(columns, fields)
    candidates.sort(key=lambda c: (c.rank, -c.confidence, c.column))
    chosen: dict[int, _Candidate] = {}
    for candidate in candidates:
        if candidate.column in decided or candidate.column in chosen:
            continue
        if candidate.field in taken or candidate.confidence < FUZZY_THRESHOLD:
            continue
        chosen[candidate.column] = candidate
        taken.add(candidate.field)

    matches: list[ColumnMatch] = []
    for index, (header, key) in enumerate(columns):
        target: str | None
        matched_by: MatchedBy | None
        confidence: float | None
        if index in decided:
            target, matched_by = decided[index]
            confidence = 1.0
        elif index in chosen:
            target = chosen[index].field
            matched_by, confidence = chosen[index].matched_by, chosen[index].confidence
        else:
            target, matched_by, confidence = None, None, None
        others: dict[str, Alternative] = {}
        for candidate in candidates:
            if candidate.column != index or candidate.field == target:
                continue
            if candidate.field not in others:
                others[candidate.field] = Alternative(
                    field=candidate.field,
                    matched_by=candidate.matched_by,
                    confidence=round(candidate.confidence, 3),
                )
        matches.append(
            ColumnMatch(
                source=header,
                key=key,
                target_field=target,
                matched_by=matched_by,
                confidence=None if confidence is None else round(confidence, 3),
                alternatives=tuple(others.values())[:MAX_ALTERNATIVES],
            )
        )
    return matches
