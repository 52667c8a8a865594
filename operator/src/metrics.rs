//! Plumb's Prometheus metrics: what the controller did, what the queue holds, what AWS was
//! asked, which alerts went out. Every label value is static or comes from a bounded set (error kinds, the SDK's
//! service and operation names, Ready reasons Plumb writes), never from free text.
//!
//! Counters the controller, the alert sender and the AWS clients bump as they work; gauges of
//! the queue, the environments and the alert outbox are read from the database when scraped ([`Metrics::render`]). A scrape
//! while the database cannot be read still answers, with `plumb_database_up 0` and without
//! those gauges, rather than failing or repeating stale values.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Gauge, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use strum::VariantArray;

use crate::alerts::sender::Delivery;
use crate::alerts::AlertState;
use crate::aws::CallCounter;
use crate::cloudtrail::EventOutcome;
use crate::controller::{Queue, Step};
use crate::store::{Store, StoreError, SweepCounts};

/// Seconds from an out-of-band change (its CloudTrail event time) to its drift record.
const DETECTION_BUCKETS: &[f64] = &[1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0];

/// Reconcile durations, in seconds: from a no-op sweep to a long teardown.
const DURATION_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// The metrics of one replica; clones share them.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    /// CloudTrail event messages by outcome.
    events: IntCounterVec,
    /// What this replica counts itself.
    registry: Registry,
    /// What is read from the database when scraped.
    database: Registry,
    database_up: IntGauge,
    reconciles: IntCounterVec,
    duration: Histogram,
    leases_held: IntGauge,
    queue_depth: IntGauge,
    queue_oldest_due: Gauge,
    queue_leased: IntGauge,
    environments: IntGaugeVec,
    drift_episodes: IntCounterVec,
    drift_detection: Histogram,
    drift_open: IntGaugeVec,
    alerts_sent: IntCounterVec,
    alerts_pending: IntGauge,
    /// One scrape at a time sets the gauges read from the database.
    scrape: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics that also report the AWS calls `calls` counted. Fails only if a metric's
    /// static name or labels were invalid (a unit test builds them).
    pub fn new(calls: CallCounter) -> Result<Self, prometheus::Error> {
        let reconciles = IntCounterVec::new(
            Opts::new(
                "plumb_reconciles_total",
                "Reconcile steps by result (reconciled, failed, lease_lost, abandoned) and \
                 error kind (none unless failed).",
            ),
            &["result", "error"],
        )?;
        let duration = Histogram::with_opts(
            HistogramOpts::new(
                "plumb_reconcile_duration_seconds",
                "Time one reconcile took, from claiming the environment to its result.",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
        )?;
        let leases_held = IntGauge::new(
            "plumb_leases_held",
            "Environments this replica holds a lease on now.",
        )?;
        let queue_depth = IntGauge::new(
            "plumb_queue_depth",
            "Environments due now and not leased, across all replicas.",
        )?;
        let queue_oldest_due = Gauge::new(
            "plumb_queue_oldest_due_seconds",
            "How long the longest-waiting due environment has been due (0 when none is).",
        )?;
        let queue_leased = IntGauge::new(
            "plumb_queue_leased",
            "Environments under a live lease, across all replicas.",
        )?;
        let environments = IntGaugeVec::new(
            Opts::new(
                "plumb_environments",
                "Environments by the reason of their Ready condition (Pending before the first \
                 reconcile).",
            ),
            &["reason"],
        )?;
        let drift_episodes = IntCounterVec::new(
            Opts::new(
                "plumb_drift_episodes_total",
                "Drifted fields by what happened to their record (opened, resolved, flapped: \
                 came back within the alert quiet period).",
            ),
            &["event"],
        )?;
        let drift_detection = Histogram::with_opts(
            HistogramOpts::new(
                "plumb_drift_detection_seconds",
                "Time from an out-of-band change (its CloudTrail event) to its drift record.",
            )
            .buckets(DETECTION_BUCKETS.to_vec()),
        )?;
        let drift_open = IntGaugeVec::new(
            Opts::new(
                "plumb_drift_open",
                "Open drift records by environment and resource kind.",
            ),
            &["environment", "kind"],
        )?;
        let alerts_sent = IntCounterVec::new(
            Opts::new(
                "plumb_alerts_sent_total",
                "Alert publishes by the alert's state (opened, resolved, degraded, recovered) and \
                 result (sent, failed, no-topic).",
            ),
            &["state", "result"],
        )?;
        let alerts_pending = IntGauge::new(
            "plumb_alerts_pending",
            "Alerts in the outbox still to be sent, due or waiting (a quiet period, a retry), \
             across all replicas.",
        )?;
        let database_up = IntGauge::new(
            "plumb_database_up",
            "1 when this scrape could read the queue, the environments and the alert outbox \
             from Postgres.",
        )?;
        let registry = Registry::new();
        let own: [Box<dyn Collector>; 8] = [
            Box::new(drift_episodes.clone()),
            Box::new(drift_detection.clone()),
            Box::new(reconciles.clone()),
            Box::new(alerts_sent.clone()),
            Box::new(duration.clone()),
            Box::new(leases_held.clone()),
            Box::new(database_up.clone()),
            Box::new(AwsCalls::new(calls)?),
        ];
        for collector in own {
            registry.register(collector)?;
        }
        let events = events_counter()?;
        registry.register(Box::new(events.clone()))?;
        let database = Registry::new();
        let read: [Box<dyn Collector>; 6] = [
            Box::new(drift_open.clone()),
            Box::new(queue_depth.clone()),
            Box::new(queue_oldest_due.clone()),
            Box::new(queue_leased.clone()),
            Box::new(environments.clone()),
            Box::new(alerts_pending.clone()),
        ];
        for collector in read {
            database.register(collector)?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                events,
                registry,
                database,
                database_up,
                reconciles,
                duration,
                leases_held,
                queue_depth,
                queue_oldest_due,
                queue_leased,
                environments,
                drift_episodes,
                drift_detection,
                drift_open,
                alerts_sent,
                alerts_pending,
                scrape: tokio::sync::Mutex::new(()),
            }),
        })
    }
}

