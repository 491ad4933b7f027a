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

import dataclasses
import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Literal, Protocol

import msgspec
from rapidfuzz import fuzz, process

from service import errors
from service.entities import ColumnMetadata
from service.ingest.keys import normalize_key
from service.schemas import SchemaField

MatchedBy = Literal["explicit", "saved", "key", "alias", "fuzzy"]

ColumnMapping = dict[str, str | None]
"""Source header or key → field key, or `None` for a column left unmapped on purpose."""

MAX_ALTERNATIVES = 3
"""How many other candidate fields a column's match lists, best first."""


FUZZY_THRESHOLD = 0.85
"""The least similarity a fuzzy match needs to be applied: the header-variant table in
tests/ingest/test_matching.py has no false match at or above it (see its docstring)."""

FUZZY_FLOOR = 0.6
"""The least similarity a fuzzy candidate needs to be listed as an alternative (not applied)."""

FUZZY_PAIRS = 2_000_000
"""At most this many (column, field name) pairs are compared fuzzily (about a second): past
it, as with 1,000 columns against 1,000 fields of 50 aliases each (50 million pairs, 30 s),
only exact key and alias matches are made. A real header against a real schema is thousands
of pairs."""

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


_mapping_decoder = msgspec.json.Decoder(dict[str, str | None])


def parse_mapping(text: str) -> ColumnMapping:
    """The upload's `mapping` (a JSON object of source header or key → field key or null),
    or `InvalidInput` saying what is wrong with it."""
    try:
        return _mapping_decoder.decode(text)
    except msgspec.DecodeError as error:
        raise errors.InvalidInput(
            "`mapping` must be a JSON object of source header (or key) to field key or null, "
            f'such as {{"CPF/CNPJ": "cpf", "Obs": null}}: {error}'
        ) from None


def mapping_text(mapping: ColumnMapping | None) -> str | None:
    """The mapping as canonical JSON (keys sorted), for an upload's idempotency fingerprint:
    the same files with another mapping are another request."""
    return None if not mapping else msgspec.json.encode(mapping, order="sorted").decode()


def check_mapping(mapping: ColumnMapping | None, field_keys: Collection[str] | None) -> None:
    """Refuse (422) a mapping when the project has no schema, or to a field it does not have;
    before any file is read (the worker checks it again, with the columns)."""
    if not mapping:
        return
    if field_keys is None:
        raise errors.IngestError(
            "a `mapping` sends columns to the fields of the project's schema, and this project "
            "has no schema (PUT /projects/{projectId}/schema first)"
        )
    keys = set(field_keys)
    for name, target in mapping.items():
        if target is not None and target not in keys:
            raise errors.IngestError(
                f"the mapping sends column {name!r} to field {target!r}, which the project's"
                f" schema does not have; known fields: {', '.join(sorted(keys))}",
                column=name,
            )


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


def _text(words: Sequence[str]) -> str | None:
    """Words joined for comparing, or None when too short to compare."""
    text = " ".join(words)
    return text if len(text) >= MIN_FUZZY_LENGTH else None


class _Names:
    """Every field's names (key, label, aliases, normalized as keys) prepared once: for the
    exact matches, and for the fuzzy ones as texts compared by rapidfuzz in C, one column
    against all of them at a time (`process.extract`), so that even 1,000 columns against
    1,000 fields of 50 aliases each stay inside the worker's limits (see `FUZZY_PAIRS`).

    Similarity is the larger of the plain edit-distance ratio and the ratio with the words
    sorted (`nome_mae` vs `mae_nome`), connectors left out; when both the column and a name
    have a generic word, both are compared without their generic words (if anything is left)."""

    def __init__(self, fields: Sequence[MatchableField]) -> None:
        self.exact: dict[str, list[tuple[str, MatchedBy]]] = {}
        self.full: list[str] = []
        self.full_fields: list[str] = []
        self.stripped: list[str] = []
        self.stripped_fields: list[str] = []
        self.plain: list[str] = []
        self.plain_fields: list[str] = []
        """Names compared whole even with a generic column: they have no generic word."""
        for field in fields:
            self.exact.setdefault(field.key, []).append((field.key, "key"))
            for name in _field_names(field):
                self.exact.setdefault(name, []).append((field.key, "alias"))
            for name in {field.key, *_field_names(field)}:
                words = [word for word in name.split("_") if word not in CONNECTORS]
                full = _text(words)
                bare = [word for word in words if word not in GENERIC]
                if full is not None:
                    self.full.append(full)
                    self.full_fields.append(field.key)
                if bare != words and bare:
                    text = _text(bare)
                    if text is not None:
                        self.stripped.append(text)
                        self.stripped_fields.append(field.key)
                elif full is not None:
                    self.plain.append(full)
                    self.plain_fields.append(field.key)

    def fuzzy(self, key: str) -> dict[str, float]:
        """Field → best similarity (0-1) of the column `key`, for those at `FUZZY_FLOOR`."""
        words = [word for word in key.split("_") if word not in CONNECTORS]
        bare = [word for word in words if word not in GENERIC]
        best: dict[str, float] = {}
        if bare != words and bare:
            self._compare(_text(bare), self.stripped, self.stripped_fields, best)
            self._compare(_text(words), self.plain, self.plain_fields, best)
        else:
            self._compare(_text(words), self.full, self.full_fields, best)
        return best

    @staticmethod
    def _compare(
        text: str | None, choices: list[str], fields: list[str], best: dict[str, float]
    ) -> None:
        if text is None or not choices:
            return
        for scorer in (fuzz.ratio, fuzz.token_sort_ratio):
            found = process.extract(
                text, choices, scorer=scorer, score_cutoff=FUZZY_FLOOR * 100, limit=None
            )
            for _, score, index in found:
                field = fields[index]
                best[field] = max(best.get(field, 0.0), score / 100)


