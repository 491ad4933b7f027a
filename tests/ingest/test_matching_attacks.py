"""Hostile explicit mappings: entries that contradict each other are refused, not settled by
which one the JSON object happened to list first."""

from __future__ import annotations

import pytest

from service import errors
from service.ingest.keys import normalize_key
from service.ingest.matching import match_columns
from tests.ingest.test_matching import FIELDS

COLUMNS = [(header, normalize_key(header)) for header in ["Nome", "CPF", "Celular", "Obs"]]


@pytest.mark.parametrize(
    "explicit",
    [
        {"Nome": "nome", "nome": "telefone"},  # by header, then by key
        {"nome": None, "Nome": "nome"},  # by key, then by header
        {"NOME": "nome", "Nome": None},  # by normalized header, then by header
    ],
)
def test_two_entries_for_one_column_with_different_fields_are_refused(explicit):
    with pytest.raises(errors.IngestError, match="names column 'Nome' twice"):
        match_columns(COLUMNS, FIELDS, explicit=explicit)


def test_two_entries_for_one_column_that_agree_are_fine():
    matches = match_columns(COLUMNS, FIELDS, explicit={"Nome": "nome", "nome": "nome"})
    assert (matches[0].target_field, matches[0].matched_by) == ("nome", "explicit")
