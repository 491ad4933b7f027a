-- migrate:up
-- Re-validation of edited rows inside the UPDATE that edits them (one set-based statement
-- for a bulk edit of 200k rows), so the checks of spec §4.5 that depend on one value live
-- here too. `sheetflow_text_kind` is `classify_text` of service/ingest/inference.py written
-- as PostgreSQL regexes (tests/store/test_edits.py holds the two equal on a generated
-- corpus): no locale-dependent class or case folding is used, the letters Python's
-- case-insensitive match also accepts (ſ for s; İ and ı for i) are spelt out.

-- Whether the date at the start of an ISO (YYYY-MM-DD) or day-first (D/M/YYYY) text exists.
CREATE FUNCTION sheetflow_is_real_date(t text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (
    SELECT parts.d <= 28
        OR parts.d <= extract(day FROM make_date(parts.y, parts.m, 1)
            + interval '1 month' - interval '1 day')
    FROM (
        SELECT CASE WHEN substr(t, 5, 1) = '-' THEN substr(t, 1, 4)::integer
                ELSE substr(split_part(t, '/', 3), 1, 4)::integer END AS y,
            CASE WHEN substr(t, 5, 1) = '-' THEN substr(t, 6, 2)::integer
                ELSE split_part(t, '/', 2)::integer END AS m,
            CASE WHEN substr(t, 5, 1) = '-' THEN substr(t, 9, 2)::integer
                ELSE split_part(t, '/', 1)::integer END AS d
    ) AS parts
);

-- The kind of a trimmed, non-empty text: integer, number, boolean, date, datetime, time,
-- email, url or string (the first that fits, in that order, as classify_text).
CREATE FUNCTION sheetflow_text_kind(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
    WHEN t ~ '^-?(?:0|[1-9][0-9]{0,17})$' THEN 'integer'
    WHEN t ~ '^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$' THEN 'number'
    WHEN t ~ '^(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ssſ][Ee]|[Vv][Ee][Rr][Dd][Aa][Dd][Ee][IiİıI][Rr][Oo]|[Ff][Aa][Ll][Ssſ][Oo])$'
        THEN 'boolean'
    WHEN t ~ '^(?:[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])|(?:0?[1-9]|[12][0-9]|3[01])/(?:0?[1-9]|1[0-2])/[1-9][0-9]{3})$'
        THEN CASE WHEN sheetflow_is_real_date(t) THEN 'date' ELSE 'string' END
    WHEN t ~ '^(?:[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?|(?:0?[1-9]|[12][0-9]|3[01])/(?:0?[1-9]|1[0-2])/[1-9][0-9]{3} (?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?)$'
        THEN CASE WHEN sheetflow_is_real_date(t) THEN 'datetime' ELSE 'string' END
    WHEN t ~ '^(?:[01]?[0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?$' THEN 'time'
    WHEN t ~ '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$'
        THEN 'email'
    WHEN t ~ '^(?:[Hh][Tt][Tt][Pp][Ssſ]?|[Ff][Tt][Pp])://[^\t\n\u000b\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000/?#]+(?:[/?#][^\t\n\u000b\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*)?$'
        THEN 'url'
    ELSE 'string'
END;

-- The kind of a stored cell value (absent or null: empty), as cell_kind reads the value the
-- upload stored: numbers are integer when integral within ±2^53, text goes through the text
-- rules (stored text is trimmed; an empty text is empty).
CREATE FUNCTION sheetflow_value_kind(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE jsonb_typeof(v)
    WHEN 'boolean' THEN 'boolean'
    WHEN 'number' THEN CASE
        WHEN v::numeric = trunc(v::numeric) AND abs(v::numeric) <= 9007199254740992
        THEN 'integer' ELSE 'number' END
    WHEN 'string' THEN CASE
        WHEN v #>> '{}' = '' THEN 'empty' ELSE sheetflow_text_kind(v #>> '{}') END
    WHEN 'array' THEN 'string'
    WHEN 'object' THEN 'string'
    ELSE 'empty'
END;

-- The messages of a row after its `keys` were edited to the values now in `data`: the
-- messages of the other keys kept, those of the edited keys recomputed from `rules`, a JSON
-- object with one member per column, `{"position": n}`, and for each edited key also
-- `"accepts"` (the kinds its type accepts, or null for any), `"mismatch"` (its type_mismatch
-- message) and `"empty"` (its empty message, or null when an empty value is not warned).
-- Ordered by column (messages without a column, like extra_cells, last), as uploaded.
CREATE FUNCTION sheetflow_revalidate(messages jsonb, data jsonb, keys text[], rules jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (
    SELECT coalesce(jsonb_agg(m.message ORDER BY m.column_position, m.ordinal), '[]'::jsonb)
    FROM (
        SELECT kept.message,
            coalesce((rules -> (kept.message ->> 'field') ->> 'position')::integer,
                2147483647) AS column_position,
            kept.ordinal
        FROM jsonb_array_elements(messages) WITH ORDINALITY AS kept(message, ordinal)
        WHERE NOT coalesce(kept.message ->> 'field' = ANY(keys), false)
        UNION ALL
        SELECT CASE
                WHEN checked.kind = 'empty' THEN rules -> checked.key -> 'empty'
                WHEN jsonb_typeof(rules -> checked.key -> 'accepts') = 'array'
                    AND NOT (rules -> checked.key -> 'accepts') ? checked.kind
                THEN rules -> checked.key -> 'mismatch'
            END,
            (rules -> checked.key ->> 'position')::integer,
            0
        FROM (
            SELECT edited.key, sheetflow_value_kind(data -> edited.key) AS kind
            FROM unnest(keys) AS edited(key)
        ) AS checked
    ) AS m
    WHERE m.message IS NOT NULL AND jsonb_typeof(m.message) = 'object'
);

-- A row's status from its messages: error if one is an error (cell_error), else warning if
-- there is any, else valid (validation.status).
CREATE FUNCTION sheetflow_row_status(messages jsonb) RETURNS row_status
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
    WHEN messages @> '[{"type": "cell_error"}]' THEN 'error'::row_status
    WHEN jsonb_array_length(messages) > 0 THEN 'warning'::row_status
    ELSE 'valid'::row_status
END;

-- migrate:down
DROP FUNCTION sheetflow_row_status(jsonb);
DROP FUNCTION sheetflow_revalidate(jsonb, jsonb, text[], jsonb);
DROP FUNCTION sheetflow_value_kind(jsonb);
DROP FUNCTION sheetflow_text_kind(text);
DROP FUNCTION sheetflow_is_real_date(text);