impl Metrics {
    /// One reconcile step's result, and how long a reconcile took when one ran.
    pub fn reconciled(&self, step: Step, took: Option<std::time::Duration>) {
        let (result, error) = match step {
            Step::Reconciled => ("reconciled", "none"),
            Step::Failed(kind) => ("failed", kind),
            Step::LeaseLost => ("lease_lost", "none"),
            Step::Abandoned => ("abandoned", "none"),
            Step::NotClaimed => return,
        };
        self.inner
            .reconciles
            .with_label_values(&[result, error])
            .inc();
        if let Some(took) = took {
            self.inner.duration.observe(took.as_secs_f64());
        }
    }

    /// One CloudTrail event message handled (or dropped), by what became of it.
    pub fn event(&self, outcome: EventOutcome) {
        self.inner
            .events
            .with_label_values(&[outcome.as_str()])
            .inc();
    }

    /// What one reconcile's drift did.
    pub fn drift_swept(&self, counts: &SweepCounts) {
        let episodes = &self.inner.drift_episodes;
        for (event, n) in [
            ("opened", counts.opened),
            ("resolved", counts.resolved),
            ("flapped", counts.flapped),
        ] {
            episodes.with_label_values(&[event]).inc_by(n as u64);
        }
        for seconds in &counts.detected_after {
            self.inner.drift_detection.observe(*seconds);
        }
    }

    /// One publish of an alert in `state` (None: a state Plumb does not write) and its result.
    pub fn alert(&self, state: Option<AlertState>, delivery: Delivery) {
        let state = state.map_or("other", AlertState::as_str);
        self.inner
            .alerts_sent
            .with_label_values(&[state, delivery.as_str()])
            .inc();
    }

