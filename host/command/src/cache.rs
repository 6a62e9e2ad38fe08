//! Write models kept in memory between commands, so a hot aggregate is not replayed from its first event
//! every time.
//!
//! The cache is an optimisation, never the source of truth: a command decided on a cached state pushes with
//! the sequence it saw, so a change made meanwhile (by this node or another) turns into a conflict and the
//! command is decided again on fresh state. Models are kept per aggregate key in a bounded map of
//! shards; each shard keeps two generations (recently used and older) and drops the older one when the
//! recent one is full, which approximates least-recently-used eviction at constant cost.

use std::{
    any::Any,
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use warden_domain::Aggregate;
use warden_eventstore::AggregateKey;

/// An aggregate's state as of one sequence, with what the API reports about its latest change.
#[derive(Debug)]
pub struct Model<A> {
    /// The state, the fold of events `1..=sequence`.
    pub state: A,
    /// The sequence of the latest event applied (0: the aggregate has no events).
    pub sequence: i64,
    /// The global position of the latest event applied (0 without events).
    pub position: i64,
    /// When the latest event was stored, in microseconds since the Unix epoch (0 without events).
    pub change_date: i64,
    /// When the model was last known to match the store, in ms since the cache's epoch.
    checked_ms: AtomicU64,
}

impl<A: Aggregate> Model<A> {
    /// A model of an aggregate without events.
    pub(crate) fn empty() -> Self {
        Self::new(A::default(), 0, 0, 0, 0)
    }

    pub(crate) fn new(
        state: A,
        sequence: i64,
        position: i64,
        change_date: i64,
        checked_ms: u64,
    ) -> Self {
        Self {
            state,
            sequence,
            position,
            change_date,
            checked_ms: AtomicU64::new(checked_ms),
        }
    }

    pub(crate) fn checked_ms(&self) -> u64 {
        self.checked_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_checked(&self, now_ms: u64) {
        self.checked_ms.fetch_max(now_ms, Ordering::Relaxed);
    }
}

/// A cached model with its sequence, or only the sequence when the model was found stale: an event beyond it
/// was stored (by another node, say). A marker is a miss for readers and keeps a model read before that event
/// from being cached after it.
#[derive(Clone)]
struct Entry {
    sequence: i64,
    model: Option<Arc<dyn Any + Send + Sync>>,
}

#[derive(Default)]
struct Shard {
    recent: HashMap<AggregateKey, Entry>,
    older: HashMap<AggregateKey, Entry>,
}

/// The bounded cache of write models, shared by every clone of a [`Commands`](crate::Commands).
pub(crate) struct WriteModels {
    shards: Box<[Mutex<Shard>]>,
    /// Entries per generation and shard.
    generation_capacity: usize,
    hasher: RandomState,
    epoch: Instant,
}

impl std::fmt::Debug for WriteModels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteModels")
            .field("shards", &self.shards.len())
            .field("generation_capacity", &self.generation_capacity)
            .finish_non_exhaustive()
    }
}

const SHARDS: usize = 16;

