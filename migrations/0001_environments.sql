-- The desired-state store: environments, their status, the audit history and API tokens.

-- One counter for every write, so a resourceVersion is never reused, not even by an
-- environment deleted and created again under the same name.
CREATE SEQUENCE resource_version_seq;

CREATE TABLE environments (
    name             TEXT PRIMARY KEY,
    uid              UUID NOT NULL UNIQUE,
    labels           JSONB NOT NULL DEFAULT '{}'::jsonb,
    spec             JSONB NOT NULL,
    -- Bumped only when the spec changes.
    generation       BIGINT NOT NULL DEFAULT 1,
    -- Bumped on every write.
    resource_version BIGINT NOT NULL DEFAULT nextval('resource_version_seq'),
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when deletion was requested; the row goes once teardown has finished.
    deleting_at      TIMESTAMPTZ
);

CREATE INDEX environments_labels_idx ON environments USING gin (labels jsonb_path_ops);

CREATE TABLE environment_status (
    name                TEXT PRIMARY KEY REFERENCES environments (name) ON DELETE CASCADE,
    observed_generation BIGINT,
    conditions          JSONB NOT NULL DEFAULT '[]'::jsonb,
    resources           JSONB NOT NULL DEFAULT '{}'::jsonb,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Audit history: who changed what, when. Kept after the environment is gone.
CREATE TABLE events (
    id               BIGSERIAL PRIMARY KEY,
    environment      TEXT NOT NULL,
    environment_uid  UUID NOT NULL,
    at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor            TEXT NOT NULL,
    action           TEXT NOT NULL,
    generation       BIGINT,
    resource_version BIGINT,
    message          TEXT NOT NULL DEFAULT ''
);

CREATE INDEX events_environment_idx ON events (environment, id);

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
    -- SHA-256 of the token; the token itself is shown once and never stored.
    token_hash   BYTEA NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ
);