    /// Counts a lease this replica holds until the returned guard is dropped.
    pub fn lease_held(&self) -> HeldLease {
        self.inner.leases_held.inc();
        HeldLease(self.inner.leases_held.clone())
    }

    /// Every metric in Prometheus's text format, with the queue and environment gauges read
    /// from the database now (left out, with `plumb_database_up 0`, when it cannot be read).
    pub async fn render(&self, store: &Store) -> String {
        let _one_scrape = self.inner.scrape.lock().await;
        let read = self.read_database(store).await;
        if let Err(e) = &read {
            tracing::warn!(error = %e, "metrics: cannot read the queue, environments and alert outbox");
        }
        self.inner.database_up.set(i64::from(read.is_ok()));
        let mut families = self.inner.registry.gather();
        if read.is_ok() {
            families.extend(self.inner.database.gather());
        }
        encode(&families)
    }

    async fn read_database(&self, store: &Store) -> Result<(), StoreError> {
        let queue = Queue::new(store.pool().clone()).stats().await?;
        self.inner.queue_depth.set(queue.due);
        self.inner
            .queue_oldest_due
            .set(queue.oldest_due.as_secs_f64());
        self.inner.queue_leased.set(queue.leased);
        let open = store.open_drift_counts().await?;
        self.inner.drift_open.reset();
        for (environment, kind, count) in open {
            self.inner
                .drift_open
                .with_label_values(&[environment.as_str(), kind.as_str()])
                .set(count);
        }
        let reasons = store.ready_reasons().await?;
        self.inner.environments.reset();
        for (reason, count) in reasons {
            self.inner
                .environments
                .with_label_values(&[reason.as_str()])
                .set(count);
        }
        self.inner.alerts_pending.set(store.alerts_pending().await?);
        Ok(())
    }
}

/// `plumb_events_total{outcome}`, every outcome present from the start (at 0).
fn events_counter() -> Result<IntCounterVec, prometheus::Error> {
    let events = IntCounterVec::new(
        Opts::new(
            "plumb_events_total",
            "CloudTrail event messages read from the queue, by outcome (matched, own, \
             aws-service, read-only, foreign, ignored, unparseable, failed).",
        ),
        &["outcome"],
    )?;
    for outcome in EventOutcome::VARIANTS {
        events.with_label_values(&[outcome.as_str()]);
    }
    Ok(events)
}

/// One lease in `plumb_leases_held`, for as long as it lives.
#[derive(Debug)]
pub struct HeldLease(IntGauge);

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn encode(families: &[MetricFamily]) -> String {
    let mut text = String::new();
    // Encoding into a String fails only on invalid metric families, which the registry
    // already refused at registration.
    if let Err(e) = TextEncoder::new().encode_utf8(families, &mut text) {
        tracing::warn!(error = %e, "cannot encode metrics");
    }
    text
}

/// `plumb_aws_calls_total` and `plumb_aws_calls_delayed_total`, read from the call counter
/// when scraped.
struct AwsCalls {
    calls: CallCounter,
    descs: Vec<Desc>,
}

const CALLS: &str = "plumb_aws_calls_total";
const CALLS_HELP: &str = "AWS API attempts by service, operation and outcome (ok, error, \
                          throttled); a retried call counts once per attempt.";
const DELAYED: &str = "plumb_aws_calls_delayed_total";
const DELAYED_HELP: &str = "AWS API attempts that waited for Plumb's own rate limit, by service.";

impl AwsCalls {
    fn new(calls: CallCounter) -> Result<Self, prometheus::Error> {
        let labels = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        let descs = vec![
            Desc::new(
                CALLS.to_owned(),
                CALLS_HELP.to_owned(),
                labels(&["service", "operation", "outcome"]),
                Default::default(),
            )?,
            Desc::new(
                DELAYED.to_owned(),
                DELAYED_HELP.to_owned(),
                labels(&["service"]),
                Default::default(),
            )?,
        ];
        Ok(Self { calls, descs })
    }
}

