-- migrate:up
-- The two computed members of a batch's body, written once: every statement that answers a
-- batch (SELECT … FROM ingestion_batches AS b, or UPDATE … RETURNING) calls them on the
-- batch's row instead of repeating the expressions. Both are plain SQL, which the planner
-- inlines. Delivery counts exist only for a completed batch and are summed over its slots
-- (ingestion_batch_delivery_counts).
CREATE FUNCTION batch_status_counts(b ingestion_batches) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object('valid', b.valid_count, 'warning', b.warning_count,
        'error', b.error_count)
$$;

CREATE FUNCTION batch_delivery_counts(b ingestion_batches) RETURNS jsonb
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN b.status = 'completed' THEN (
        SELECT jsonb_build_object(
            'pending', b.valid_count + b.warning_count + b.error_count
                - coalesce(sum(c.in_progress + c.done + c.error), 0),
            'in_progress', coalesce(sum(c.in_progress), 0),
            'done', coalesce(sum(c.done), 0),
            'error', coalesce(sum(c.error), 0)
        )
        FROM ingestion_batch_delivery_counts AS c
        WHERE c.batch_id = b.id
    ) END
$$;

-- migrate:down
DROP FUNCTION batch_delivery_counts(ingestion_batches);
DROP FUNCTION batch_status_counts(ingestion_batches);
