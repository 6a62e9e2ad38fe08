//! Knobs of the spoolers of one node.

use std::time::Duration;

use crate::Error;

/// How the spoolers of one node behave. [`SpoolerConfig::new`] gives defaults that run.
#[derive(Debug, Clone)]
pub struct SpoolerConfig {
    /// This node's id, unique among the nodes sharing a database; shown as the lease holder.
    pub node_id: String,
    /// Most events applied in one transaction. On SQLite a batch holds the single writer, so pushes wait for it.
    pub batch_size: u32,
    /// How long a lease lasts unless renewed; another node takes the projection over once it lapses.
    /// Leases are renewed after a third of this.
    pub lease_ttl: Duration,
    /// How often a node without the lease checks whether it lapsed.
    pub acquire_interval: Duration,
    /// The fallback timer: a spooler reads the stream at least this often even without a wake-up. Pushes
    /// through the node's store and, on PostgreSQL with [`listen_notify`](Self::listen_notify), pushes of other
    /// nodes wake the spoolers at once, so this only bounds how late a lost wake-up is noticed; idle spoolers
    /// read nothing in between. Keep it short on PostgreSQL with `listen_notify` off: it is then the only way
    /// other nodes' pushes are picked up.
    pub poll_interval: Duration,
    /// Attempts at a failing event before it is skipped (and left visible as failed).
    pub max_attempts: u32,
    /// Wait before the first retry of a failed event; doubles with each attempt.
    pub retry_backoff: Duration,
    /// The longest wait between retries.
    pub retry_backoff_max: Duration,
    /// How long [`ensure_caught_up`](crate::Spoolers::ensure_caught_up) waits for a projection at most.
    pub catch_up_timeout: Duration,
    /// Wake spoolers of other nodes through PostgreSQL `LISTEN/NOTIFY` (ignored on SQLite).
    pub listen_notify: bool,
}

impl SpoolerConfig {
    /// Defaults for a node called `node_id`.
    pub fn new(node_id: impl Into<String>) -> Self {
        Self {
            node_id: node_id.into(),
            batch_size: 256,
            lease_ttl: Duration::from_secs(4),
            acquire_interval: Duration::from_secs(1),
            poll_interval: Duration::from_secs(10),
            max_attempts: 5,
            retry_backoff: Duration::from_millis(200),
            retry_backoff_max: Duration::from_secs(30),
            catch_up_timeout: Duration::from_secs(2),
            listen_notify: true,
        }
    }

    /// Defaults with a generated node id (host name when known, plus a random suffix).
    pub fn generated() -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".to_owned());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        Self::new(format!("{host}-{}", &suffix[..8]))
    }

    /// Checks the values make sense together.
    pub fn validate(&self) -> Result<(), Error> {
        let fail = |m: &str| Err(Error::Config(m.to_owned()));
        if self.node_id.is_empty() || self.node_id.contains(':') {
            return fail("node_id must be non-empty and must not contain `:`");
        }
        if self.batch_size == 0 {
            return fail("batch_size must be at least 1");
        }
        if self.lease_ttl < Duration::from_millis(300) {
            return fail("lease_ttl must be at least 300 ms");
        }
        if self.acquire_interval.is_zero() || self.poll_interval.is_zero() {
            return fail("acquire_interval and poll_interval must be positive");
        }
        if self.max_attempts == 0 {
            return fail("max_attempts must be at least 1");
        }
        if self.retry_backoff > self.retry_backoff_max {
            return fail("retry_backoff must not exceed retry_backoff_max");
        }
        Ok(())
    }

    /// The wait before retrying an event that failed `attempts` times.
    pub(crate) fn backoff(&self, attempts: i64) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        self.retry_backoff
            .saturating_mul(2u32.saturating_pow(exp))
            .min(self.retry_backoff_max)
    }
}
