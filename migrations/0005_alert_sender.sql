-- What the alert sender needs beyond the outbox itself.

-- Never to be sent: there is no topic to send it to (neither spec.alerts nor the server's
-- --alerts-topic-arn); last_error says so. Kept for the record, not retried.
ALTER TABLE alert_outbox ADD COLUMN unsendable_at TIMESTAMPTZ;

-- The sender's claim: due rows still to send, and per environment the earlier rows that
-- must go first.
DROP INDEX alert_outbox_due_idx;
CREATE INDEX alert_outbox_due_idx ON alert_outbox (not_before)
    WHERE sent_at IS NULL AND cancelled_at IS NULL AND unsendable_at IS NULL;
CREATE INDEX alert_outbox_unsent_idx ON alert_outbox (environment, id)
    WHERE sent_at IS NULL AND cancelled_at IS NULL AND unsendable_at IS NULL;
