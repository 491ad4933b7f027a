-- Readiness: is the database reachable and migrated?

-- name: get_schema_version :scalar
-- The newest migration dbmate has applied.
SELECT max(version) FROM schema_migrations;