def _explicit_targets(
    columns: Sequence[tuple[str, str]],
    explicit: Mapping[str, str | None],
    field_keys: set[str],
) -> dict[int, str | None]:
    """Column index → field (or `None`) of the explicit mapping, refusing unknown fields and
    two columns on one field."""
    by_key = {key: index for index, (_, key) in enumerate(columns)}
    by_header: dict[str, list[int]] = {}
    for index, (header, _) in enumerate(columns):
        by_header.setdefault(header, []).append(index)
    targets: dict[int, str | None] = {}
    named_by: dict[int, str] = {}
    check_mapping(dict(explicit), field_keys)
    for name, field in explicit.items():
        if name in by_key:
            hits = [by_key[name]]
        else:
            hits = by_header.get(name, [])
            if not hits and normalize_key(name) in by_key:
                hits = [by_key[normalize_key(name)]]
        for index in hits:
            if index in targets and targets[index] != field:
                # Two entries for one column ("Nome" by header, "nome" by key) that disagree:
                # neither silently wins.
                raise errors.IngestError(
                    f"the mapping names column {columns[index][0]!r} twice, as "
                    f"{named_by[index]!r} and as {name!r}, with different fields",
                    column=columns[index][0],
                )
            targets.setdefault(index, field)
            named_by.setdefault(index, name)
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
    names = _Names(fields)
    fuzzy = len(columns) * len(names.full) <= FUZZY_PAIRS
    for index, (_, key) in enumerate(columns):
        exact: set[str] = set()
        for field_key, how in names.exact.get(key, ()):
            if field_key not in exact:
                candidates.append(_Candidate(_RANK[how], 1.0, index, field_key, how))
                exact.add(field_key)
        for field_key, score in names.fuzzy(key).items() if fuzzy else ():
            if field_key not in exact:
                candidates.append(_Candidate(_RANK["fuzzy"], score, index, field_key, "fuzzy"))
    return candidates


def remembered(matches: Iterable[ColumnMatch]) -> dict[str, str | None]:
    """The mapping a later upload with the same header fingerprint starts from."""
    return {match.key: match.target_field for match in matches if match.matched_by is not None}


def remembered_from_columns(columns: Iterable[ColumnMetadata]) -> ColumnMapping:
    """`remembered`, from a stored batch's column metadata."""
    return {
        column.normalized_key: column.target_field or None
        for column in columns
        if isinstance(column.matched_by, str)
    }


@dataclasses.dataclass(frozen=True)
class Matching:
    """What a list-mode read needs to match its columns: the schema's fields, the upload's
    explicit mapping, and the remembered mappings by header fingerprint."""

    fields: Sequence[SchemaField]
    explicit: ColumnMapping | None = None
    saved: dict[str, ColumnMapping] = dataclasses.field(default_factory=dict)

    def apply(
        self, columns: Sequence[ColumnMetadata]
    ) -> tuple[list[ColumnMetadata], list[ColumnMatch]]:
        return match_header(columns, self.fields, explicit=self.explicit, saved=self.saved)


def match_header(
    columns: Sequence[ColumnMetadata],
    fields: Sequence[MatchableField],
    *,
    explicit: ColumnMapping | None,
    saved: dict[str, ColumnMapping],
) -> tuple[list[ColumnMetadata], list[ColumnMatch]]:
    """`columns` (one sheet's, or a batch's union of sheets) matched to `fields`: each gains
    `target_field`, `matched_by` and `confidence`, and its values go under its `data_key`.
    `saved`: the remembered mappings by header fingerprint (`store.mappings.remembered`).
    Also answers the matches themselves, with their alternatives (for a preview).

    An unmapped column whose key is the key of a field of the schema (which only an explicit or
    remembered decision, or another column taking the field, can bring about: otherwise the key
    match would take it) is kept under its key with the next free suffix, `email_2`, as a
    repeated header is: a field's key in the rows' data only ever holds that field's value, and
    no value is lost."""
    pairs = [(column.original_header, column.normalized_key) for column in columns]
    remembered_here = saved.get(header_fingerprint(key for _, key in pairs))
    matches = match_columns(pairs, fields, explicit=explicit, saved=remembered_here)
    targets = {field.key for field in fields}
    taken = targets | {key for _, key in pairs}
    matched = []
    for column, match in zip(columns, matches, strict=True):
        key = column.normalized_key
        if match.target_field is None and key in targets:
            suffix = 2
            while f"{key}_{suffix}" in taken:
                suffix += 1
            key = f"{key}_{suffix}"
            taken.add(key)
        matched.append(
            msgspec.structs.replace(
                column,
                normalized_key=key,
                target_field=match.target_field,
                matched_by=match.matched_by,
                confidence=match.confidence,
            )
        )
    return matched, matches


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
