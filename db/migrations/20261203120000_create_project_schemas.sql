-- migrate:up
-- Project schemas (issue 18): the fields a project's records must have, as immutable,
-- numbered versions. A PUT adds version max+1; nothing ever rewrites `fields`. `retired_at`
-- is how `DELETE …/schema` turns schemas off for later uploads: it marks every version of
-- the project retired, and the current schema is the newest version when it is not retired.
-- Retired versions stay readable (`…/schema/versions/{n}`), as batches name the version they
-- were validated with.
CREATE TABLE project_schemas (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL,
    version integer NOT NULL,
    fields jsonb NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    CONSTRAINT pk_project_schemas PRIMARY KEY (id),
    CONSTRAINT uq_project_schemas_project_version UNIQUE (project_id, version),
    CONSTRAINT ck_project_schemas_version CHECK (version >= 1),
    CONSTRAINT ck_project_schemas_fields CHECK (jsonb_typeof(fields) = 'array'),
    CONSTRAINT fk_project_schemas_project_id FOREIGN KEY (project_id)
        REFERENCES projects (id) ON DELETE RESTRICT,
    CONSTRAINT fk_project_schemas_created_by FOREIGN KEY (created_by)
        REFERENCES users (id) ON DELETE RESTRICT
);

-- migrate:down
DROP TABLE project_schemas;
