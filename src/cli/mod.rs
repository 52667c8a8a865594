//! Command-line interface: `serve` and `migrate` run the server side; `apply`, `plan`,
//! `get`, `describe` and `delete` talk to a running server over its REST API.

mod client;
mod describe;
mod drift;
mod events;
mod files;
mod plan;
mod resources;
mod server;
mod wait;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use plumb_operator::aws::parse_account_id;
use plumb_operator::aws::sns::topic_region;
use plumb_operator::store::Role;
use tracing_subscriber::EnvFilter;

/// Plumb keeps AWS application environments true to their declared spec.
///
/// Declare an Environment (ECS services, PostgreSQL, Redis, RabbitMQ, alarms) in YAML, send it
/// with `plumb apply -f`, and Plumb stores it and keeps AWS matching it. Every flag can also be
/// set through the environment variable shown with it.
#[derive(Debug, Parser)]
#[command(name = "plumb", version, propagate_version = true)]
pub struct Cli {
    /// Log format for the server's logs (written to stderr).
    #[arg(long, env = "PLUMB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server (applies pending migrations first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Manage API tokens (talks to the database directly).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create or update environments from YAML/JSON files, a directory, or `-` for stdin.
    Apply(ApplyArgs),
    /// Show what reconciling the given files would change in AWS, changing nothing.
    Plan(PlanArgs),
    /// Show environments as a table, YAML or JSON.
    Get(GetArgs),
    /// Show an environment's conditions, resources and recent events.
    Describe(DescribeArgs),
    /// Request deletion of an environment.
    Delete(DeleteArgs),
    /// Open drift as a table, or `drift accept` to keep a console change.
    Drift(DriftArgs),
}

#[derive(Debug, Args)]
pub struct DbArgs {
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/plumb"
    )]
    pub database_url: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub events: events::EventsArgs,
    /// Address to listen on (port 0 picks a free port; the address is printed on stdout).
    #[arg(long, env = "PLUMB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "PLUMB_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Maximum database connections in the pool.
    #[arg(long, env = "PLUMB_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
    /// AWS account ids (comma-separated) whose roles environments may assume through
    /// `spec.roleArn`. Empty: only the account of Plumb's own credentials. A role in any other
    /// account is refused before it is assumed.
    #[arg(long, env = "PLUMB_ALLOWED_ACCOUNTS", value_delimiter = ',', value_parser = account_id)]
    pub allowed_accounts: Vec<String>,
    /// External id sent when assuming an environment's role, unless its `spec.externalId`
    /// names another. Empty: none.
    #[arg(long, env = "PLUMB_AWS_EXTERNAL_ID", hide_env_values = true)]
    pub aws_external_id: Option<String>,
    /// Run the controller, which keeps every environment reconciled (`--controller=false`
    /// for a replica that only serves the API). Replicas share the work through the
    /// database; any number may run.
    #[arg(
        long,
        env = "PLUMB_CONTROLLER",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub controller: bool,
    /// Environments this replica reconciles at once.
    #[arg(long, env = "PLUMB_WORKERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,
    /// Seconds in-flight reconciles may take to finish on shutdown before they are
    /// abandoned (their leases released for another replica).
    #[arg(long, env = "PLUMB_SHUTDOWN_GRACE_SECONDS", default_value_t = 20)]
    pub shutdown_grace_seconds: u64,
    /// Run the alert sender, which publishes drift and AWS-health alerts to SNS
    /// (`--alerts-sender=false` for a replica that sends none). Replicas share the alert
    /// outbox through the database; each alert is published by one of them.
    #[arg(
        long,
        env = "PLUMB_ALERTS_SENDER",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub alerts_sender: bool,
    /// SNS topic for the alerts of environments without `spec.alerts`, published with
    /// Plumb's own credentials. Empty: none; such alerts are kept unsent, for lack of a topic.
    #[arg(long, env = "PLUMB_ALERTS_TOPIC_ARN", value_parser = topic_arn)]
    pub alerts_topic_arn: Option<String>,
    /// Seconds a resolved drift (or a recovery from AWS failing) waits before it is
    /// announced; the same drift coming back meanwhile continues its episode instead.
    #[arg(long, env = "PLUMB_ALERT_QUIET_PERIOD_SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub alert_quiet_period_seconds: u64,
    /// More drifts than this opening (or resolving) in one sweep of one environment are
    /// announced as one summary.
    #[arg(long, env = "PLUMB_ALERT_SUMMARY_THRESHOLD", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub alert_summary_threshold: u16,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token and print it once on stdout.
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// viewer (read), editor (read and write environments) or admin (everything).
    #[arg(long, env = "PLUMB_TOKEN_ROLE")]
    pub role: Role,
    /// A name for the token, recorded as the actor of every change made with it.
    #[arg(long, env = "PLUMB_TOKEN_NAME", default_value = "cli")]
    pub name: String,
}

