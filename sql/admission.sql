-- Upload slots: how many uploads may run at once, counted by PostgreSQL so that the count
-- holds across every process and host on the database. An upload holds one slot of its
-- user's and one of the service's, each a session-level advisory lock (the two-integer form:
-- a namespace, then the slot number) taken by the upload's own connection; they go when the
-- upload releases them, or with the session if its process dies.

-- name: take_user_slot :scalar
-- Take slot $2 of user $1's uploads if no session holds it; false when one does.
SELECT pg_try_advisory_lock(hashtext('sheetflow upload slot of ' || $1::uuid::text), $2::integer);

-- name: take_service_slot :scalar
-- Take slot $1 of the service's uploads if no session holds it; false when one does.
SELECT pg_try_advisory_lock(hashtext('sheetflow upload slot'), $1::integer);

-- name: release_user_slot :scalar
-- Release slot $2 of user $1's uploads, held by this session; false if it did not hold it.
SELECT pg_advisory_unlock(hashtext('sheetflow upload slot of ' || $1::uuid::text), $2::integer);

-- name: release_service_slot :scalar
-- Release slot $1 of the service's uploads, held by this session; false if it did not hold it.
SELECT pg_advisory_unlock(hashtext('sheetflow upload slot'), $1::integer);
