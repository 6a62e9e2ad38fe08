//! Concurrent reads of one aggregate share a statement.
//!
//! Under load many requests read the same aggregate from the store at once: every read over the API checks
//! the instance aggregate for changes, so that a revoked membership takes effect at once. Each such read
//! must see every event stored before its request arrived, so a caller may only share a read that starts
//! after it arrived. A caller that finds a read of the aggregate in progress therefore waits for it to end
//! and joins the next one, which starts then for everyone who gathered meanwhile: per aggregate at most one
//! read runs and one gathers, however many callers there are. A caller that joined gets the leader's
//! result; if the leader's read failed or its caller went away, the caller reads alone.

use std::{
    any::Any,
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::watch;
use warden_eventstore::AggregateKey;

/// The result a read hands to those who joined it: `None` when it failed (each then reads alone).
type Outcome = Option<Arc<dyn Any + Send + Sync>>;

/// A read, running or gathering callers: its result is published once.
struct Flight {
    id: u64,
    done: watch::Receiver<Option<Outcome>>,
}

/// The reads of one aggregate.
#[derive(Default)]
struct Slot {
    /// The read in progress: a caller arriving now cannot use it (it may have begun before the caller came).
    running: Option<Flight>,
    /// The read that starts when the running one ends: a caller arriving now joins it.
    gathering: Option<Flight>,
}

/// The shared reads of all aggregates.
#[derive(Default)]
pub(crate) struct SharedReads {
    slots: Mutex<HashMap<AggregateKey, Slot>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for SharedReads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedReads").finish_non_exhaustive()
    }
}

/// What a caller does.
enum Role<'a> {
    /// Joins a gathering read and waits for its result.
    Join(watch::Receiver<Option<Outcome>>),
    /// Leads a read: after the running one (if any) ends.
    Lead(Leader<'a>, Option<watch::Receiver<Option<Outcome>>>),
}

