-- migrate:up
-- sheetflow_revalidate again, in PL/pgSQL: the SQL function, which PostgreSQL cannot inline
-- (it holds sub-selects), cost ~100 µs a row, most of a 200k-row bulk update; this one runs
-- plain expressions (~10 µs a row when the row has no message to keep; bench/README.md).
-- Same contract: the messages of the other keys kept, those of `keys` recomputed from
-- `rules`, all in column order (messages without a column, like extra_cells, last; a new
-- message before a kept one of the same position).
CREATE OR REPLACE FUNCTION sheetflow_revalidate(messages jsonb, data jsonb, keys text[], rules jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    fresh jsonb[] := '{}';
    fresh_at integer[] := '{}';
    key text;
    rule jsonb;
    kind text;
    message jsonb;
    kept jsonb;
    kept_at integer;
    result jsonb := '[]';
    next_fresh integer := 1;
BEGIN
    IF cardinality(keys) > 1 THEN
        keys := ARRAY(
            SELECT k FROM unnest(keys) WITH ORDINALITY AS u(k, n)
            ORDER BY coalesce((rules -> k ->> 'position')::integer, 2147483647), n
        );
    END IF;
    FOREACH key IN ARRAY keys LOOP
        rule := rules -> key;
        kind := sheetflow_value_kind(data -> key);
        IF kind = 'empty' THEN
            message := rule -> 'empty';
        ELSIF jsonb_typeof(rule -> 'accepts') = 'array' AND NOT (rule -> 'accepts') ? kind THEN
            message := rule -> 'mismatch';
        ELSE
            message := NULL;
        END IF;
        IF jsonb_typeof(message) = 'object' THEN
            fresh := fresh || message;
            fresh_at := fresh_at || coalesce((rule ->> 'position')::integer, 2147483647);
        END IF;
    END LOOP;
    FOR i IN 0 .. coalesce(jsonb_array_length(messages), 0) - 1 LOOP
        kept := messages -> i;
        IF NOT coalesce(kept ->> 'field' = ANY(keys), false) THEN
            kept_at := coalesce((rules -> (kept ->> 'field') ->> 'position')::integer, 2147483647);
            WHILE next_fresh <= cardinality(fresh) AND fresh_at[next_fresh] <= kept_at LOOP
                result := result || jsonb_build_array(fresh[next_fresh]);
                next_fresh := next_fresh + 1;
            END LOOP;
            result := result || jsonb_build_array(kept);
        END IF;
    END LOOP;
    WHILE next_fresh <= cardinality(fresh) LOOP
        result := result || jsonb_build_array(fresh[next_fresh]);
        next_fresh := next_fresh + 1;
    END LOOP;
    RETURN result;
END
$$;

-- migrate:down
CREATE OR REPLACE FUNCTION sheetflow_revalidate(messages jsonb, data jsonb, keys text[], rules jsonb)
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
