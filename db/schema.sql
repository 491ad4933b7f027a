\restrict dbmate

-- Dumped from database version 18.6
-- Dumped by pg_dump version 18.6

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET transaction_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: batch_mode; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.batch_mode AS ENUM (
    'list_mode',
    'profile_mode'
);


--
-- Name: batch_status; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.batch_status AS ENUM (
    'pending_review',
    'completed',
    'failed'
);


--
-- Name: delivery_status; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.delivery_status AS ENUM (
    'pending',
    'in_progress',
    'done',
    'error'
);


--
-- Name: project_status; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.project_status AS ENUM (
    'active',
    'archived'
);


--
-- Name: row_status; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.row_status AS ENUM (
    'valid',
    'warning',
    'error'
);


--
-- Name: ingestion_header_fingerprint(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.ingestion_header_fingerprint(columns jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    SELECT encode(sha256(convert_to(
        string_agg(DISTINCT column_key, E'\n' ORDER BY column_key), 'UTF8')), 'hex')
    FROM (
        SELECT (entry ->> 'normalizedKey') COLLATE "C" AS column_key
        FROM jsonb_array_elements(columns) AS entry
    ) AS keys
$$;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: ingestion_batches; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ingestion_batches (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    project_id uuid NOT NULL,
    user_id uuid NOT NULL,
    mode public.batch_mode NOT NULL,
    status public.batch_status DEFAULT 'pending_review'::public.batch_status NOT NULL,
    file_count integer NOT NULL,
    row_count integer NOT NULL,
    column_metadata jsonb DEFAULT '[]'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone,
    deleted_by uuid,
    valid_count integer DEFAULT 0 NOT NULL,
    warning_count integer DEFAULT 0 NOT NULL,
    error_count integer DEFAULT 0 NOT NULL,
    field_stats jsonb,
    schema_version integer,
    review_note text,
    header_fingerprint text GENERATED ALWAYS AS (public.ingestion_header_fingerprint(column_metadata)) STORED,
    empty_warned_keys text[],
    delivery_cursor integer DEFAULT 0 NOT NULL,
    name text NOT NULL,
    identifier_field_key text,
    secondary_field_key text,
    reviewed_at timestamp with time zone
);


--
-- Name: batch_delivery_counts(public.ingestion_batches); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.batch_delivery_counts(b public.ingestion_batches) RETURNS jsonb
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


--
-- Name: batch_status_counts(public.ingestion_batches); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.batch_status_counts(b public.ingestion_batches) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
    SELECT jsonb_build_object('valid', b.valid_count, 'warning', b.warning_count,
        'error', b.error_count)
$$;


--
-- Name: refuse_ingestion_events_change(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.refuse_ingestion_events_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'ingestion_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;


--
-- Name: sheetflow_is_real_date(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.sheetflow_is_real_date(t text) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN (SELECT ((parts.d <= 28) OR ((parts.d)::numeric <= EXTRACT(day FROM ((make_date(parts.y, parts.m, 1) + '1 mon'::interval) - '1 day'::interval)))) FROM (SELECT CASE WHEN (substr(sheetflow_is_real_date.t, 5, 1) = '-'::text) THEN (substr(sheetflow_is_real_date.t, 1, 4))::integer ELSE (substr(split_part(sheetflow_is_real_date.t, '/'::text, 3), 1, 4))::integer END AS y, CASE WHEN (substr(sheetflow_is_real_date.t, 5, 1) = '-'::text) THEN (substr(sheetflow_is_real_date.t, 6, 2))::integer ELSE (split_part(sheetflow_is_real_date.t, '/'::text, 2))::integer END AS m, CASE WHEN (substr(sheetflow_is_real_date.t, 5, 1) = '-'::text) THEN (substr(sheetflow_is_real_date.t, 9, 2))::integer ELSE (split_part(sheetflow_is_real_date.t, '/'::text, 1))::integer END AS d) parts);


--
-- Name: sheetflow_revalidate(jsonb, jsonb, text[], jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.sheetflow_revalidate(messages jsonb, data jsonb, keys text[], rules jsonb) RETURNS jsonb
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


--
-- Name: sheetflow_row_status(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.sheetflow_row_status(messages jsonb) RETURNS public.row_status
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN (messages @> '[{"type": "cell_error"}]'::jsonb) THEN 'error'::public.row_status WHEN (jsonb_array_length(messages) > 0) THEN 'warning'::public.row_status ELSE 'valid'::public.row_status END;


--
-- Name: sheetflow_text_kind(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.sheetflow_text_kind(t text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN (t ~ '^-?(?:0|[1-9][0-9]{0,17})$'::text) THEN 'integer'::text WHEN (t ~ '^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$'::text) THEN 'number'::text WHEN (t ~ '^(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ssſ][Ee]|[Vv][Ee][Rr][Dd][Aa][Dd][Ee][IiİıI][Rr][Oo]|[Ff][Aa][Ll][Ssſ][Oo])$'::text) THEN 'boolean'::text WHEN (t ~ '^(?:[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])|(?:0?[1-9]|[12][0-9]|3[01])/(?:0?[1-9]|1[0-2])/[1-9][0-9]{3})$'::text) THEN CASE WHEN public.sheetflow_is_real_date(t) THEN 'date'::text ELSE 'string'::text END WHEN (t ~ '^(?:[1-9][0-9]{3}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?|(?:0?[1-9]|[12][0-9]|3[01])/(?:0?[1-9]|1[0-2])/[1-9][0-9]{3} (?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?)$'::text) THEN CASE WHEN public.sheetflow_is_real_date(t) THEN 'datetime'::text ELSE 'string'::text END WHEN (t ~ '^(?:[01]?[0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,9})?)?$'::text) THEN 'time'::text WHEN (t ~ '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$'::text) THEN 'email'::text WHEN (t ~ '^(?:[Hh][Tt][Tt][Pp][Ssſ]?|[Ff][Tt][Pp])://[^\t\n\u000b\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000/?#]+(?:[/?#][^\t\n\u000b\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*)?$'::text) THEN 'url'::text ELSE 'string'::text END;


--
-- Name: sheetflow_value_kind(jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.sheetflow_value_kind(v jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE jsonb_typeof(v) WHEN 'boolean'::text THEN 'boolean'::text WHEN 'number'::text THEN CASE WHEN (((v)::numeric = trunc((v)::numeric)) AND (abs((v)::numeric) <= ('9007199254740992'::bigint)::numeric)) THEN 'integer'::text ELSE 'number'::text END WHEN 'string'::text THEN CASE WHEN ((v #>> '{}'::text[]) = ''::text) THEN 'empty'::text ELSE public.sheetflow_text_kind((v #>> '{}'::text[])) END WHEN 'array'::text THEN 'string'::text WHEN 'object'::text THEN 'string'::text ELSE 'empty'::text END;


--
-- Name: idempotency_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.idempotency_keys (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    key text NOT NULL,
    request_hash bytea NOT NULL,
    resource_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    CONSTRAINT ck_idempotency_keys_key_length CHECK (((char_length(key) >= 1) AND (char_length(key) <= 255))),
    CONSTRAINT ck_idempotency_keys_request_hash_length CHECK ((octet_length(request_hash) = 32))
);


--
-- Name: ingestion_batch_delivery_counts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ingestion_batch_delivery_counts (
    batch_id uuid NOT NULL,
    slot smallint NOT NULL,
    in_progress integer DEFAULT 0 NOT NULL,
    done integer DEFAULT 0 NOT NULL,
    error integer DEFAULT 0 NOT NULL,
    CONSTRAINT ck_ingestion_batch_delivery_counts_slot CHECK (((slot >= 0) AND (slot <= 15)))
);


--
-- Name: ingestion_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ingestion_events (
    id bigint NOT NULL,
    batch_id uuid NOT NULL,
    row_id uuid,
    actor_id uuid NOT NULL,
    kind text NOT NULL,
    before jsonb,
    after jsonb,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT ck_ingestion_events_kind CHECK ((kind ~ '^[a-z]+(\.[a-z_]+)+$'::text))
);


--
-- Name: ingestion_events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.ingestion_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.ingestion_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: ingestion_rows; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ingestion_rows (
    id uuid DEFAULT uuidv7() NOT NULL,
    batch_id uuid NOT NULL,
    data jsonb NOT NULL,
    status public.row_status DEFAULT 'valid'::public.row_status NOT NULL,
    validation_messages jsonb DEFAULT '[]'::jsonb NOT NULL,
    source_file_name text NOT NULL,
    source_sheet_name text NOT NULL,
    source_row_index integer NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone,
    "position" integer NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    delivery_status public.delivery_status DEFAULT 'pending'::public.delivery_status NOT NULL,
    delivery_message text,
    delivery_step text,
    delivery_attempts integer DEFAULT 0 NOT NULL,
    delivery_lease_until timestamp with time zone,
    delivery_updated_at timestamp with time zone
);


--
-- Name: project_schemas; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.project_schemas (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    project_id uuid NOT NULL,
    version integer NOT NULL,
    fields jsonb NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    retired_at timestamp with time zone,
    CONSTRAINT ck_project_schemas_fields CHECK ((jsonb_typeof(fields) = 'array'::text)),
    CONSTRAINT ck_project_schemas_version CHECK ((version >= 1))
);


--
-- Name: projects; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.projects (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    name text NOT NULL,
    description text,
    status public.project_status DEFAULT 'active'::public.project_status NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone,
    deleted_by uuid,
    max_error_rows integer,
    max_error_ratio double precision,
    CONSTRAINT ck_projects_description_length CHECK ((char_length(description) <= 2000)),
    CONSTRAINT ck_projects_max_error_ratio CHECK (((max_error_ratio >= (0)::double precision) AND (max_error_ratio <= (1)::double precision))),
    CONSTRAINT ck_projects_max_error_rows CHECK ((max_error_rows >= 0)),
    CONSTRAINT ck_projects_name_length CHECK (((char_length(name) >= 1) AND (char_length(name) <= 100)))
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version character varying NOT NULL
);


--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    external_id text NOT NULL,
    email text,
    name text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    deleted_at timestamp with time zone
);


--
-- Name: idempotency_keys pk_idempotency_keys; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT pk_idempotency_keys PRIMARY KEY (id);


--
-- Name: ingestion_batch_delivery_counts pk_ingestion_batch_delivery_counts; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_batch_delivery_counts
    ADD CONSTRAINT pk_ingestion_batch_delivery_counts PRIMARY KEY (batch_id, slot);


--
-- Name: ingestion_batches pk_ingestion_batches; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_batches
    ADD CONSTRAINT pk_ingestion_batches PRIMARY KEY (id);


--
-- Name: ingestion_events pk_ingestion_events; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_events
    ADD CONSTRAINT pk_ingestion_events PRIMARY KEY (id);


--
-- Name: ingestion_rows pk_ingestion_rows; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_rows
    ADD CONSTRAINT pk_ingestion_rows PRIMARY KEY (id);


--
-- Name: project_schemas pk_project_schemas; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.project_schemas
    ADD CONSTRAINT pk_project_schemas PRIMARY KEY (id);


--
-- Name: projects pk_projects; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT pk_projects PRIMARY KEY (id);


--
-- Name: users pk_users; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT pk_users PRIMARY KEY (id);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: idempotency_keys uq_idempotency_keys_user_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT uq_idempotency_keys_user_id_key UNIQUE (user_id, key);


--
-- Name: project_schemas uq_project_schemas_project_version; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.project_schemas
    ADD CONSTRAINT uq_project_schemas_project_version UNIQUE (project_id, version);


--
-- Name: users uq_users_external_id; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT uq_users_external_id UNIQUE (external_id);


--
-- Name: idx_idempotency_keys_expires_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_idempotency_keys_expires_at ON public.idempotency_keys USING btree (expires_at);


--
-- Name: idx_ingestion_batches_completed_header; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ingestion_batches_completed_header ON public.ingestion_batches USING btree (project_id, header_fingerprint, reviewed_at DESC, id DESC) WHERE ((status = 'completed'::public.batch_status) AND (deleted_at IS NULL));


--
-- Name: idx_ingestion_batches_project_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ingestion_batches_project_id ON public.ingestion_batches USING btree (project_id);


--
-- Name: idx_ingestion_batches_user_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ingestion_batches_user_id ON public.ingestion_batches USING btree (user_id);


--
-- Name: idx_ingestion_events_batch_id_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ingestion_events_batch_id_id ON public.ingestion_events USING btree (batch_id, id DESC);


--
-- Name: idx_ingestion_events_row_id_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ingestion_events_row_id_id ON public.ingestion_events USING btree (row_id, id DESC) WHERE (row_id IS NOT NULL);


--
-- Name: idx_ingestion_rows_batch_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ingestion_rows_batch_id ON public.ingestion_rows USING btree (batch_id);


--
-- Name: idx_ingestion_rows_batch_id_position_deleted; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ingestion_rows_batch_id_position_deleted ON public.ingestion_rows USING btree (batch_id, "position") WHERE (deleted_at IS NOT NULL);


--
-- Name: idx_ingestion_rows_redelivery; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_ingestion_rows_redelivery ON public.ingestion_rows USING btree (batch_id, "position") WHERE ((delivery_attempts > 0) AND (delivery_status = ANY (ARRAY['pending'::public.delivery_status, 'in_progress'::public.delivery_status])));


--
-- Name: idx_projects_user_id_created_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_projects_user_id_created_at ON public.projects USING btree (user_id, created_at DESC, id DESC) WHERE (deleted_at IS NULL);


--
-- Name: uq_ingestion_rows_batch_position; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX uq_ingestion_rows_batch_position ON public.ingestion_rows USING btree (batch_id, "position");


--
-- Name: uq_projects_user_name; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX uq_projects_user_name ON public.projects USING btree (user_id, name) WHERE (deleted_at IS NULL);


--
-- Name: ingestion_events trg_ingestion_events_append_only; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER trg_ingestion_events_append_only BEFORE DELETE OR UPDATE ON public.ingestion_events FOR EACH ROW EXECUTE FUNCTION public.refuse_ingestion_events_change();


--
-- Name: ingestion_events trg_ingestion_events_no_truncate; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER trg_ingestion_events_no_truncate BEFORE TRUNCATE ON public.ingestion_events FOR EACH STATEMENT EXECUTE FUNCTION public.refuse_ingestion_events_change();


--
-- Name: idempotency_keys fk_idempotency_keys_user_id; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT fk_idempotency_keys_user_id FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE RESTRICT;


--
-- Name: ingestion_batch_delivery_counts fk_ingestion_batch_delivery_counts_batch_id; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_batch_delivery_counts
    ADD CONSTRAINT fk_ingestion_batch_delivery_counts_batch_id FOREIGN KEY (batch_id) REFERENCES public.ingestion_batches(id) ON DELETE RESTRICT;


--
-- Name: ingestion_batches fk_ingestion_batches_deleted_by; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_batches
    ADD CONSTRAINT fk_ingestion_batches_deleted_by FOREIGN KEY (deleted_by) REFERENCES public.users(id) ON DELETE RESTRICT;


--
-- Name: ingestion_batches fk_ingestion_batches_project_id; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_batches
    ADD CONSTRAINT fk_ingestion_batches_project_id FOREIGN KEY (project_id) REFERENCES public.projects(id) ON DELETE RESTRICT;


--
-- Name: ingestion_batches fk_ingestion_batches_schema_version; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_batches
    ADD CONSTRAINT fk_ingestion_batches_schema_version FOREIGN KEY (project_id, schema_version) REFERENCES public.project_schemas(project_id, version) ON DELETE RESTRICT;


--
-- Name: ingestion_batches fk_ingestion_batches_user_id; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_batches
    ADD CONSTRAINT fk_ingestion_batches_user_id FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE RESTRICT;


--
-- Name: ingestion_events fk_ingestion_events_actor_id; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_events
    ADD CONSTRAINT fk_ingestion_events_actor_id FOREIGN KEY (actor_id) REFERENCES public.users(id) ON DELETE RESTRICT;


--
-- Name: ingestion_events fk_ingestion_events_batch_id; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_events
    ADD CONSTRAINT fk_ingestion_events_batch_id FOREIGN KEY (batch_id) REFERENCES public.ingestion_batches(id) ON DELETE RESTRICT;


--
-- Name: ingestion_events fk_ingestion_events_row_id; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_events
    ADD CONSTRAINT fk_ingestion_events_row_id FOREIGN KEY (row_id) REFERENCES public.ingestion_rows(id) ON DELETE RESTRICT;


--
-- Name: ingestion_rows fk_ingestion_rows_batch_id; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ingestion_rows
    ADD CONSTRAINT fk_ingestion_rows_batch_id FOREIGN KEY (batch_id) REFERENCES public.ingestion_batches(id) ON DELETE RESTRICT;


--
-- Name: project_schemas fk_project_schemas_created_by; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.project_schemas
    ADD CONSTRAINT fk_project_schemas_created_by FOREIGN KEY (created_by) REFERENCES public.users(id) ON DELETE RESTRICT;


--
-- Name: project_schemas fk_project_schemas_project_id; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.project_schemas
    ADD CONSTRAINT fk_project_schemas_project_id FOREIGN KEY (project_id) REFERENCES public.projects(id) ON DELETE RESTRICT;


--
-- Name: projects fk_projects_deleted_by; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT fk_projects_deleted_by FOREIGN KEY (deleted_by) REFERENCES public.users(id) ON DELETE RESTRICT;


--
-- Name: projects fk_projects_user_id; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT fk_projects_user_id FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE RESTRICT;


--
-- PostgreSQL database dump complete
--

\unrestrict dbmate


--
-- Dbmate schema migrations
--

INSERT INTO public.schema_migrations (version) VALUES
    ('20261124200100'),
    ('20261124200200'),
    ('20261124200300'),
    ('20261124200400'),
    ('20261124200500'),
    ('20261124201000'),
    ('20261124211500'),
    ('20261125090000'),
    ('20261203110000'),
    ('20261203120000'),
    ('20261203120100'),
    ('20261203120200'),
    ('20261203120300'),
    ('20261203121000'),
    ('20261203122000'),
    ('20261203122100'),
    ('20261203122200'),
    ('20261203122300'),
    ('20261203122400'),
    ('20261203122500'),
    ('20261203123000'),
    ('20261203123100'),
    ('20261203123200'),
    ('20261203126000'),
    ('20261203126100'),
    ('20261203140000');