impl Collector for AwsCalls {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let calls = IntCounterVec::new(
            Opts::new(CALLS, CALLS_HELP),
            &["service", "operation", "outcome"],
        );
        let delayed = IntCounterVec::new(Opts::new(DELAYED, DELAYED_HELP), &["service"]);
        let (Ok(calls), Ok(delayed)) = (calls, delayed) else {
            return Vec::new();
        };
        for ((service, operation, outcome), n) in self.calls.snapshot() {
            calls
                .with_label_values(&[service.as_str(), operation.as_str(), outcome.as_str()])
                .inc_by(n);
        }
        for (service, n) in self.calls.delayed() {
            delayed.with_label_values(&[service.as_str()]).inc_by(n);
        }
        let mut families = calls.collect();
        families.extend(delayed.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::CallOutcome;

    #[test]
    fn every_metric_registers_and_aws_calls_are_read_when_gathered() {
        let calls = CallCounter::new();
        let metrics = Metrics::new(calls.clone()).expect("valid metrics");
        calls.record("ECS", "DescribeServices", CallOutcome::Ok);
        calls.record("ECS", "DescribeServices", CallOutcome::Ok);
        calls.record("CloudWatch", "DescribeAlarms", CallOutcome::Throttled);
        calls.record_delayed("ECS");
        metrics.reconciled(
            Step::Failed("throttled"),
            Some(std::time::Duration::from_secs(2)),
        );
        metrics.reconciled(Step::NotClaimed, None);
        let held = metrics.lease_held();
        metrics.alert(Some(AlertState::Opened), Delivery::Sent);
        metrics.alert(Some(AlertState::Resolved), Delivery::NoTopic);
        metrics.alert(None, Delivery::Failed);
        let text = encode(&metrics.inner.registry.gather());
        for line in [
            "plumb_aws_calls_total{operation=\"DescribeServices\",outcome=\"ok\",service=\"ECS\"} 2",
            "plumb_aws_calls_total{operation=\"DescribeAlarms\",outcome=\"throttled\",service=\"CloudWatch\"} 1",
            "plumb_aws_calls_delayed_total{service=\"ECS\"} 1",
            "plumb_reconciles_total{error=\"throttled\",result=\"failed\"} 1",
            "plumb_reconcile_duration_seconds_count 1",
            "plumb_leases_held 1",
            "plumb_alerts_sent_total{result=\"sent\",state=\"opened\"} 1",
            "plumb_alerts_sent_total{result=\"no-topic\",state=\"resolved\"} 1",
            "plumb_alerts_sent_total{result=\"failed\",state=\"other\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        drop(held);
        let text = encode(&metrics.inner.registry.gather());
        assert!(text.lines().any(|l| l == "plumb_leases_held 0"), "{text}");
    }

    #[test]
    fn events_are_counted_by_outcome_each_outcome_shown_from_the_start() {
        let metrics = Metrics::new(CallCounter::new()).expect("valid metrics");
        metrics.event(EventOutcome::Matched);
        metrics.event(EventOutcome::Matched);
        metrics.event(EventOutcome::AwsService);
        let text = encode(&metrics.inner.registry.gather());
        for line in [
            "plumb_events_total{outcome=\"matched\"} 2",
            "plumb_events_total{outcome=\"aws-service\"} 1",
            "plumb_events_total{outcome=\"own\"} 0",
            "plumb_events_total{outcome=\"read-only\"} 0",
            "plumb_events_total{outcome=\"foreign\"} 0",
            "plumb_events_total{outcome=\"ignored\"} 0",
            "plumb_events_total{outcome=\"unparseable\"} 0",
            "plumb_events_total{outcome=\"failed\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }
}
