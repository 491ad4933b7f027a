"""The rules API: each type's conversion and each rule's message, pure."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service import rules
from service.schemas import FieldType, SchemaField, Severity


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        (FieldType.INTEGER, "42", 42),
        (FieldType.INTEGER, " +42", None),  # values arrive trimmed; a space is not a digit
        (FieldType.INTEGER, "0042", 42),
        (FieldType.INTEGER, "42.0", 42),
        (FieldType.INTEGER, 42.0, 42),
        (FieldType.INTEGER, 7, 7),
        (FieldType.INTEGER, "4.5", None),
        (FieldType.INTEGER, True, None),
        (FieldType.INTEGER, "9007199254740993", None),
        (FieldType.NUMBER, "-1.5", -1.5),
        (FieldType.NUMBER, "2e3", 2000),
        (FieldType.NUMBER, "1,5", None),
        (FieldType.NUMBER, 3, 3),
        (FieldType.BOOLEAN, "Verdadeiro", True),
        (FieldType.BOOLEAN, "FALSE", False),
        (FieldType.BOOLEAN, "sim", None),
        (FieldType.DATE, "15/03/2024", "2024-03-15"),
        (FieldType.DATE, "1/3/2024", "2024-03-01"),
        (FieldType.DATE, "2024-03-15", "2024-03-15"),
        (FieldType.DATE, "2024-03-15T00:00:00", "2024-03-15"),
        (FieldType.DATE, "2024-03-15T10:00:00", None),
        (FieldType.DATE, "31/02/2024", None),
        (FieldType.DATE, "03/31/2024", None),
        (FieldType.DATE, 45000, None),
        (FieldType.DATETIME, "15/03/2024 10:20", "2024-03-15T10:20:00"),
        (FieldType.DATETIME, "2024-03-15 10:20:30.7", "2024-03-15T10:20:31"),
        (FieldType.DATETIME, "2024-03-15T10:20:30+0300", "2024-03-15T10:20:30+03:00"),
        (FieldType.DATETIME, "2024-03-15", "2024-03-15T00:00:00"),
        (FieldType.DATETIME, "2024-03-15T25:00:00", None),
        (FieldType.TIME, "9:05", "09:05:00"),
        (FieldType.TIME, "23:59:59", "23:59:59"),
        (FieldType.TIME, "24:00", None),
        (FieldType.EMAIL, "ana@example.com", "ana@example.com"),
        (FieldType.EMAIL, "ana@", None),
        (FieldType.URL, "https://example.com/x", "https://example.com/x"),
        (FieldType.URL, "example.com", None),
        (FieldType.STRING, 42, "42"),
        (FieldType.STRING, 1.5, "1.5"),
        (FieldType.STRING, True, "true"),
        (FieldType.STRING, "00123", "00123"),
    ],
)
def test_coerce(type_, value, expected):
    field = SchemaField(key="f", type=type_)
    converted, message = rules.coerce(field, value)
    if expected is None:
        assert (converted, message) == (value, rules.rules_of(field).type_message)
        assert message is not None
        assert message.type == "type"
    else:
        assert (converted, message) == (expected, None)
        assert type(converted) is type(expected)


def test_empty_is_only_required():
    field = SchemaField(key="f", type=FieldType.INTEGER, required=True, min=3)
    assert rules.coerce(field, None) == (None, None)
    assert [m.type for m in rules.check(field, None)] == ["required"]
    assert rules.check(SchemaField(key="f"), None) == []


@pytest.mark.parametrize(
    ("field", "value", "types"),
    [
        (SchemaField(key="f", enum=["a", "b"]), "a", []),
        (SchemaField(key="f", enum=["a", "b"]), "c", ["enum"]),
        (SchemaField(key="f", type=FieldType.INTEGER, enum=[1, 2]), 2, []),
        (SchemaField(key="f", type=FieldType.NUMBER, enum=[2.0]), 2, []),
        (SchemaField(key="f", pattern=r"^\d{3}$"), "123", []),
        (SchemaField(key="f", pattern=r"^\d{3}$"), "1234", ["pattern"]),
        (SchemaField(key="f", pattern=r"\d"), "a1b", []),  # unanchored: JSON Schema's rule
        (SchemaField(key="f", type=FieldType.INTEGER, min=1, max=10), 0, ["range"]),
        (SchemaField(key="f", type=FieldType.INTEGER, min=1, max=10), 11, ["range"]),
        (SchemaField(key="f", type=FieldType.INTEGER, min=1, max=10), 10, []),
        (SchemaField(key="f", type=FieldType.DATE, min="2024-01-01"), "2023-12-31", ["range"]),
        (SchemaField(key="f", type=FieldType.DATE, max="31/12/2024"), "2025-01-01", ["range"]),
        (SchemaField(key="f", min_length=2, max_length=3), "a", ["length"]),
        (SchemaField(key="f", min_length=2, max_length=3), "abcd", ["length"]),
        (SchemaField(key="f", min_length=2, max_length=3), "ção", []),
        (
            SchemaField(key="f", enum=["a"], pattern="^b$", max_length=0),
            "c",
            ["enum", "pattern", "length"],
        ),
    ],
)
def test_check(field, value, types):
    assert [message.type for message in rules.check(field, value)] == types
    assert all(message.field == "f" for message in rules.check(field, value))


def test_validate_stops_at_a_type_failure():
    field = SchemaField(key="f", type=FieldType.INTEGER, min=100, pattern="^x$")
    assert [m.type for m in rules.validate(field, "abc")[1]] == ["type"]
    messages = rules.rules_of(field).messages
    assert rules.validate(field, "5") == (5, [messages.pattern, messages.too_low])


def test_severity():
    assert rules.is_error(SchemaField(key="f"))
    assert not rules.is_error(SchemaField(key="f", severity=Severity.WARNING))


def test_apply_a_column():
    field = SchemaField(key="n", type=FieldType.INTEGER, required=True, max=10)
    values, found = rules.rules_of(field).apply(["1", None, "x", "11", 5.0])
    assert values == [1, None, "x", 11, 5]
    assert {index: [m.type for m in messages] for index, messages in found.items()} == {
        1: ["required"],
        2: ["type"],
        3: ["range"],
    }


def test_catastrophic_patterns_run_in_linear_time_or_are_refused():
    field = SchemaField(key="f", pattern="^(a+)+$")
    assert [m.type for m in rules.check(field, "a" * 100_000 + "b")] == ["pattern"]
    for refused, reason in [
        ("(a", "missing )"),
        (r"(a)\1", "invalid escape"),
        ("(?=a)", "invalid perl operator"),
        ("a{1001}", "invalid repetition size"),
        ("((a{100}){100}){100}", "invalid repetition size"),
    ]:
        with pytest.raises(rules.InvalidPattern, match=re.escape(reason)):
            rules.compile_pattern(refused)


def test_unique_message_names_up_to_five_rows():
    message = rules.unique_message("cpf", [2, 3, 4, 5, 6], 2)
    assert message.type == "unique"
    assert message.message == "Value repeated in rows 2, 3, 4, 5, 6 and 2 more"


FIELDS = [
    SchemaField(key="s", required=True, enum=["a", "b", "42"], pattern="^[a-z0-9]+$"),
    SchemaField(key="s", min_length=2, max_length=3),
    SchemaField(key="i", type=FieldType.INTEGER, required=True, min=0, max=50, enum=[1, 2, 40]),
    SchemaField(key="n", type=FieldType.NUMBER, min=-1.5, max=1e3, pattern=r"\."),
    SchemaField(key="d", type=FieldType.DATE, min="2000-01-01", max="2030-12-31"),
    SchemaField(key="b", type=FieldType.BOOLEAN, enum=[True]),
    SchemaField(key="e", type=FieldType.EMAIL, max_length=12),
]
VALUES = st.sampled_from(
    [None, "a", "b", "42", "abc", "", "x y", "1", "-3", "40", "4.5", "1e3", "true", "FALSO",
     "15/03/2024", "2024-02-30", "1999-12-31", "ana@x.org", "longer@example.org", 0, 1, 40,
     51, 2.5, -7.25, True, False]
)  # fmt: skip


@given(values=st.lists(VALUES, max_size=40), which=st.sampled_from(range(len(FIELDS))))
def test_a_column_gets_what_each_value_gets(values, which):
    field = FIELDS[which]
    converted, found = rules.rules_of(field).apply(list(values))
    one_by_one = [rules.validate(field, value) for value in values]
    assert converted == [value for value, _ in one_by_one]
    assert [type(value) for value in converted] == [type(value) for value, _ in one_by_one]
    assert {index: messages for index, messages in found.items()} == {
        index: messages for index, (_, messages) in enumerate(one_by_one) if messages
    }


@pytest.mark.parametrize(
    "pattern", [r"^\d{5}-\d{3}$", r"ção", r"(?i)^a", r"\bx\b", "", r"^$", r"\p{Greek}"]
)
def test_patterns_answer_as_re2_does(pattern):
    import re2

    compiled = rules.compile_pattern(pattern)
    for text in ["12345-678", "1234-678", "ação", "Abc", "a x b", "", "αβ", "x"]:
        assert compiled.found(text) == (re2.search(pattern, text) is not None), text


SHAPED = {
    FieldType.INTEGER: ["0", "-0", "0042", "123456789012345", "-7", "x"],
    FieldType.NUMBER: ["1.50", "-0.0", "10", "3.14159", "2e3", "1,5"],
    FieldType.BOOLEAN: ["true", "FALSE", "Verdadeiro", "falso", "sim"],
    FieldType.DATE: [
        "2024-02-29",
        "2023-02-29",
        "0999-01-01",
        "15/03/2024",
        "31/04/2024",
        "1/3/2024",
    ],
    FieldType.DATETIME: [
        "2024-03-15T10:20:30",
        "2024-03-15T24:00:00",
        "2024-03-15 10:20",
        "2024-03-15",
        "2024-02-30",
    ],
    FieldType.STRING: ["a", "b"],
}


@given(data=st.data(), type_=st.sampled_from(sorted(SHAPED)))
def test_chunks_in_the_usual_shape_convert_as_value_by_value(data, type_):
    """`convert_texts` (a whole chunk at once) agrees with `convert` (one value at a time),
    on chunks where every text has the usual shape and on chunks where one does not."""
    pool = SHAPED[type_]
    if data.draw(st.booleans()):  # a workbook's typed values
        pool = [7, -3, 0, 2.5, True, False, 9_007_199_254_740_992]
    values = data.draw(st.lists(st.sampled_from([*pool, None]), min_size=1, max_size=30))
    field = SchemaField(key="f", type=type_, required=True)
    converted, found = rules.rules_of(field).apply(list(values))
    one_by_one = [rules.validate(field, value) for value in values]
    assert converted == [value for value, _ in one_by_one]
    assert [type(value) for value in converted] == [type(value) for value, _ in one_by_one]
    assert found == {index: messages for index, (_, messages) in enumerate(one_by_one) if messages}
