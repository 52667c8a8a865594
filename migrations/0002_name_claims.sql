-- Name claims: every AWS name an environment derives, held by one environment at a time, so
-- that two environments never manage the same AWS resource. The key is the scope in which AWS
-- itself keeps a name unique.
CREATE TABLE name_claims (
    -- The 12-digit account id of spec.roleArn; '' for the account Plumb runs in.
    account         TEXT NOT NULL,
    region          TEXT NOT NULL,
    -- The kind of AWS name: ecs-cluster, ecs-service, task-family, log-group, alarm, ...
    namespace       TEXT NOT NULL,
    name            TEXT NOT NULL,
    -- A deleting environment keeps its claims (its resources still exist); they go with the
    -- row once teardown has finished.
    environment     TEXT NOT NULL REFERENCES environments (name) ON DELETE CASCADE,
    environment_uid UUID NOT NULL,
    PRIMARY KEY (account, region, namespace, name)
);

CREATE INDEX name_claims_environment_idx ON name_claims (environment);
