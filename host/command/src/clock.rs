//! The wall clock the pipeline reads: the time of a command, and whether a token has expired.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// The wall clock of the pipeline: the system's, or a manual one that only moves when told to (for tests
/// of expiry that must not wait for real time to pass). Cheap to clone; clones of a manual clock share it.
#[derive(Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.manual {
            None => f.write_str("Clock::System"),
            Some(now) => write!(f, "Clock::Manual({})", now.load(Ordering::Relaxed)),
        }
    }
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock standing at `unix_ms` (milliseconds since the Unix epoch) until [`advance`](Self::advance)d.
    pub fn manual(unix_ms: i64) -> Self {
        Self {
            manual: Some(Arc::new(AtomicI64::new(unix_ms))),
        }
    }

    /// Moves a manual clock forward by `by`; the system's clock cannot be moved, and is left as it is.
    pub fn advance(&self, by: Duration) {
        if let Some(now) = &self.manual {
            let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            now.fetch_add(ms, Ordering::Relaxed);
        }
    }

    /// The current time in milliseconds since the Unix epoch.
    pub fn now_unix_ms(&self) -> i64 {
        match &self.manual {
            None => crate::pipeline::now_unix_ms(),
            Some(now) => now.load(Ordering::Relaxed),
        }
    }
}
