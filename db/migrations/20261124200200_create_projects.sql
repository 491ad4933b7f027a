-- migrate:up
-- Projects belong to one owner; a name is unique per owner among live (not soft-deleted)
-- projects, so a deleted project's name can be reused.
CREATE TYPE project_status AS ENUM ('active', 'archived');

CREATE TABLE projects (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    name text NOT NULL,
    description text,
    status project_status NOT NULL DEFAULT 'active',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    deleted_by uuid,
    CONSTRAINT pk_projects PRIMARY KEY (id),
    CONSTRAINT fk_projects_user_id FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT,
    CONSTRAINT fk_projects_deleted_by FOREIGN KEY (deleted_by) REFERENCES users (id) ON DELETE RESTRICT,
    CONSTRAINT ck_projects_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT ck_projects_description_length CHECK (char_length(description) <= 2000)
);

CREATE UNIQUE INDEX uq_projects_user_name ON projects (user_id, name) WHERE deleted_at IS NULL;
-- Owner listings: newest first among live projects.
CREATE INDEX idx_projects_user_id_created_at ON projects (user_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

-- migrate:down
DROP TABLE projects;
DROP TYPE project_status;
