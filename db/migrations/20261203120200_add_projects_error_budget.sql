-- migrate:up
-- A project's error budget (issue 18): an upload with more error rows than
-- `max_error_rows`, or a larger share of error rows than `max_error_ratio`, is stored and
-- failed at once. NULL: no such limit.
ALTER TABLE projects ADD COLUMN max_error_rows integer;
ALTER TABLE projects ADD COLUMN max_error_ratio double precision;
ALTER TABLE projects ADD CONSTRAINT ck_projects_max_error_rows CHECK (max_error_rows >= 0);
ALTER TABLE projects ADD CONSTRAINT ck_projects_max_error_ratio
    CHECK (max_error_ratio >= 0 AND max_error_ratio <= 1);

-- migrate:down
ALTER TABLE projects DROP CONSTRAINT ck_projects_max_error_ratio;
ALTER TABLE projects DROP CONSTRAINT ck_projects_max_error_rows;
ALTER TABLE projects DROP COLUMN max_error_ratio;
ALTER TABLE projects DROP COLUMN max_error_rows;