impl WriteModels {
    /// A cache holding about `capacity` models (at least one per shard).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            generation_capacity: (capacity / SHARDS / 2).max(1),
            hasher: RandomState::new(),
            epoch: Instant::now(),
        }
    }

    /// Milliseconds since the cache was created: the clock of [`Model`] check times.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a model checked at `checked_ms` was checked within `max_age`.
    pub(crate) fn is_recent(&self, checked_ms: u64, max_age: Duration) -> bool {
        let max_age = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
        self.now_ms().saturating_sub(checked_ms) < max_age
    }

    fn shard(&self, key: &AggregateKey) -> &Mutex<Shard> {
        let index = usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0);
        &self.shards[index]
    }

    /// The cached model of `key`, if any.
    pub(crate) fn get<A: Aggregate>(&self, key: &AggregateKey) -> Option<Arc<Model<A>>> {
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = match shard.recent.get(key) {
            Some(entry) => entry.clone(),
            None => {
                let entry = shard.older.remove(key)?;
                self.insert_recent(&mut shard, key.clone(), entry.clone());
                entry
            }
        };
        entry.model?.downcast::<Model<A>>().ok()
    }

    /// Notes that `key` has an event at `sequence`: a cached model behind it is dropped (and no model behind
    /// it is cached later). Aggregates not in the cache are left alone.
    pub(crate) fn invalidate(&self, key: &AggregateKey, sequence: i64) {
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let shard = &mut *shard;
        for generation in [&mut shard.recent, &mut shard.older] {
            if let Some(entry) = generation.get_mut(key)
                && entry.sequence < sequence
            {
                *entry = Entry {
                    sequence,
                    model: None,
                };
            }
        }
    }

    /// Stores a model unless the cache already holds a newer one of the same aggregate. Models of aggregates
    /// without events are not kept: anyone can name an id that does not exist.
    pub(crate) fn put<A: Aggregate>(&self, key: &AggregateKey, model: Arc<Model<A>>) {
        if model.sequence == 0 {
            return;
        }
        let mut shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = shard.recent.get(key).or_else(|| shard.older.get(key));
        if current.is_some_and(|c| c.sequence > model.sequence) {
            return;
        }
        shard.older.remove(key);
        let entry = Entry {
            sequence: model.sequence,
            model: Some(model),
        };
        self.insert_recent(&mut shard, key.clone(), entry);
    }

    fn insert_recent(&self, shard: &mut Shard, key: AggregateKey, entry: Entry) {
        if shard.recent.len() >= self.generation_capacity && !shard.recent.contains_key(&key) {
            shard.older = std::mem::take(&mut shard.recent);
        }
        shard.recent.insert(key, entry);
    }

    /// Number of cached models.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(PoisonError::into_inner);
                s.recent.len() + s.older.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use warden_domain::org::Organization;

    use super::*;

    fn key(id: &str) -> AggregateKey {
        AggregateKey::new("i", "org", id)
    }

    fn model(sequence: i64) -> Arc<Model<Organization>> {
        Arc::new(Model::new(
            Organization::default(),
            sequence,
            sequence,
            0,
            0,
        ))
    }

    #[test]
    fn keeps_newest_model_and_skips_empty_ones() {
        let cache = WriteModels::new(1000);
        cache.put(&key("a"), model(3));
        cache.put(&key("a"), model(2));
        assert_eq!(
            cache.get::<Organization>(&key("a")).map(|m| m.sequence),
            Some(3)
        );
        cache.put(&key("b"), model(0));
        assert!(cache.get::<Organization>(&key("b")).is_none());
    }

    #[test]
    fn stays_bounded() {
        let cache = WriteModels::new(64);
        for i in 0..10_000 {
            cache.put(&key(&i.to_string()), model(1));
        }
        assert!(
            cache.len() <= 64 + SHARDS * 2,
            "{} models cached",
            cache.len()
        );
        assert!(
            cache.get::<Organization>(&key("9999")).is_some(),
            "the latest model is kept"
        );
    }

    #[test]
    fn invalidation_drops_models_behind_an_event_and_keeps_older_reads_out() {
        let cache = WriteModels::new(1000);
        cache.put(&key("a"), model(3));
        cache.invalidate(&key("a"), 3);
        assert!(cache.get::<Organization>(&key("a")).is_some(), "up to date");
        cache.invalidate(&key("a"), 4);
        assert!(cache.get::<Organization>(&key("a")).is_none(), "stale");
        cache.put(&key("a"), model(3));
        assert!(
            cache.get::<Organization>(&key("a")).is_none(),
            "a read from before the event is not cached"
        );
        cache.put(&key("a"), model(4));
        assert_eq!(
            cache.get::<Organization>(&key("a")).map(|m| m.sequence),
            Some(4)
        );
        cache.invalidate(&key("b"), 1);
        assert_eq!(cache.len(), 1, "unknown aggregates are not remembered");
    }

    #[test]
    fn wrong_type_is_a_miss() {
        let cache = WriteModels::new(100);
        cache.put(&key("a"), model(1));
        assert!(cache.get::<warden_domain::user::User>(&key("a")).is_none());
    }
}
