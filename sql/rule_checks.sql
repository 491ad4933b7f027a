-- Rule checks that need every row of a batch at once (issue 18): `unique`, in the
-- transaction that stores or re-validates the batch, set-based.

-- name: mark_repeated_values :one
-- For one unique field ($3, read from key $2 of the data): every live row of the batch whose
-- value repeats gets a `unique` message naming up to five other rows (by source row number,
-- with their sheet or file when not the row's own); with $5, in place of an older one for
-- the field, and a row whose value no longer repeats loses it. An added message makes a row
-- `error` ($4) or at least `warning`. Answers how the status counts changed.
WITH repeated AS (
    -- Values compare as text: after conversion to the field's type a column holds one JSON
    -- type (its values that did not convert are text that no converted value spells).
    SELECT data ->> $2::text AS value, count(*) AS repeats
    FROM ingestion_rows
    WHERE batch_id = $1::uuid AND deleted_at IS NULL AND data ->> $2::text IS NOT NULL
    GROUP BY 1
    HAVING count(*) > 1
),
counted AS (
    SELECT r.id, r.source_file_name AS file, r.source_sheet_name AS sheet,
        r.source_row_index AS row_number, p.value, p.repeats,
        row_number() OVER (PARTITION BY p.value ORDER BY r.position) AS rank
    FROM ingestion_rows AS r
    JOIN repeated AS p ON p.value = r.data ->> $2::text
    WHERE r.batch_id = $1::uuid AND r.deleted_at IS NULL
),
firsts AS (
    -- The first six rows holding each repeated value: five of them are named.
    SELECT value, array_agg(id ORDER BY rank) AS ids, array_agg(file ORDER BY rank) AS files,
        array_agg(sheet ORDER BY rank) AS sheets, array_agg(row_number ORDER BY rank) AS numbers
    FROM counted
    WHERE rank <= 6
    GROUP BY value
),
fresh AS (
    SELECT r.id, jsonb_build_object(
        'field', $3::text,
        'type', 'unique',
        'message', 'Value repeated in rows ' || (
            SELECT string_agg(
                CASE
                    WHEN o.file = r.file AND o.sheet = r.sheet THEN o.number::text
                    WHEN o.file = r.file THEN o.number || ' (' || o.sheet || ')'
                    ELSE o.number || ' (' || o.file || ')'
                END, ', ' ORDER BY o.ordinal)
            FROM (
                SELECT other.file, other.sheet, other.number, other.ordinal
                FROM unnest(f.ids, f.files, f.sheets, f.numbers) WITH ORDINALITY
                    AS other (id, file, sheet, number, ordinal)
                WHERE other.id <> r.id
                ORDER BY other.ordinal
                LIMIT 5
            ) AS o
        ) || CASE WHEN r.repeats > 6 THEN ' and ' || (r.repeats - 6) || ' more' ELSE '' END
    ) AS message
    FROM counted AS r
    JOIN firsts AS f ON f.value = r.value
),
old AS (
    SELECT id FROM ingestion_rows
    WHERE $5::boolean AND batch_id = $1::uuid AND deleted_at IS NULL
        AND validation_messages @> jsonb_build_array(
            jsonb_build_object('field', $3::text, 'type', 'unique'))
),
target AS (
    SELECT t.id, t.status,
        coalesce((
            SELECT jsonb_agg(e.message ORDER BY e.ordinal)
            FROM jsonb_array_elements(t.validation_messages) WITH ORDINALITY AS e (message, ordinal)
            WHERE NOT (e.message ->> 'type' = 'unique' AND e.message ->> 'field' = $3::text)
        ), '[]'::jsonb) || CASE WHEN fr.id IS NULL THEN '[]'::jsonb
            ELSE jsonb_build_array(fr.message) END AS messages,
        fr.id IS NOT NULL AS flagged
    FROM ingestion_rows AS t
    LEFT JOIN fresh AS fr ON fr.id = t.id
    WHERE t.id IN (SELECT id FROM fresh UNION SELECT id FROM old)
),
changed AS (
    UPDATE ingestion_rows AS t
    SET validation_messages = target.messages,
        status = CASE
            WHEN NOT target.flagged THEN t.status
            WHEN $4::boolean THEN 'error'::row_status
            WHEN t.status = 'valid' THEN 'warning'::row_status
            ELSE t.status
        END,
        -- One more version per transaction that changes the row (an edit or a re-validation
        -- may have bumped it already; an upload's rows are new in this transaction).
        version = CASE WHEN t.updated_at = now() THEN t.version ELSE t.version + 1 END,
        updated_at = now()
    FROM target
    WHERE t.id = target.id AND t.validation_messages IS DISTINCT FROM target.messages
    RETURNING target.status AS before, t.status AS after
)
SELECT count(*) FILTER (WHERE after = 'valid') - count(*) FILTER (WHERE before = 'valid')
        AS valid,
    count(*) FILTER (WHERE after = 'warning') - count(*) FILTER (WHERE before = 'warning')
        AS warning,
    count(*) FILTER (WHERE after = 'error') - count(*) FILTER (WHERE before = 'error') AS error
FROM changed;
