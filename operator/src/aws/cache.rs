//! What observation may remember between sweeps, keyed by ARN: task definition revisions
//! (immutable, so described once) and the owner a resource's tags name (re-read after a
//! while, in case someone retags it). Bounded: the oldest entries go first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::engine::{Observed, Owner};

/// How many entries each table keeps.
const CAPACITY: usize = 20_000;
/// How long an owner read from tags is trusted.
const OWNER_TTL: Duration = Duration::from_secs(3600);

/// Shared by every reconcile of one process; clones share the tables.
#[derive(Debug, Clone, Default)]
pub struct ArnCache {
    inner: Arc<Mutex<Tables>>,
}

#[derive(Debug, Default)]
struct Tables {
    revisions: Bounded<Observed>,
    owners: Bounded<(Owner, Instant)>,
}

impl ArnCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// A task definition revision described before.
    pub fn revision(&self, arn: &str) -> Option<Observed> {
        self.tables().revisions.get(arn).cloned()
    }

    pub fn put_revision(&self, arn: &str, observed: Observed) {
        self.tables().revisions.put(arn, observed);
    }

    /// The owner read from a resource's tags, while it is fresh.
    pub fn owner(&self, arn: &str) -> Option<Owner> {
        let tables = self.tables();
        let (owner, at) = tables.owners.get(arn)?;
        (at.elapsed() < OWNER_TTL).then(|| owner.clone())
    }

    pub fn put_owner(&self, arn: &str, owner: Owner) {
        self.tables().owners.put(arn, (owner, Instant::now()));
    }

    /// Forgets an owner (after Plumb tagged the resource).
    pub fn forget_owner(&self, arn: &str) {
        self.tables().owners.map.remove(arn);
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // The tables stay consistent whatever a panicking holder did: each write is one insert.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A map that drops its oldest insertions beyond [`CAPACITY`].
#[derive(Debug)]
struct Bounded<T> {
    map: HashMap<String, T>,
    order: VecDeque<String>,
}

impl<T> Default for Bounded<T> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<T> Bounded<T> {
    fn get(&self, key: &str) -> Option<&T> {
        self.map.get(key)
    }

    fn put(&mut self, key: &str, value: T) {
        if self.map.insert(key.to_owned(), value).is_none() {
            self.order.push_back(key.to_owned());
        }
        while self.map.len() > CAPACITY {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.map.remove(&oldest);
        }
        if self.order.len() > 2 * CAPACITY {
            // Keys removed by `forget_owner` linger in `order`; drop them now and then.
            let map = &self.map;
            self.order.retain(|k| map.contains_key(k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ResourceId, ResourceKind};

    #[test]
    fn holds_at_most_its_capacity_and_drops_the_oldest_first() {
        let mut table = Bounded::default();
        for i in 0..CAPACITY + 10 {
            table.put(&format!("arn:{i}"), i);
        }
        assert_eq!(table.map.len(), CAPACITY);
        assert!(table.get("arn:0").is_none());
        assert!(table.get("arn:9").is_none());
        assert_eq!(table.get("arn:10"), Some(&10));
        assert_eq!(
            table.get(&format!("arn:{}", CAPACITY + 9)),
            Some(&(CAPACITY + 9))
        );
    }

    #[test]
    fn owners_and_revisions_are_kept_by_arn() {
        let cache = ArnCache::new();
        cache.put_owner("arn:a", Owner::Other("prod-eu".into()));
        assert_eq!(cache.owner("arn:a"), Some(Owner::Other("prod-eu".into())));
        cache.forget_owner("arn:a");
        assert_eq!(cache.owner("arn:a"), None);
        let td = Observed::new(
            ResourceId::new(ResourceKind::TaskDefinition, "shop-api"),
            Some("arn:td:1".into()),
            Default::default(),
        );
        cache.put_revision("arn:td:1", td.clone());
        assert_eq!(cache.revision("arn:td:1"), Some(td));
    }
}
