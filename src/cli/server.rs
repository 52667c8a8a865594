//! The server side: `serve`, `migrate`, `token create`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use plumb_api::{ApiConfig, AppState, Application};
use plumb_operator::alerts::{sender, AlertConfig};
use plumb_operator::aws::{AwsConfig, ClientPool};
use plumb_operator::controller::{Config as ControllerConfig, Controller};
use plumb_operator::store::Store;
use plumb_operator::validate::external_id_problem;
use tokio_util::sync::CancellationToken;

use super::{events, DbArgs, ServeArgs, TokenCreateArgs};

async fn connect(db: &DbArgs, max_connections: u32) -> anyhow::Result<Store> {
    Store::connect(&db.database_url, max_connections)
        .await
        .context("cannot connect to the database (set --database-url or DATABASE_URL)")
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Checked before anything else, so a bad flag fails fast.
    let aws = aws_config(args.allowed_accounts, args.aws_external_id)?;
    let store = connect(&args.db, args.db_max_connections).await?;
    store.migrate().await.context("cannot apply migrations")?;
    let config = ApiConfig {
        max_body_bytes: args.max_body_bytes,
        ..ApiConfig::default()
    };
    let alerts = AlertConfig {
        default_topic: args.alerts_topic_arn.filter(|arn| !arn.is_empty()),
        quiet_period: Duration::from_secs(args.alert_quiet_period_seconds),
        summary_threshold: usize::from(args.alert_summary_threshold),
    };
    let state = AppState::new(store.clone(), config, aws)
        .context("cannot define the metrics")?
        .with_alerts(alerts.clone());
    let reconciler = state.reconciler.clone();
    let metrics = state.metrics.clone();
    let app = Application::build(args.listen, state)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = app.local_addr()?;
    println!("plumb listening on http://{addr}");
    tracing::info!(%addr, "serving");

    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let alert_sender = args.alerts_sender.then(|| {
        if alerts.default_topic.is_none() {
            tracing::info!(
                "no --alerts-topic-arn: alerts of environments without spec.alerts are not sent"
            );
        }
        // Clients of its own, acting as the reconciler's do and counted with them.
        let clients = ClientPool::new(reconciler.aws.clone(), reconciler.counter.clone());
        tokio::spawn(sender::run(
            store.clone(),
            Arc::new(clients),
            alerts.clone(),
            Some(metrics.clone()),
            shutdown.clone(),
        ))
    });
    if alert_sender.is_none() {
        tracing::info!("alert sender off (--alerts-sender=false): this replica sends no alerts");
    }
    let events = events::start(args.events, &reconciler, metrics.clone(), shutdown.clone());
    let controller = args.controller.then(|| {
        let config = ControllerConfig {
            workers: usize::from(args.workers),
            grace: Duration::from_secs(args.shutdown_grace_seconds),
            metrics: Some(metrics),
            ..ControllerConfig::new(replica_name())
        };
        let controller = Controller::new(store, reconciler, config);
        tokio::spawn(controller.run(shutdown.clone()))
    });
    if controller.is_none() {
        tracing::info!("controller off (--controller=false): serving the API only");
    }
    let served = app.run(shutdown.clone()).await;
    // The HTTP server may stop on its own (an accept error): stop the others too.
    shutdown.cancel();
    if let Some(events) = events {
        events
            .await
            .context("the CloudTrail event path stopped abnormally")?;
    }
    if let Some(controller) = controller {
        controller
            .await
            .context("the controller stopped abnormally")?;
    }
    if let Some(alert_sender) = alert_sender {
        alert_sender
            .await
            .context("the alert sender stopped abnormally")?;
    }
    served?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// This replica's name in the leases it holds: the host (a container's name) and a random
/// suffix, so two replicas on one host differ.
fn replica_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "plumb".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}", &suffix[..8])
}

/// AWS settings: the environment's (endpoint, region) plus the flags' allow-list and default
/// external id. Empty values mean none; a bad external id is refused without repeating it.
fn aws_config(
    allowed_accounts: Vec<String>,
    external_id: Option<String>,
) -> anyhow::Result<AwsConfig> {
    let external_id = external_id.filter(|id| !id.is_empty());
    if let Some(problem) = external_id.as_deref().and_then(external_id_problem) {
        anyhow::bail!("--aws-external-id (PLUMB_AWS_EXTERNAL_ID) {problem}");
    }
    let aws = AwsConfig {
        allowed_accounts: allowed_accounts
            .into_iter()
            .filter(|account| !account.is_empty())
            .collect(),
        external_id,
        ..AwsConfig::from_env()
    };
    if let Some(endpoint) = &aws.endpoint_url {
        tracing::info!(%endpoint, "AWS endpoint override");
    }
    if aws.allowed_accounts.is_empty() {
        tracing::info!("roles may be assumed only in the account of Plumb's own credentials");
    } else {
        let accounts: Vec<&str> = aws.allowed_accounts.iter().map(String::as_str).collect();
        tracing::info!(accounts = %accounts.join(","), "roles may be assumed in these accounts");
    }
    Ok(aws)
}

/// Cancels `token` on SIGTERM or Ctrl-C.
async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested; finishing in-flight requests and reconciles");
    token.cancel();
}

pub async fn migrate(args: DbArgs) -> anyhow::Result<ExitCode> {
    let store = connect(&args, 2).await?;
    store.migrate().await.context("cannot apply migrations")?;
    eprintln!("migrations applied");
    Ok(ExitCode::SUCCESS)
}

pub async fn create_token(args: TokenCreateArgs) -> anyhow::Result<ExitCode> {
    let store = connect(&args.db, 2).await?;
    store.migrate().await.context("cannot apply migrations")?;
    let new = store.create_token(&args.name, args.role).await?;
    eprintln!(
        "created {} token {:?} ({}); it is shown only now:",
        new.token.role, new.token.name, new.token.id
    );
    println!("{}", new.secret);
    Ok(ExitCode::SUCCESS)
}
