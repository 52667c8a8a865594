//! The Postgres desired-state store.
//!
//! Writes use optimistic concurrency: a caller that names a resourceVersion only writes over
//! exactly that version; a stale one is a [`StoreError::Conflict`], never a silent overwrite.
//! A write whose derived AWS names another environment holds is a [`StoreError::NameClaimed`].

mod actors;
mod alerts;
mod claims;
pub(crate) mod drift;
mod environments;
mod events;
mod notifications;
mod selector;
mod status;
mod tokens;

pub use alerts::{Claim, OutboxAlert};
pub use drift::{AppliedChanges, DriftFilter, SweepCounts, ALERTS_CHANNEL};
pub use environments::{Page, WriteOutcome, RELEASED};
pub use events::Event;
pub(crate) use notifications::listen;
pub use selector::{LabelSelector, SelectorError};
pub use status::{DriftWrite, Health};
pub use tokens::{NewToken, Role, Token};

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::names::claims::Namespace;

/// Embedded migrations from the workspace's `migrations/` folder.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("environment {0:?} not found")]
    NotFound(String),
    #[error("environment {0:?} already exists")]
    AlreadyExists(String),
    #[error("environment {name:?} was modified: resourceVersion is {current}, the request expected {expected}")]
    Conflict {
        name: String,
        current: i64,
        expected: i64,
    },
    /// A name the environment derives is held by another environment.
    #[error("AWS name {name:?} ({namespace}) is already used by environment {holder:?}")]
    NameClaimed {
        name: String,
        namespace: Namespace,
        holder: String,
    },
    #[error("environment {0:?} is being deleted")]
    Deleting(String),
    /// A drift record resolved while it was being accepted.
    #[error("drift of {resource} {field} was resolved meanwhile")]
    DriftResolved { resource: String, field: String },
    #[error("stored data for {0:?} cannot be read: {1}")]
    Corrupt(String, String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// A static label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::AlreadyExists(_) => "already_exists",
            Self::Conflict { .. } => "conflict",
            Self::NameClaimed { .. } => "name_claimed",
            Self::Deleting(_) => "deleting",
            Self::DriftResolved { .. } => "drift_resolved",
            Self::Corrupt(..) => "corrupt",
            Self::Database(_) => "database",
            Self::Migrate(_) => "migrate",
        }
    }
}

/// Handle on the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// Connects lazily-validated to `url` with a bounded pool.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations; safe to run from several replicas at once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
