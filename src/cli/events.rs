//! `plumb serve --events-queue-url`: the CloudTrail event path (see deploy/README-events.md).

use clap::Args;
use plumb_operator::cloudtrail::{self, Config};
use plumb_operator::metrics::Metrics;
use plumb_operator::reconcile::Reconciler;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// URL of the SQS queue an EventBridge rule fills with CloudTrail events of the services
    /// Plumb manages (deploy/eventbridge-rule.json). When set, an environment whose resource
    /// someone changes is reconciled at once and the change's drift names who made it; the
    /// resync still finds every drift without it.
    #[arg(long, env = "PLUMB_EVENTS_QUEUE_URL")]
    pub events_queue_url: Option<String>,
    /// Region of the event queue. Default: the server's default region (AWS_REGION).
    #[arg(long, env = "PLUMB_EVENTS_QUEUE_REGION")]
    pub events_queue_region: Option<String>,
}

/// Starts reading the event queue when one is given; it stops on `shutdown`.
pub fn start(
    args: EventsArgs,
    reconciler: &Reconciler,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Option<JoinHandle<()>> {
    let url = args.events_queue_url.filter(|url| !url.is_empty())?;
    let region = args.events_queue_region.unwrap_or_default();
    let config = Config {
        metrics: Some(metrics),
        ..Config::new(url, region)
    };
    Some(tokio::spawn(cloudtrail::run(
        reconciler.store.clone(),
        reconciler.aws.clone(),
        reconciler.counter.clone(),
        config,
        shutdown,
    )))
}