/// How to reach a running Plumb server.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Base URL of the Plumb server.
    #[arg(
        long,
        env = "PLUMB_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// API token (create one with `plumb token create`).
    #[arg(long, env = "PLUMB_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// A file, a directory (its *.yaml, *.yml and *.json files), or `-` for stdin. Repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Wait until each environment is Ready at the applied generation, showing each
    /// resource's progress as it changes; fail at once when it cannot become Ready without
    /// a change.
    #[arg(long, env = "PLUMB_WAIT")]
    pub wait: bool,
    /// With --wait: seconds to wait before giving up with the reason.
    #[arg(long, env = "PLUMB_WAIT_TIMEOUT", default_value_t = 600)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// A file, a directory, or `-` for stdin. Repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// `text` (a terraform-like diff) or `json`.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = PlanFormat::Text)]
    pub output: PlanFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlanFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    Table,
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// One environment; all of them when left out.
    pub name: Option<String>,
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Only environments whose labels match, e.g. `team=payments,tier!=dev`.
    #[arg(short = 'l', long = "selector")]
    pub selector: Option<String>,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    pub name: String,
    /// How many of the newest events to show.
    #[arg(long, default_value_t = 20)]
    pub events: u32,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    pub name: String,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DriftArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Only this environment's drift (every environment's when left out).
    pub name: Option<String>,
    /// Which records: open ones (default), resolved ones, or all.
    #[arg(long, value_enum, default_value_t = DriftStateArg::Open)]
    pub state: DriftStateArg,
    #[command(subcommand)]
    pub command: Option<DriftCommand>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DriftStateArg {
    Open,
    Resolved,
    All,
}

#[derive(Debug, Subcommand)]
pub enum DriftCommand {
    /// Take the observed value of an open drift into the spec (a new generation); the
    /// record resolves as accepted. Needs an editor token.
    Accept(DriftAcceptArgs),
}

#[derive(Debug, Args)]
pub struct DriftAcceptArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The environment.
    pub name: String,
    /// `kind/name` as `plumb drift` shows it, e.g. `ecs-service/shop-worker`.
    pub resource: String,
    /// The field as `plumb drift` shows it, e.g. `desiredCount`.
    pub field: String,
}

/// An SNS topic ARN; empty means none.
fn topic_arn(text: &str) -> Result<String, String> {
    let arn = text.trim();
    if arn.is_empty() || topic_region(arn).is_some() {
        Ok(arn.to_owned())
    } else {
        Err(format!(
            "{text:?} is not an SNS topic ARN (arn:aws:sns:us-east-1:123456789012:topic)"
        ))
    }
}

/// An AWS account id, or nothing (an empty list, a trailing comma).
fn account_id(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        Ok(String::new())
    } else {
        parse_account_id(text)
    }
}

pub fn telemetry(format: LogFormat) {
    let filter = EnvFilter::try_from_env("PLUMB_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => server::serve(args).await,
        Command::Migrate(args) => server::migrate(args).await,
        Command::Token(TokenCommand::Create(args)) => server::create_token(args).await,
        Command::Apply(args) => resources::apply(args).await,
        Command::Plan(args) => plan::plan(args).await,
        Command::Get(args) => resources::get(args).await,
        Command::Describe(args) => describe::describe(args).await,
        Command::Delete(args) => resources::delete(args).await,
        Command::Drift(args) => drift::drift(args).await,
    }
}
