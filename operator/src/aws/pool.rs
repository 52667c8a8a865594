//! Clients reused across reconciles and plans: one set per (region, role, external id), at
//! most [`CAPACITY`] sets, the least recently used dropped first. Loading credentials (and
//! assuming a role) happens once per set, not on every reconcile; the SDK refreshes them
//! inside a client as they expire.
//!
//! Every request passes the account allow-list before a role is assumed, cached or not, so
//! no environment reaches an account the server was not told it may act in.

use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use lru::LruCache;
use tokio::sync::OnceCell;

use aws_smithy_runtime_api::client::http::SharedHttpClient;

use super::accounts::role_account;
use super::clients::{self, AwsConfig, Budget, Clients, RoleToAssume};
use super::counter::CallCounter;
use super::error::AwsError;
use super::limits::Limits;

/// Client sets kept at most: far more (region, role) pairs than one server's environments
/// use, and small enough that a caller planning many made-up specs cannot grow memory.
pub const CAPACITY: NonZeroUsize = match NonZeroUsize::new(256) {
    Some(n) => n,
    None => panic!("the capacity is not zero"),
};

/// Whom the clients act as: an environment's region, role and external id.
#[derive(Debug, Clone, Copy, Default)]
pub struct Access<'a> {
    /// Empty: the config's default region.
    pub region: &'a str,
    /// Assumed through STS when given; its account must be allowed.
    pub role_arn: Option<&'a str>,
    /// Sent with the role; the config's default when `None`. Ignored without a role.
    pub external_id: Option<&'a str>,
}

/// An [`Access`] as the cache keys it: defaults filled in, nothing borrowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    region: String,
    role: Option<RoleToAssume>,
}

/// Clients by [`Access`], bounded, behind the account allow-list.
#[derive(Debug)]
pub struct ClientPool {
    config: AwsConfig,
    counter: CallCounter,
    cache: Mutex<LruCache<Key, Clients>>,
    /// The rate limit's buckets, shared by every client set acting in one account and region
    /// (they outlive evicted client sets).
    limits: Limits,
    /// One HTTPS client under all of them.
    http: SharedHttpClient,
    /// Plumb's own account, learnt once (when the allow-list is empty and a role is asked for).
    own_account: OnceCell<String>,
}

impl ClientPool {
    /// A pool of [`CAPACITY`] client sets, all counting into `counter`.
    pub fn new(config: AwsConfig, counter: CallCounter) -> Self {
        Self::with_capacity(config, counter, CAPACITY)
    }

    /// A pool of at most `capacity` client sets.
    pub fn with_capacity(config: AwsConfig, counter: CallCounter, capacity: NonZeroUsize) -> Self {
        Self {
            limits: Limits::new(config.rates, counter.clone()),
            http: clients::https_client(),
            config,
            counter,
            cache: Mutex::new(LruCache::new(capacity)),
            own_account: OnceCell::new(),
        }
    }

    /// Clients acting as `access`: the cached set, or a new one. A role whose account is not
    /// allowed is refused before anything is built or assumed.
    pub async fn get(&self, access: Access<'_>) -> Result<Clients, AwsError> {
        if let Some(role) = access.role_arn {
            self.admit(role).await?;
        }
        let key = self.key(access);
        let cached = self.cache().get(&key).cloned();
        if let Some(clients) = cached {
            return Ok(clients);
        }
        let budget = Budget {
            limits: &self.limits,
            http: &self.http,
            account: key.role.as_ref().and_then(|role| role_account(&role.arn)),
        };
        let clients = clients::build(
            &self.config,
            &key.region,
            key.role.as_ref(),
            self.counter.clone(),
            budget,
        )
        .await;
        self.cache().put(key, clients.clone());
        Ok(clients)
    }

    /// Whether clients for `access` are cached (without making them more recently used).
    pub fn contains(&self, access: Access<'_>) -> bool {
        self.cache().contains(&self.key(access))
    }

    /// Client sets cached now; never more than [`ClientPool::capacity`].
    pub fn len(&self) -> usize {
        self.cache().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn capacity(&self) -> usize {
        self.cache().cap().get()
    }

    /// Fails unless `role_arn` is in an allowed account: one of the configured accounts, or
    /// when none is configured, the account of Plumb's own credentials.
    async fn admit(&self, role_arn: &str) -> Result<(), AwsError> {
        let Some(account) = role_account(role_arn) else {
            return Err(AwsError::RoleArn {
                role_arn: role_arn.to_owned(),
            });
        };
        let allowed = if self.config.allowed_accounts.is_empty() {
            account == self.own_account().await?
        } else {
            self.config.allowed_accounts.contains(account)
        };
        if allowed {
            Ok(())
        } else {
            tracing::warn!(
                role_arn,
                account,
                "refused a role outside the allowed accounts"
            );
            Err(AwsError::AccountNotAllowed {
                role_arn: role_arn.to_owned(),
                account: account.to_owned(),
            })
        }
    }

    /// Plumb's own account, asked of STS the first time only (a failure is not remembered).
    async fn own_account(&self) -> Result<&str, AwsError> {
        let account = self
            .own_account
            .get_or_try_init(|| async {
                let caller = clients::caller_identity(&self.config, self.counter.clone()).await?;
                Ok::<_, AwsError>(caller.account)
            })
            .await?;
        Ok(account)
    }

    fn key(&self, access: Access<'_>) -> Key {
        let region = if access.region.is_empty() {
            &self.config.default_region
        } else {
            access.region
        };
        let role = access.role_arn.map(|arn| RoleToAssume {
            arn: arn.to_owned(),
            external_id: access
                .external_id
                .or(self.config.external_id.as_deref())
                .map(str::to_owned),
        });
        Key {
            region: region.to_owned(),
            role,
        }
    }

    fn cache(&self) -> MutexGuard<'_, LruCache<Key, Clients>> {
        // The cache stays consistent whatever a panicking holder did: each call is one
        // lookup or one insert.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Clients for `region` (the config's default when empty), as `role_arn` when given, with the
/// config's external id: a pool of one, for one-off use. The role's account is checked like
/// any other.
pub async fn clients_for(
    config: &AwsConfig,
    region: &str,
    role_arn: Option<&str>,
    counter: CallCounter,
) -> Result<Clients, AwsError> {
    let pool = ClientPool::with_capacity(config.clone(), counter, NonZeroUsize::MIN);
    pool.get(Access {
        region,
        role_arn,
        external_id: None,
    })
    .await
}
