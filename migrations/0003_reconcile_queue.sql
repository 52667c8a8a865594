-- The reconcile queue: one row per environment saying when it is next due and who is working
-- on it. Controllers claim due rows FOR UPDATE SKIP LOCKED and hold them under a lease they
-- heartbeat; a lease that expires (its holder died) lets another controller take the row.
CREATE TABLE reconcile_queue (
    name             TEXT PRIMARY KEY REFERENCES environments (name) ON DELETE CASCADE,
    -- When the environment is next due. A spec change, a delete request or a trigger moves it
    -- to now (earlier wins over later).
    next_run_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Who holds the lease (a controller's worker), for people reading the table.
    lease_owner      TEXT,
    -- The fencing token of the current lease: new on every claim, so a worker whose lease
    -- was taken over cannot act as the holder, even one with the same owner name.
    lease_token      UUID,
    lease_expires_at TIMESTAMPTZ,
    -- Reconciles that failed in a row (the backoff grows with it); 0 after a success.
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((lease_token IS NULL) = (lease_expires_at IS NULL))
);

CREATE INDEX reconcile_queue_next_run_idx ON reconcile_queue (next_run_at);

-- Environments stored before the queue existed are due at once.
INSERT INTO reconcile_queue (name) SELECT name FROM environments;
