-- Drift as records with a history, the alert outbox that turns their changes into SNS
-- messages, and the actors the CloudTrail event path names.

-- What Plumb last applied, per resource: the desired value of every managed field the last
-- time the resource was seen to hold it (written or matching), and the generation. A field
-- that differs while its applied value is still the desired one is drift; one the spec
-- changed since is pending.
CREATE TABLE applied_fields (
    environment TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
    -- kind/name, e.g. ecs-service/shop-api
    resource    TEXT NOT NULL,
    generation  BIGINT NOT NULL,
    fields      JSONB NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (environment, resource)
);

-- One row per drifted field and episode. Kept after the environment is gone, like events.
CREATE TABLE drift (
    id              BIGSERIAL PRIMARY KEY,
    environment     TEXT NOT NULL,
    environment_uid UUID NOT NULL,
    -- kind/name, e.g. ecs-service/shop-api
    resource        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    -- The managed field (desiredCount), or `exists` for a resource deleted out of band.
    field           TEXT NOT NULL,
    -- Where the spec sets it (ecs.services.api.desiredCount), when one place does.
    spec_path       TEXT,
    desired         JSONB,
    observed        JSONB,
    first_seen      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen       TIMESTAMPTZ NOT NULL DEFAULT now(),
    state           TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    resolution      TEXT CHECK (resolution IN ('corrected', 'spec-changed', 'gone', 'accepted')),
    resolved_at     TIMESTAMPTZ,
    -- Times it came back within the alert quiet period after resolving.
    flaps           INTEGER NOT NULL DEFAULT 0,
    -- Who made the change, from CloudTrail: arn, type, sourceIPAddress, userAgent,
    -- eventName, eventTime.
    actor           JSONB,
    CHECK ((state = 'open') = (resolution IS NULL)),
    CHECK ((state = 'open') = (resolved_at IS NULL))
);

CREATE UNIQUE INDEX drift_open_idx ON drift (environment, resource, field) WHERE state = 'open';
CREATE INDEX drift_environment_idx ON drift (environment, id);
CREATE INDEX drift_state_idx ON drift (state, id);

-- Alerts to publish to SNS, written in the transaction of the change they announce. A sender
-- claims due rows, publishes, and marks them sent: a crash between the two may repeat one
-- message, never lose one.
CREATE TABLE alert_outbox (
    id              BIGSERIAL PRIMARY KEY,
    environment     TEXT NOT NULL,
    environment_uid UUID NOT NULL,
    -- opened | resolved | degraded | recovered
    state           TEXT NOT NULL,
    -- The resource kind (ecs-service, db-instance), `summary`, or `aws`.
    kind            TEXT NOT NULL,
    -- kind/name of the resource a drift alert is about; NULL for summaries and outages.
    resource        TEXT,
    -- The drift records it announces.
    records         BIGINT[] NOT NULL DEFAULT '{}',
    severity        TEXT NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    -- NULL: the server's default topic.
    topic_arn       TEXT,
    -- How the topic is reached: the environment's role, when it has one.
    role_arn        TEXT,
    external_id     TEXT,
    -- environment + resource + field set + values: a resolve withdrawn when the same drift
    -- comes back within the quiet period is found by it.
    fingerprint     TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Not sent before (a resolve waits out the quiet period; a failed send backs off).
    not_before      TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    sent_at         TIMESTAMPTZ,
    message_id      TEXT,
    -- Withdrawn before it was sent (the drift or the outage came back within the quiet
    -- period); the message it would have resolved stays the episode's only one.
    cancelled_at    TIMESTAMPTZ
);

CREATE INDEX alert_outbox_due_idx ON alert_outbox (not_before)
    WHERE sent_at IS NULL AND cancelled_at IS NULL;
CREATE INDEX alert_outbox_environment_idx ON alert_outbox (environment, id);

-- Environments whose last reconcile failed because AWS itself did (throttling, 5xx,
-- credentials): one `degraded` alert when the row appears, one `recovered` when it goes.
CREATE TABLE aws_health (
    environment     TEXT PRIMARY KEY REFERENCES environments (name) ON DELETE CASCADE,
    environment_uid UUID NOT NULL,
    degraded_since  TIMESTAMPTZ NOT NULL DEFAULT now(),
    reason          TEXT NOT NULL
);

-- Who changed a resource, from CloudTrail events, until a reconcile attaches it to the
-- drift it finds (or it ages out).
CREATE TABLE drift_actors (
    id          BIGSERIAL PRIMARY KEY,
    environment TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
    resource    TEXT NOT NULL,
    actor       JSONB NOT NULL,
    event_time  TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX drift_actors_resource_idx ON drift_actors (environment, resource, event_time);
