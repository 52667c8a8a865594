//! When things come due: a replica's own view of the queue, keyed by environment. A second
//! request for a key that is already scheduled keeps the earlier time, so duplicate
//! requests collapse into one run. The queue in Postgres stays the truth: what comes due
//! here is only tried, and claimed there.
//!
//! Also the waits themselves: every requeue varies by up to ±10 %, so environments created
//! together do not stay in lockstep, sweep after sweep.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// How far a wait may vary either way, as a fraction of it.
pub const JITTER: f64 = 0.1;

/// `wait` moved by `unit` (in −1..=1) times [`JITTER`] of itself: 0 keeps it, ±1 moves it by
/// the full tenth.
pub fn jittered(wait: Duration, unit: f64) -> Duration {
    wait.mul_f64(1.0 + JITTER * unit.clamp(-1.0, 1.0))
}

/// `wait` ± up to 10 %, at random.
pub fn jitter(wait: Duration) -> Duration {
    jittered(wait, rand::rng().random_range(-1.0..=1.0))
}

/// Keys and when each is due; the earliest request for a key wins.
#[derive(Debug)]
pub struct Scheduler<K> {
    due: HashMap<K, Instant>,
    order: BTreeSet<(Instant, K)>,
}

impl<K: Clone + Eq + Hash + Ord> Default for Scheduler<K> {
    fn default() -> Self {
        Self {
            due: HashMap::new(),
            order: BTreeSet::new(),
        }
    }
}

impl<K: Clone + Eq + Hash + Ord> Scheduler<K> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for `key` at `at`; a key already due earlier keeps its time.
    pub fn schedule(&mut self, key: K, at: Instant) {
        match self.due.get(&key) {
            Some(current) if *current <= at => {}
            Some(current) => {
                self.order.remove(&(*current, key.clone()));
                self.order.insert((at, key.clone()));
                self.due.insert(key, at);
            }
            None => {
                self.order.insert((at, key.clone()));
                self.due.insert(key, at);
            }
        }
    }

    /// When `key` is due, if it is scheduled.
    pub fn due(&self, key: &K) -> Option<Instant> {
        self.due.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }

    /// The earliest due time.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.order.first().map(|(at, _)| *at)
    }

    /// The earliest key due by `now`, taken out.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        let (at, _) = self.order.first()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.order.pop_first()?;
        self.due.remove(&key);
        Some(key)
    }

    /// Waits until the earliest key is due and takes it out; pending while empty. Safe to
    /// cancel: a key is taken out only when it is returned.
    pub async fn next(&mut self) -> K {
        loop {
            let Some(deadline) = self.next_deadline() else {
                return std::future::pending().await;
            };
            tokio::time::sleep_until(deadline).await;
            if let Some(key) = self.pop_due(Instant::now()) {
                return key;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn jitter_stays_within_a_tenth_either_way() {
        let wait = Duration::from_secs(300);
        assert_eq!(jittered(wait, 0.0), wait);
        assert_eq!(jittered(wait, -1.0), Duration::from_secs(270));
        assert_eq!(jittered(wait, 1.0), Duration::from_secs(330));
        assert_eq!(jittered(wait, 7.0), Duration::from_secs(330), "clamped");
        let (mut low, mut high) = (wait, wait);
        for _ in 0..2000 {
            let w = jitter(wait);
            assert!(
                w >= Duration::from_secs(270) && w <= Duration::from_secs(330),
                "{w:?}"
            );
            low = low.min(w);
            high = high.max(w);
        }
        // It does vary, both ways (2000 draws: missing a 5 % band each way is ~1e-45).
        assert!(low < Duration::from_secs(285), "{low:?}");
        assert!(high > Duration::from_secs(315), "{high:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn keys_come_due_in_time_order_and_not_before() {
        let start = Instant::now();
        let mut s = Scheduler::new();
        s.schedule("b", start + 20 * SECOND);
        s.schedule("a", start + 10 * SECOND);
        s.schedule("c", start + 30 * SECOND);
        assert_eq!(s.pop_due(start), None, "nothing is due yet");
        assert_eq!(s.next().await, "a");
        assert_eq!(Instant::now(), start + 10 * SECOND);
        assert_eq!(s.next().await, "b");
        assert_eq!(Instant::now(), start + 20 * SECOND);
        assert_eq!(s.next().await, "c");
        assert_eq!(Instant::now(), start + 30 * SECOND);
        assert!(s.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn duplicate_requests_collapse_and_the_earliest_wins() {
        let start = Instant::now();
        let mut s = Scheduler::new();
        s.schedule("shop", start + 300 * SECOND);
        s.schedule("shop", start + 5 * SECOND);
        s.schedule("shop", start + 60 * SECOND);
        assert_eq!(s.len(), 1);
        assert_eq!(s.due(&"shop"), Some(start + 5 * SECOND));
        assert_eq!(s.next().await, "shop");
        assert_eq!(Instant::now(), start + 5 * SECOND);
        // Once it ran, it is gone: the later duplicates do not run it again.
        assert!(s.is_empty());
        let next = tokio::time::timeout(Duration::from_secs(3600), s.next()).await;
        assert!(next.is_err(), "nothing left to come due");
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_request_while_waiting_is_honoured() {
        let start = Instant::now();
        let mut s = Scheduler::new();
        s.schedule("slow", start + 300 * SECOND);
        // Wait a while on the far deadline, then a request for now arrives.
        let waited = tokio::time::timeout(10 * SECOND, s.next()).await;
        assert!(waited.is_err());
        s.schedule("urgent", Instant::now());
        assert_eq!(s.next().await, "urgent");
        assert_eq!(Instant::now(), start + 10 * SECOND);
        assert_eq!(s.next().await, "slow");
        assert_eq!(Instant::now(), start + 300 * SECOND);
    }

    #[tokio::test(start_paused = true)]
    async fn a_past_due_time_runs_at_once() {
        let start = Instant::now();
        tokio::time::advance(60 * SECOND).await;
        let mut s = Scheduler::new();
        s.schedule(1, start);
        assert_eq!(s.next().await, 1);
        assert_eq!(Instant::now(), start + 60 * SECOND);
    }

    #[tokio::test(start_paused = true)]
    async fn jittered_resyncs_land_inside_their_window() {
        let start = Instant::now();
        let mut s = Scheduler::new();
        for key in 0..100 {
            s.schedule(key, start + jitter(Duration::from_secs(300)));
        }
        let mut seen = 0;
        while !s.is_empty() {
            s.next().await;
            seen += 1;
            let elapsed = Instant::now() - start;
            assert!(
                elapsed >= Duration::from_secs(270) && elapsed <= Duration::from_secs(330),
                "{elapsed:?}"
            );
        }
        assert_eq!(seen, 100);
    }
}