impl SharedReads {
    /// Reads `key` with `read`, or takes the result of a read of `key` that starts after this call began.
    pub(crate) async fn read<T, E, F, Fut>(&self, key: &AggregateKey, read: F) -> Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<T>, E>>,
    {
        match self.role(key) {
            Role::Join(done) => {
                if let Some(result) = wait(done).await
                    && let Ok(model) = result.downcast::<T>()
                {
                    return Ok(model);
                }
                read().await
            }
            Role::Lead(leader, running) => {
                if let Some(running) = running {
                    // Whatever its outcome: the running read may have begun before this caller came.
                    let _ = wait(running).await;
                    self.start(key, leader.id);
                }
                let result = read().await;
                leader.finish(
                    result
                        .as_ref()
                        .ok()
                        .map(|model| model.clone() as Arc<dyn Any + Send + Sync>),
                );
                result
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AggregateKey, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn role(&self, key: &AggregateKey) -> Role<'_> {
        let mut slots = self.lock();
        let slot = slots.entry(key.clone()).or_default();
        if let Some(gathering) = &slot.gathering {
            return Role::Join(gathering.done.clone());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (publish, done) = watch::channel(None);
        let flight = Flight { id, done };
        let running = match &slot.running {
            Some(running) => {
                let running = running.done.clone();
                slot.gathering = Some(flight);
                Some(running)
            }
            None => {
                slot.running = Some(flight);
                None
            }
        };
        let leader = Leader {
            reads: self,
            key: key.clone(),
            id,
            publish: Some(publish),
        };
        Role::Lead(leader, running)
    }

    /// Moves the gathering read `id` to running: no one joins it from now on.
    fn start(&self, key: &AggregateKey, id: u64) {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(key) else {
            return;
        };
        if slot.gathering.as_ref().is_some_and(|g| g.id == id) {
            // The running read cleared itself before publishing its result.
            slot.running = slot.gathering.take();
        }
    }

    /// Forgets the read `id`, running or gathering.
    fn forget(&self, key: &AggregateKey, id: u64) {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(key) else {
            return;
        };
        if slot.running.as_ref().is_some_and(|r| r.id == id) {
            slot.running = None;
        }
        if slot.gathering.as_ref().is_some_and(|g| g.id == id) {
            slot.gathering = None;
        }
        if slot.running.is_none() && slot.gathering.is_none() {
            slots.remove(key);
        }
    }
}

/// Waits for a read's result: `None` when it failed or its leader went away.
async fn wait(mut done: watch::Receiver<Option<Outcome>>) -> Outcome {
    match done.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone().flatten(),
        Err(_) => None,
    }
}

/// The caller leading a read. Dropped without [`finish`](Self::finish) (its caller went away), it forgets the
/// read, and those who joined it read alone.
struct Leader<'a> {
    reads: &'a SharedReads,
    key: AggregateKey,
    id: u64,
    publish: Option<watch::Sender<Option<Outcome>>>,
}

impl Leader<'_> {
    /// Forgets the read, then hands its result to those who joined it: a caller arriving from now on starts
    /// a read of its own, and the next gathering read may start.
    fn finish(mut self, outcome: Outcome) {
        self.reads.forget(&self.key, self.id);
        if let Some(publish) = self.publish.take() {
            publish.send_replace(Some(outcome));
        }
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if self.publish.is_some() {
            self.reads.forget(&self.key, self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::atomic::AtomicUsize, time::Duration};

    use tokio::sync::Notify;

    use super::*;

    fn key() -> AggregateKey {
        AggregateKey::new("instance", "instance", "instance")
    }

    /// Callers that arrive while a read runs all get the result of one read that starts after them.
    #[tokio::test]
    async fn callers_arriving_during_a_read_share_the_next_one() {
        let reads = Arc::new(SharedReads::default());
        let started = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let read = |reads: Arc<SharedReads>, started: Arc<AtomicUsize>, release: Arc<Notify>| async move {
            reads
                .read(&key(), || async {
                    // The number of reads begun before this one: the "version" it sees.
                    let seen = started.fetch_add(1, Ordering::SeqCst);
                    release.notified().await;
                    Ok::<_, ()>(Arc::new(seen))
                })
                .await
        };
        let first = tokio::spawn(read(reads.clone(), started.clone(), release.clone()));
        while started.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Ten callers arrive while the first read runs.
        let later: Vec<_> = (0..10)
            .map(|_| tokio::spawn(read(reads.clone(), started.clone(), release.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            started.load(Ordering::SeqCst),
            1,
            "no second read while one runs"
        );
        release.notify_one();
        assert_eq!(*first.await.unwrap().unwrap(), 0);
        let second = async {
            while started.load(Ordering::SeqCst) == 1 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the callers that came during the first read start a second one");
        release.notify_one();
        for caller in later {
            assert_eq!(
                *caller.await.unwrap().unwrap(),
                1,
                "the read begun after they came"
            );
        }
        assert_eq!(started.load(Ordering::SeqCst), 2, "one read for the ten");
        assert!(
            reads.lock().is_empty(),
            "nothing is kept once the reads ended"
        );
    }

    /// A caller reading `key()` whose own read gives `result` at once.
    fn spawn_read<T, E>(
        reads: &Arc<SharedReads>,
        result: Result<T, E>,
    ) -> tokio::task::JoinHandle<Result<Arc<T>, E>>
    where
        T: Send + Sync + 'static,
        E: Send + 'static,
    {
        let reads = reads.clone();
        tokio::spawn(async move {
            reads
                .read(&key(), || async move { result.map(Arc::new) })
                .await
        })
    }

    /// A caller reading `key()` whose own read gives `value` once `release` is notified.
    fn spawn_held<T, E>(
        reads: &Arc<SharedReads>,
        release: &Arc<Notify>,
        value: T,
    ) -> tokio::task::JoinHandle<Result<Arc<T>, E>>
    where
        T: Send + Sync + 'static,
        E: Send + 'static,
    {
        let (reads, release) = (reads.clone(), release.clone());
        tokio::spawn(async move {
            reads
                .read(&key(), || async move {
                    release.notified().await;
                    Ok(Arc::new(value))
                })
                .await
        })
    }

    /// When the leader of a gathering read goes away, those who joined it read alone.
    #[tokio::test]
    async fn a_leader_that_goes_away_leaves_its_joiners_to_read_alone() {
        let reads = Arc::new(SharedReads::default());
        let release = Arc::new(Notify::new());
        let running = spawn_held::<_, ()>(&reads, &release, "first");
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Leads the gathering read, then goes away while it waits for the running one.
        let leader = spawn_read::<_, ()>(&reads, Ok("leader"));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let joiner = spawn_read::<_, ()>(&reads, Ok("alone"));
        tokio::time::sleep(Duration::from_millis(10)).await;
        leader.abort();
        assert_eq!(*joiner.await.unwrap().unwrap(), "alone");
        release.notify_one();
        assert_eq!(*running.await.unwrap().unwrap(), "first");
        assert!(reads.lock().is_empty());
    }

    /// A failed read fails its own caller; those who joined it read again alone.
    #[tokio::test]
    async fn a_failed_read_is_read_again_by_its_joiners() {
        let reads = Arc::new(SharedReads::default());
        let release = Arc::new(Notify::new());
        let running = spawn_held::<_, &str>(&reads, &release, 0);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let failing = spawn_read::<i32, _>(&reads, Err("database down"));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let joiner = spawn_read::<_, &str>(&reads, Ok(2));
        tokio::time::sleep(Duration::from_millis(10)).await;
        release.notify_one();
        assert_eq!(*running.await.unwrap().unwrap(), 0);
        assert_eq!(failing.await.unwrap().unwrap_err(), "database down");
        assert_eq!(*joiner.await.unwrap().unwrap(), 2);
        assert!(reads.lock().is_empty());
    }
}
